"""Nothing an owner controls can wedge a supervisor (issue 16).

An owner can mount a FUSE file system that never answers and name a path
on it as a job's program, as a rootfs, or as a rootfs to check.  Whoever
walks that path waits until the file system goes (once its server took
the request, not even SIGKILL ends the wait).  Those waits are the job's,
the init's or a helper child's; the supervisor hears of them through its
event loop and goes on answering: kill, stop, other jobs, rmdir.

tests/helpers/hangfs is that file system: it answers INIT and the root's
GETATTR, and nothing else.  nsfsd runs with a short --request-timeout, as
it still waits for the hung request's answer holding the sandbox's lock.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from nsfs_util import expect_errno, needs_root, pid_alive, settled_init, supervisor_pid, timed, wait_until
from users import as_user, errno_as, exec_job, read_file, read_once, spawn_as, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root

HANGFS = Path(__file__).resolve().parents[2] / "build" / "tests" / "hangfs"
# nsfsd's --request-timeout in these tests: how long the hung request holds
# the sandbox's lock in nsfsd.
REQUEST_TIMEOUT = 2
# What "at once" means here: a reply that does not wait for the hung path.
PROMPT = 5.0
# NSFS_STOP_GRACE_SECONDS
STOP_GRACE = 5


def hangfs_binary() -> Path:
    """hangfs built beside the nsfsd under test (NSFSD=.../nsfsd/nsfsd)."""
    nsfsd = os.environ.get("NSFSD")
    if nsfsd:
        candidate = Path(nsfsd).resolve().parent.parent / "tests" / "hangfs"
        if candidate.exists():
            return candidate
    return HANGFS


class HangFs:
    def __init__(self, path: Path, proc: subprocess.Popen):
        self.path = path
        self.proc = proc

    def stop(self) -> None:
        """Unmount (lazily: walks in it are stuck) and end the server, by
        pid; its held requests then fail, and their waiters go on."""
        if self.proc is None:
            return
        subprocess.run(["fusermount3", "-u", "-z", str(self.path)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None


def fuse_mounted_at(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


@pytest.fixture
def hangfs():
    """A hangfs mounted (as root, allow_other) on a fresh directory, in
    the foreground as a subprocess.  Request it after nsfs (and relaunch),
    so it is mounted before the sandbox's supervisor takes its copy of
    the host's mounts, and gone before nsfsd's teardown."""
    binary = hangfs_binary()
    if not binary.exists():
        pytest.skip(f"{binary} is not built")
    # Where every user can reach it (pytest's tmp_path is root's alone).
    top = Path(tempfile.mkdtemp(prefix="nsfs-hangfs-", dir="/tmp"))
    os.chmod(top, 0o755)
    mnt = top / "hang"
    mnt.mkdir()
    proc = subprocess.Popen([str(binary), "-f", "-o", "allow_other", str(mnt)], stdin=subprocess.DEVNULL)
    fs = HangFs(mnt, proc)
    try:
        wait_until(lambda: fuse_mounted_at(mnt) or proc.poll() is not None, what="hangfs to mount")
        assert proc.poll() is None, f"hangfs exited with {proc.returncode}"
        yield fs
    finally:
        fs.stop()
        mnt.rmdir()
        top.rmdir()


def prompt(fn, *args, what=None, **kwargs):
    """FN(*ARGS) must return (or raise) within PROMPT seconds."""
    t0 = time.monotonic()
    try:
        return timed(fn, *args, timeout=PROMPT + 10, what=what, **kwargs)
    finally:
        took = time.monotonic() - t0
        assert took < PROMPT, f"{what or fn.__name__} took {took:.1f}s"


def gone_after_rmdir(nsfs, sb: Path, sup: int) -> None:
    """rmdir ends the supervisor within PROMPT seconds, with processes in
    a hung FUSE request or not."""
    prompt(os.rmdir, sb, what="rmdir")
    assert not sb.exists()
    wait_until(lambda: not pid_alive(sup), timeout=PROMPT, what=f"supervisor {sup} to exit")


def test_a_job_whose_program_hangs_costs_only_itself(nsfs, relaunch, hangfs):
    relaunch("--request-timeout", str(REQUEST_TIMEOUT))
    web = nsfs.sandbox("web")
    init = nsfs.start(web)
    sup = supervisor_pid(nsfs, "web")
    hung = f"{hangfs.path}/x"

    # nsfsd gives up on it (the job's execve never ends)...
    expect_errno(errno.ETIMEDOUT, nsfs.exec, web, hung)
    # ...and the supervisor goes on: the next exec asks for the same id,
    # is refused for the hung job, which nsfsd takes in, and runs as 2.
    jid = prompt(nsfs.exec, web, "true", what="exec true")
    assert jid == 2
    assert nsfs.wait(web, jid) == "exited 0"
    job1 = nsfs.job(web, 1)
    assert nsfs.read(job1 / "cmd") == f"{hung}\n"
    hung_pid = int(nsfs.read(job1 / "pid"))
    assert pid_alive(hung_pid)
    assert nsfs.read(job1 / "status") == "running\n"

    prompt(nsfs.ctl, web, "kill", what="kill")
    assert prompt(nsfs.status, web, what="status")["state"] == "running"
    # A job after the kill still runs as usual.
    assert nsfs.wait(web, prompt(nsfs.exec, web, "echo still", what="exec echo")) == "exited 0"

    gone_after_rmdir(nsfs, web, sup)
    # The hung job holds its SIGKILL until its request ends: with the file
    # system gone, nothing of the sandbox is left.
    hangfs.stop()
    for pid in (hung_pid, init):
        wait_until(lambda: not pid_alive(pid), timeout=PROMPT, what=f"process {pid} to end")


def test_stop_with_a_hung_job_does_not_wedge_the_supervisor(nsfs, relaunch, hangfs):
    relaunch("--request-timeout", str(REQUEST_TIMEOUT))
    web = nsfs.sandbox("web")
    nsfs.start(web)
    sup = supervisor_pid(nsfs, "web")
    expect_errno(errno.ETIMEDOUT, nsfs.exec, web, f"{hangfs.path}/x")
    # The stop cannot end a process that SIGKILL cannot end: once the
    # grace period and its SIGKILL are past, it says so (EBUSY) instead
    # of leaving nsfsd to give up on it, and the supervisor goes on.
    t0 = time.monotonic()
    expect_errno(errno.EBUSY, nsfs.ctl, web, "stop")
    assert time.monotonic() - t0 < STOP_GRACE + 2
    assert "did not end of SIGKILL" in nsfs.error(web)
    prompt(nsfs.status, web, what="status")
    gone_after_rmdir(nsfs, web, sup)


def test_a_start_whose_rootfs_hangs_can_be_removed(nsfs, relaunch, hangfs):
    relaunch("--request-timeout", str(REQUEST_TIMEOUT))
    web = nsfs.sandbox("web")
    # hangfs's root opens (the check passes): the init's mounts, which
    # look inside it, are where it hangs.
    nsfs.write(web / "rootfs", str(hangfs.path))
    sup = supervisor_pid(nsfs, "web")
    expect_errno(errno.ETIMEDOUT, nsfs.ctl, web, "start")
    assert prompt(nsfs.status, web, what="status")["state"] in ("created", "stopped")
    # A second start waits in the supervisor behind the first.
    expect_errno(errno.ETIMEDOUT, nsfs.ctl, web, "start")
    gone_after_rmdir(nsfs, web, sup)


def test_a_rootfs_check_that_hangs_leaves_the_supervisor_free(nsfs, relaunch, hangfs, test_users):
    relaunch("--request-timeout", str(REQUEST_TIMEOUT))
    a = test_users.a
    web = nsfs.mnt / "web"
    as_user(a, user_mkdir, web)
    # The owner's check of its rootfs opens the path as the owner, in a
    # helper child of the supervisor.
    assert errno_as(a, write_file, web / "rootfs", f"{hangfs.path}/dir\n") == errno.ETIMEDOUT
    sup = supervisor_pid(nsfs, "web")
    jid = prompt(as_user, a, exec_job, web, "true", what="exec true as the owner")
    assert jid == 1
    gone_after_rmdir(nsfs, web, sup)


def test_a_client_that_does_not_read_is_cut_off(nsfs, relaunch):
    """Events go to every client that said hello; one that never reads
    fills its socket's buffer, and a supervisor that waited for room
    stood still for good (sup_broadcast)."""
    relaunch("--request-timeout", str(REQUEST_TIMEOUT))
    web = nsfs.sandbox("web")
    nsfs.start(web)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(str(nsfs.state / "sandboxes" / "web" / "supervisor.sock"))
    try:
        sock.send(b"hello\0" + b"2\0")
        # Each job's end is an event; a few hundred fill any buffer.
        for i in range(600):
            jid = prompt(nsfs.exec, web, "true", what=f"exec {i}")
        assert nsfs.wait(web, jid) == "exited 0"
        # The silent client was cut off: its socket reads the end of the
        # stream after what was sent to it.
        sock.settimeout(5)
        got_eof = False
        for _ in range(2000):
            if not sock.recv(65536):
                got_eof = True
                break
        assert got_eof
    finally:
        sock.close()


def test_the_init_does_not_hold_the_supervisor_log(nsfs, web):
    """The owner may ptrace its init; the init holds nothing of the
    supervisor's, its log (a root file) least of all."""
    nsfs.start(web)
    init = settled_init(nsfs, web)
    log = nsfs.state / "sandboxes" / "web" / "supervisor.log"
    for fd in os.listdir(f"/proc/{init}/fd"):
        target = os.readlink(f"/proc/{init}/fd/{fd}")
        assert "supervisor.log" not in target, f"the init's fd {fd} is {target}"
    assert os.readlink(f"/proc/{init}/fd/2") == "/dev/null"
    assert log.exists()


