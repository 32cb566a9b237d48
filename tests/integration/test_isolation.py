"""One user cannot stall nsfs for everyone (issue 16; INTERFACE §5).

A supervisor that does not answer (stopped with SIGSTOP here, as one stuck
in a hung file system would be) costs nsfsd no thread: writes to its
sandbox wait without holding one, and everybody else's requests go on.
rmdir ends such a sandbox without the supervisor's help.  Each user's
holdings are bounded, nsfsd's own descriptor limit is raised, and the
small leaks of part one (an existence oracle in rootfs, O_NONBLOCK set
after the open, caps kept after a refusal, a second supervisor beside an
adopted one that did not answer) stay closed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from nsfs_util import expect_errno, needs_root, pid_alive, supervisor_pid, wait_until
from users import as_user, exec_job, expect_errno_as, read_once, spawn_as, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root

# The liveness bound for a bystander's request while others are wedged.
BYSTANDER_BOUND = 2.0


def within(bound, fn, *args):
    """FN(*ARGS), which must return within BOUND seconds; its result."""
    t = time.monotonic()
    result = fn(*args)
    took = time.monotonic() - t
    assert took < bound, f"{getattr(fn, '__name__', fn)}{args!r} took {took:.2f}s (bound {bound}s)"
    return result


def stop_supervisor(nsfs, name):
    pid = supervisor_pid(nsfs, name)
    os.kill(pid, signal.SIGSTOP)
    return pid


def gone(pid):
    return not pid_alive(pid)


def write_in_background(path, data):
    """Write DATA to PATH in a thread; the thread's result is an errno or 0."""
    result = {}

    def run():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, data.encode())
                result["errno"] = 0
            finally:
                os.close(fd)
        except OSError as e:
            result["errno"] = e.errno

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def sandbox_pids(nsfs, sb):
    st = nsfs.status(sb)
    return int(st["pid"]) if "pid" in st else None


# -------------------------------------------------------------- no stall


def test_wedged_supervisors_stall_nobody_else(nsfs, relaunch, test_users):
    """80 writes in flight across 20 sandboxes whose supervisors stand
    still: another user's status, mkdir, exec and rmdir each answer within
    2 s throughout (before: every write held one of nsfsd's 64 threads,
    and a bystander waited for --request-timeout); then rmdir of the
    wedged sandboxes leaves no process of theirs."""
    relaunch("--request-timeout", "4")
    b = test_users.b
    wedged, pids = [], []
    for i in range(20):
        sb = nsfs.sandbox(f"w{i}")
        init = nsfs.start(sb)
        pids += [stop_supervisor(nsfs, sb.name), init]
        wedged.append(sb)
    writers = [write_in_background(sb / "exec", "true") for sb in wedged for _ in range(4)]
    time.sleep(0.5)
    assert sum(1 for t, _ in writers if t.is_alive()) >= 60, "the writes should be waiting"

    theirs = nsfs.mnt / "bystander"
    within(BYSTANDER_BOUND, as_user, b, user_mkdir, theirs)
    within(BYSTANDER_BOUND, as_user, b, write_file, theirs / "hostname", "by")
    jid = within(BYSTANDER_BOUND * 2, as_user, b, exec_job, theirs, "true")
    assert jid == 1
    for _ in range(5):
        text = within(BYSTANDER_BOUND, as_user, b, lambda p: open(p).read(), str(theirs / "status"))
        assert text.startswith("state ")
    within(BYSTANDER_BOUND, as_user, b, os.rmdir, theirs)

    removers = []
    for sb in wedged:
        t = threading.Thread(target=os.rmdir, args=(sb,), daemon=True)
        t.start()
        removers.append(t)
    # The kernel lets one rmdir at a time into the mount's top directory,
    # and each waits 2 s for a supervisor that does not answer: 40 s in
    # all, more under valgrind.
    deadline = time.monotonic() + 120
    for t in removers:
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "rmdir of a wedged sandbox hung"
    for t, result in writers:
        t.join(30)
        assert not t.is_alive(), "a write to a removed sandbox still waits"
        assert result["errno"] in (0, errno.ETIMEDOUT, errno.ENOENT, errno.EIO), result
    assert os.listdir(nsfs.mnt) == []
    wait_until(lambda: all(gone(p) for p in pids), what="the wedged sandboxes' processes to be gone")
    assert not any((nsfs.state / "sandboxes" / sb.name).exists() for sb in wedged)


def test_rmdir_ends_a_sandbox_whose_supervisor_stands_still(nsfs, web):
    """With the default 30 s --request-timeout, rmdir does not wait for a
    supervisor that cannot answer: it kills it, and its init and jobs die
    with it."""
    jid = nsfs.exec(web, "sleep 1000")
    job = int(nsfs.read(nsfs.job(web, jid) / "pid"))
    init = int(nsfs.status(web)["pid"])
    sup = stop_supervisor(nsfs, "web")
    within(15, os.rmdir, web)
    wait_until(lambda: gone(sup) and gone(init) and gone(job), what="supervisor, init and job to be gone")
    assert not (nsfs.state / "sandboxes" / "web").exists()


def test_an_interrupted_write_answers_at_once(nsfs, web):
    """A write queued behind one its supervisor does not answer ends as
    soon as its writer is interrupted (FUSE_INTERRUPT answers EINTR),
    not after --request-timeout.  (The kernel itself lets one write at a
    time into a file: the two go to two files.)"""
    nsfs.start(web)
    stop_supervisor(nsfs, "web")
    first, _ = write_in_background(web / "exec", "true")
    time.sleep(0.3)
    writer = subprocess.Popen(["sh", "-c", f"echo other > {web}/hostname"])
    try:
        time.sleep(0.5)
        assert writer.poll() is None, "the second write should be waiting"
        writer.send_signal(signal.SIGINT)
        within(3, writer.wait, 10)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    within(15, os.rmdir, web)
    first.join(10)


# -------------------------------------------------------------- per-user bounds


def test_requests_per_user_are_bounded(nsfs, relaunch, test_users):
    relaunch("--max-requests-per-user", "3", "--request-timeout", "10")
    a, b = test_users.a, test_users.b
    box = nsfs.mnt / "abox"
    as_user(a, user_mkdir, box)
    as_user(a, write_file, box / "ctl", "start")
    stop_supervisor(nsfs, "abox")
    # Three files: the kernel lets one write at a time into each.
    waiting = [spawn_as(a, write_file, box / f, v) for f, v in
               (("hostname", "h1"), ("caps", "none"), ("exec", "true"))]
    time.sleep(0.5)
    assert not any(p.done() for p in waiting), "three writes should be waiting"
    expect_errno_as(a, errno.EAGAIN, write_file, box / "ctl", "kill")
    assert "--max-requests-per-user" in nsfs.error(box)
    # Another user is not counted against a's bound.
    theirs = nsfs.mnt / "bbox"
    as_user(b, user_mkdir, theirs)
    assert as_user(b, exec_job, theirs, "true") == 1
    within(15, os.rmdir, box)
    for p in waiting:
        with pytest.raises(OSError):
            p.result(15)
    os.rmdir(theirs)


def hold_open(paths, extra):
    """Open every path of PATHS, then EXTRA: EXTRA's errno, or 0."""
    fds = [os.open(p, os.O_RDONLY) for p in paths]
    try:
        fd = os.open(extra, os.O_RDONLY)
        os.close(fd)
        return 0
    except OSError as e:
        return e.errno
    finally:
        for fd in fds:
            os.close(fd)


def test_open_files_per_user_are_bounded(nsfs, relaunch, test_users):
    relaunch("--max-open-files-per-user", "5")
    a = test_users.a
    box = nsfs.mnt / "abox"
    as_user(a, user_mkdir, box)
    files = [str(box / f) for f in ("status", "ctl", "hostname", "uid_map", "gid_map")]
    assert as_user(a, hold_open, files, str(box / "caps")) == errno.EMFILE
    assert "--max-open-files-per-user" in nsfs.error(box)
    # Closed again, they count no more.
    assert as_user(a, hold_open, files[:4], str(box / "caps")) == 0
    # Root is not bounded.
    assert hold_open(files * 2, str(box / "caps")) == 0


def test_blocked_reads_per_user_are_bounded(nsfs, relaunch, test_users):
    relaunch("--max-blocked-reads-per-user", "2")
    a = test_users.a
    box = nsfs.mnt / "abox"
    as_user(a, user_mkdir, box)
    jid = as_user(a, exec_job, box, "sleep 1000")
    wait_path = box / "jobs" / str(jid) / "wait"
    readers = [spawn_as(a, read_once, str(wait_path)) for _ in range(2)]
    time.sleep(0.5)
    assert not any(r.done() for r in readers)
    expect_errno_as(a, errno.EAGAIN, read_once, str(wait_path))
    assert "--max-blocked-reads-per-user" in nsfs.error(box)
    as_user(a, write_file, box / "ctl", "kill")
    for r in readers:
        assert r.result(10) == "signaled 9\n"