def descendants(pid: int) -> list:
    """PID's children, their children, and so on (by /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            pass
    return out


def test_a_hostile_owner_stalls_nobody_else(nsfs, hangfs, test_users):
    """The issue's scenario, as a hostile owner plays it: 20 sandboxes, a
    rootfs on a file system that never answers, and 80 writes in flight
    (each sandbox's rootfs check hangs, three more writes wait behind it)
    with the default --request-timeout of 30 s.  Throughout, another
    user's status, mkdir, exec and rmdir each answer within 2 s; then the
    owner's rmdirs end everything (what hangs in the file system dies the
    moment it goes)."""
    a, b = test_users.a, test_users.b
    boxes = [nsfs.mnt / f"hostile{i}" for i in range(20)]
    for box in boxes:
        as_user(a, user_mkdir, box)
    first = [spawn_as(a, write_file, box / "rootfs", str(hangfs.path / "root")) for box in boxes]
    time.sleep(0.5)
    rest = [spawn_as(a, write_file, box / f, v) for box in boxes
            for f, v in (("exec", "true"), ("hostname", "h"), ("caps", "none"))]
    time.sleep(1.0)
    pending = first + rest
    assert sum(not p.done() for p in pending) >= 75, "the owner's writes should be in flight"

    def quick(fn, *args):
        t0 = time.monotonic()
        result = as_user(b, fn, *args, timeout=PROMPT + 10)
        took = time.monotonic() - t0
        assert took < 2.0, f"{fn.__name__}{args!r} as {b} took {took:.2f}s"
        return result

    theirs = nsfs.mnt / "bystander"
    for round_ in range(3):
        quick(user_mkdir, theirs)
        assert quick(exec_job, theirs, "true") == 1
        assert quick(read_once, str(theirs / "status")).startswith("state ")
        quick(os.rmdir, theirs)
    assert sum(not p.done() for p in pending) >= 75, "the owner's writes should still be in flight"

    sups = [supervisor_pid(nsfs, box.name) for box in boxes]
    procs = sups + [k for s in sups for k in descendants(s)]
    for box in boxes:
        t0 = time.monotonic()
        as_user(a, os.rmdir, box, timeout=PROMPT + 10)
        assert time.monotonic() - t0 < 2.0, f"rmdir {box.name} took {time.monotonic() - t0:.2f}s"
    for p in pending:
        with pytest.raises(OSError):
            p.result(PROMPT + 10)
    assert os.listdir(nsfs.mnt) == []
    hangfs.stop()
    wait_until(lambda: not any(pid_alive(p) for p in procs), timeout=PROMPT,
               what="every process of the hostile sandboxes to be gone")


def test_a_bind_source_that_hangs_stalls_nobody_else(nsfs, relaunch, hangfs, test_users):
    """mounts (issue 17): a bind's source is checked as its owner, in a
    helper of the owner's supervisor; on a file system that never answers
    the write times out, and another user notices nothing."""
    relaunch("--request-timeout", str(REQUEST_TIMEOUT))
    a, b = test_users.a, test_users.b
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    pending = spawn_as(a, write_file, box / "mounts", f"bind {hangfs.path}/src /mnt\n")
    time.sleep(0.5)
    theirs = nsfs.mnt / "bystander"
    t0 = time.monotonic()
    as_user(b, user_mkdir, theirs)
    assert as_user(b, exec_job, theirs, "true") == 1
    assert as_user(b, read_once, str(theirs / "status")).startswith("state ")
    as_user(b, os.rmdir, theirs)
    assert time.monotonic() - t0 < 2.0
    with pytest.raises(OSError) as e:
        pending.result(PROMPT + 10)
    assert e.value.errno == errno.ETIMEDOUT
    assert as_user(a, read_file, box / "mounts") == b""
    # The owner's own sandbox goes on too.
    assert prompt(as_user, a, exec_job, box, "true", what="exec as the owner") == 1
    sup = supervisor_pid(nsfs, "box")
    gone_after_rmdir(nsfs, box, sup)


def test_rmdir_does_not_wait_for_the_deletion_of_its_state(nsfs, hangfs):
    """An overlay's upper layer may be large: rmdir takes the sandbox's
    state directory out of the tree and a thread of nsfsd's deletes it.
    Here the deletion cannot end (a file system that never answers is
    mounted in the state directory), and rmdir still returns at once."""
    web = nsfs.sandbox("web")
    nsfs.start(web)
    sup = supervisor_pid(nsfs, "web")
    stuck = nsfs.state / "sandboxes" / "web" / "stuck"
    stuck.mkdir()
    subprocess.run(["mount", "--bind", str(hangfs.path), str(stuck)], check=True, timeout=10)
    try:
        gone_after_rmdir(nsfs, web, sup)
        # The name is free again at once, and the tree answers.
        again = nsfs.sandbox("web")
        assert prompt(nsfs.status, again, what="status")["state"] == "created"
        trash = nsfs.state / "trash"
        assert len(os.listdir(trash)) == 1
    finally:
        subprocess.run(["umount", "-l", str(stuck)] if stuck.exists() else ["true"], timeout=10)
        for leftover in (nsfs.state / "trash").glob("web.*"):
            subprocess.run(["umount", "-l", str(leftover / "stuck")], stderr=subprocess.DEVNULL, timeout=10)
    hangfs.stop()
    wait_until(lambda: os.listdir(nsfs.state / "trash") == [], timeout=PROMPT, what="the trash to be emptied")