def limits_of(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open file limit")


def test_nsfsd_raises_its_open_file_limit_and_sandboxes_keep_theirs(nsfs):
    """Started with the usual soft limit of 1024 open files, nsfsd raises
    its own to the hard limit (every open of job output holds one), and
    hands sandboxes the 1024 it was given."""
    if nsfs.wrapped:
        pytest.skip("valgrind keeps descriptors of its own and shows its limits, not nsfsd's "
                    "(the plain and sanitizer runs check this)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nsfs.stop_daemon("term")
    nsfs.launch(preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
    soft, raised = limits_of(nsfs.pid)
    assert soft == raised >= hard > 1024
    web = nsfs.sandbox("web")
    status, out, _ = nsfs.run(web, "sh -c 'ulimit -n'")
    assert status == "exited 0"
    assert int(out) == 1024


# -------------------------------------------------------------- leaks closed


def test_rootfs_tells_nothing_of_paths_the_owner_cannot_see(nsfs, test_users, tmp_path):
    """Checked as root first, `rootfs` told an unprivileged owner EACCES
    for an existing path and ENOENT for a missing one inside a directory
    it cannot search: an existence oracle (CVE-2022-47952's class)."""
    a = test_users.a
    secret = tmp_path / "secret"
    (secret / "inner").mkdir(parents=True)
    os.chmod(secret, 0o700)
    os.chmod(tmp_path, 0o755)
    box = nsfs.mnt / "abox"
    as_user(a, user_mkdir, box)
    expect_errno_as(a, errno.EACCES, write_file, box / "rootfs", str(secret / "inner"))
    expect_errno_as(a, errno.EACCES, write_file, box / "rootfs", str(secret / "nothere"))


def test_o_nonblock_set_after_the_open_is_honoured(nsfs, web):
    jid = nsfs.exec(web, "sleep 1000")
    fd = os.open(nsfs.job(web, jid) / "wait", os.O_RDONLY)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        expect_errno(errno.EAGAIN, os.read, fd, 64)
    finally:
        os.close(fd)
    nsfs.ctl(web, "kill")


def test_caps_stay_as_they_were_when_the_supervisor_fails_them(nsfs, relaunch):
    """`caps` was saved before the supervisor was told: a write that then
    failed left the new value in place (§5: a bad write keeps the old)."""
    relaunch("--request-timeout", "1")
    web = nsfs.sandbox("web")
    nsfs.start(web)
    before = nsfs.read(web / "caps")
    sup = stop_supervisor(nsfs, "web")
    try:
        expect_errno(errno.ETIMEDOUT, nsfs.write, web / "caps", "none")
    finally:
        os.kill(sup, signal.SIGCONT)
    assert nsfs.read(web / "caps") == before
    nsfs.restart()
    assert nsfs.read(web / "caps") == before


def test_an_adopted_supervisor_that_does_not_answer_is_not_replaced(nsfs, relaunch):
    """A supervisor that did not answer a restarted nsfsd's hello was
    taken for none: the next request started a second one beside it,
    which took its socket and recorded its running job as killed while it
    ran on, and rmdir then left the first one's processes behind."""
    relaunch("--request-timeout", "2")
    web = nsfs.sandbox("web")
    jid = nsfs.exec(web, "sleep 1000")
    job = int(nsfs.read(nsfs.job(web, jid) / "pid"))
    init = int(nsfs.status(web)["pid"])
    sup = stop_supervisor(nsfs, "web")
    nsfs.restart()
    # Its hello goes unanswered for 5 s (the least nsfsd gives it).
    wait_until(lambda: "does not speak" in nsfs.error(web) or "cannot be driven" in nsfs.error(web),
               timeout=15, what="nsfsd to give up on the supervisor's hello")
    # Nothing is asked of it, and nobody replaces it.
    expect_errno(errno.EIO, nsfs.exec, web, "true")
    assert "stop" in nsfs.error(web)
    assert supervisor_pid(nsfs, "web") == sup
    assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"
    assert nsfs.status(web)["state"] == "running"
    # `stop` ends it, and with it its init and job.
    nsfs.ctl(web, "stop")
    wait_until(lambda: gone(sup) and gone(init) and gone(job), what="the old supervisor's processes to end")
    assert nsfs.status(web)["state"] == "stopped"
    assert nsfs.wait(web, jid) == "signaled 9"
    # A fresh supervisor serves the sandbox from then on.
    assert nsfs.run(web, "true")[0] == "exited 0"
    os.rmdir(web)
    assert not (nsfs.state / "sandboxes" / "web").exists()


def test_a_hostname_that_timed_out_leaves_the_old_one_everywhere(nsfs, relaunch):
    """A hostname the supervisor did not answer in time was not saved, but
    the supervisor applied it when it got to it: the sandbox ran with a
    hostname its `hostname` file did not show.  Now the old value is
    saved and told again after it."""
    relaunch("--request-timeout", "1")
    web = nsfs.sandbox("web")
    nsfs.write(web / "hostname", "before")
    nsfs.start(web)
    sup = stop_supervisor(nsfs, "web")
    try:
        expect_errno(errno.ETIMEDOUT, nsfs.write, web / "hostname", "after")
    finally:
        os.kill(sup, signal.SIGCONT)
    assert nsfs.read(web / "hostname") == "before\n"
    # The late one and the old one told after it are applied in turn.
    wait_until(lambda: nsfs.run(web, "hostname")[:2] == ("exited 0", "before\n"), timeout=10,
               interval=0.2, what="the sandbox's hostname to be the old one")

