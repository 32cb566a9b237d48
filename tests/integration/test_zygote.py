"""How supervisors come to exist (design.md "The zygote"): nsfsd executes
one supervisor, the zygote, when it starts, and every sandbox's supervisor
is a copy of it made with CLONE_PARENT, so it is nsfsd's child named by its
sandbox's directory.  The copies share the zygote's mount namespace, from
which nsfs mounts are detached.  Without a zygote (NSFS_ZYGOTE=0, or one
that cannot start) supervisors are executed one by one, and nothing else
changes.
"""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from nsfs_util import needs_root, pid_alive, supervisor_pid, wait_until

pytestmark = needs_root


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def parent_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def process_state(pid):
    """The state letter of PID (Z for a zombie), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def zygotes(nsfsd_pid):
    """nsfsd's live children that are zygotes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if parent_of(pid) == nsfsd_pid and cmdline(pid) == ["nsfs-zygote"] and process_state(pid) != "Z":
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError, AssertionError):
            continue
    return found


@pytest.fixture
def zygote_on(nsfs, monkeypatch):
    """nsfsd restarted with its zygote, whatever the environment says."""
    monkeypatch.setenv("NSFS_ZYGOTE", "1")
    nsfs.restart("term")
    return nsfs


@pytest.fixture
def zygote_off(nsfs, monkeypatch):
    """nsfsd restarted with NSFS_ZYGOTE=0."""
    monkeypatch.setenv("NSFS_ZYGOTE", "0")
    nsfs.restart("term")
    return nsfs


def run_one(nsfs, name):
    sb = nsfs.sandbox(name)
    assert nsfs.exec(sb, "true") == 1
    assert nsfs.wait(sb, 1) == "exited 0"
    return sb


def test_supervisor_is_a_copy_of_the_zygote_and_nsfsds_child(nsfs, zygote_on):
    [zygote] = wait_until(lambda: zygotes(nsfs.pid) or None, what="nsfsd's zygote")
    run_one(nsfs, "a")
    sup = supervisor_pid(nsfs, "a")
    assert parent_of(sup) == nsfs.pid, "the supervisor is not nsfsd's child (CLONE_PARENT)"
    assert os.path.realpath(f"/proc/{sup}/exe") == os.path.realpath(f"/proc/{zygote}/exe")
    # Named by its sandbox, where ps(1) looks.
    assert cmdline(sup) == ["nsfs-supervisor a"]
    assert zygotes(nsfs.pid) == [zygote], "a copy of the zygote took its place"


def test_supervisors_share_the_zygotes_mount_namespace_without_nsfs(nsfs, zygote_on):
    [zygote] = wait_until(lambda: zygotes(nsfs.pid) or None, what="nsfsd's zygote")
    # A change to the host's mount table between two sandboxes (anything
    # else running on the machine) rightly gives the second a new
    # namespace: up to ten pairs, one of which must share (another test
    # suite running beside this one changed it between three pairs).
    seen = []
    for pair in range(10):
        run_one(nsfs, f"a{pair}")
        run_one(nsfs, f"b{pair}")
        a, b = supervisor_pid(nsfs, f"a{pair}"), supervisor_pid(nsfs, f"b{pair}")
        mntns = {os.readlink(f"/proc/{p}/ns/mnt") for p in (zygote, a, b)}
        seen.append(mntns)
        if len(mntns) == 1:
            break
    assert len(mntns) == 1, f"supervisors and zygote in different mount namespaces: {seen}"
    assert mntns != {os.readlink("/proc/self/ns/mnt")}, "the zygote has no mount namespace of its own"
    with open(f"/proc/{a}/mountinfo") as f:
        assert " fuse.nsfsd " not in f.read(), "nsfs is still mounted where sandboxes are copied from"


def test_a_killed_zygote_is_replaced(nsfs, zygote_on):
    [zygote] = wait_until(lambda: zygotes(nsfs.pid) or None, what="nsfsd's zygote")
    os.kill(zygote, signal.SIGKILL)
    wait_until(lambda: process_state(zygote) in (None, "Z"), what="the zygote's end")
    # The first sandbox after the loss still gets a supervisor.
    sb = run_one(nsfs, "after")
    assert parent_of(supervisor_pid(nsfs, "after")) == nsfs.pid
    [second] = wait_until(lambda: zygotes(nsfs.pid) or None, what="a new zygote")
    assert second != zygote
    assert process_state(zygote) is None, "nsfsd did not reap the dead zygote"
    run_one(nsfs, "later")
    sup = supervisor_pid(nsfs, "later")
    assert cmdline(sup) == ["nsfs-supervisor later"]
    os.rmdir(sb)


def test_without_a_zygote_supervisors_are_executed(nsfs, zygote_off):
    assert zygotes(nsfs.pid) == []
    sb = run_one(nsfs, "plain")
    sup = supervisor_pid(nsfs, "plain")
    assert parent_of(sup) == nsfs.pid
    assert cmdline(sup) == ["nsfs-supervisor plain"]
    os.rmdir(sb)
    wait_until(lambda: not pid_alive(sup), what="the supervisor's end")


@pytest.mark.parametrize("how", ["term", "kill"])
def test_the_zygote_ends_with_nsfsd(nsfs, zygote_on, how):
    [zygote] = wait_until(lambda: zygotes(nsfs.pid) or None, what="nsfsd's zygote")
    sb = run_one(nsfs, "kept")
    sup = supervisor_pid(nsfs, "kept")
    nsfs.restart(how)
    # End of its socket ends the zygote; the sandbox's supervisor stays.
    wait_until(lambda: process_state(zygote) in (None, "Z"), what="the zygote's end")
    assert pid_alive(sup)
    assert nsfs.exec(sb, "true") == 2
    assert nsfs.wait(sb, 2) == "exited 0"


def test_a_zygote_that_cannot_start_is_not_used(nsfs, monkeypatch):
    """A supervisor binary that fails as a zygote (here: refuses the
    option) must leave nsfsd executing supervisors, not failing mkdir."""
    real = os.path.realpath(nsfs.env()["NSFS_SUPERVISOR"])
    wrapper = nsfs.base / "no-zygote-supervisor"
    wrapper.write_text("#!/bin/sh\n"
                       "case \" $* \" in *\" --zygote \"*) exit 3;; esac\n"
                       f"exec '{real}' \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("NSFS_SUPERVISOR", str(wrapper))
    monkeypatch.setenv("NSFS_ZYGOTE", "1")
    nsfs.restart("term")
    sb = run_one(nsfs, "plain")
    assert zygotes(nsfs.pid) == []
    sup = supervisor_pid(nsfs, "plain")
    assert parent_of(sup) == nsfs.pid
    assert cmdline(sup) == ["nsfs-supervisor plain"]
    os.rmdir(sb)


def test_host_mounts_made_after_nsfsd_started_reach_new_sandboxes(nsfs, zygote_on, busybox_rootfs):
    """Supervisors share the zygote's mount namespace; one made when nsfsd
    started would not have mounts made since under a private host mount
    (they do not propagate), so the zygote makes it again when the host's
    mount table changed."""
    priv = nsfs.base / "priv"
    root = priv / "root"
    priv.mkdir()
    mounted = []
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "nsfs-priv", str(priv)], check=True)
        mounted.insert(0, priv)
        subprocess.run(["mount", "--make-private", str(priv)], check=True)
        root.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "nsfs-root", str(root)], check=True)
        mounted.insert(0, root)
        subprocess.run(["cp", "-a", f"{busybox_rootfs}/.", str(root)], check=True)
        sb = nsfs.sandbox("late")
        nsfs.write(sb / "rootfs", str(root))
        assert nsfs.exec(sb, "cat /etc/nsfs-rootfs-marker") == 1
        assert nsfs.wait(sb, 1) == "exited 0"
        marker = (busybox_rootfs / "etc" / "nsfs-rootfs-marker").read_text()
        assert nsfs.read(nsfs.job(sb, 1) / "stdout") == marker
        os.rmdir(sb)
    finally:
        for m in mounted:
            subprocess.run(["umount", "-l", str(m)], check=False)


def test_a_supervisor_abandoned_before_any_request_exits(nsfs, tmp_path):
    """A zygote that dies with a request in hand fails that mkdir, and its
    copy, if it made one, must not linger: a supervisor whose first client
    hangs up before sending any request exits.  One that was spoken to
    stays (nsfsd's restarts rely on it)."""
    supervisor = nsfs.env()["NSFS_SUPERVISOR"]
    version = subprocess.run([nsfs.binary, "--version"], capture_output=True, text=True, check=True).stdout
    hello = b"hello\x00" + re.search(r"supervisor protocol (\d+)", version).group(1).encode() + b"\x00"
    pids = {}
    try:
        for case in ("abandoned", "spoken_to"):
            sandbox_dir = tmp_path / case
            sandbox_dir.mkdir(mode=0o700)
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with ours, theirs:
                pids[case] = os.posix_spawn(supervisor, [supervisor, "--dir", str(sandbox_dir), "--fd", "3"],
                                            {}, file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
                theirs.close()
                if case == "spoken_to":
                    ours.settimeout(10)
                    ours.send(hello)
                    assert ours.recv(4096).startswith(b"ok\x00")
        def reaped(pid):
            done, status = os.waitpid(pid, os.WNOHANG)
            return (done, status) if done else None

        _, status = wait_until(lambda: reaped(pids["abandoned"]), what="the abandoned supervisor's end")
        pids["abandoned"] = 0
        assert os.waitstatus_to_exitcode(status) == 0
        log = (tmp_path / "abandoned" / "supervisor.log").read_text()
        assert "abandoned before any request" in log, log
        time.sleep(0.5)
        assert os.waitpid(pids["spoken_to"], os.WNOHANG) == (0, 0), "a supervisor spoken to ended with its client"
    finally:
        for pid in pids.values():
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def code_mappings(pid):
    """(perms, path, size kB, rss kB) of each file mapping of PID that is
    neither writable nor shared: its code and read-only data.  Not the
    PROT_NONE gaps a shared library's alignment leaves between its
    segments (libmnl's), which hold nothing."""
    found, head = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                head = fields if len(fields) == 6 and fields[4] != "0" else None
            elif head and fields[0] == "Size:":
                size = int(fields[1])
            elif head and fields[0] == "Rss:":
                if head[1][1] != "w" and head[1][3] == "p" and head[1] != "---p":
                    found.append((head[1], head[5], size, int(fields[1])))
    return found


def test_copies_and_their_inits_start_with_all_their_code_mapped(nsfs, zygote_on):
    """The zygote maps its code and read-only data once, so that copies and
    inits do not fault each page in (docs/performance.md); none of it is
    left writable.  (An init that has become nsfs-init maps none of it.)"""
    run_one(nsfs, "a")
    sup = supervisor_pid(nsfs, "a")
    init = int(nsfs.status(nsfs.mnt / "a")["pid"])
    copies = [sup]
    if os.readlink(f"/proc/{init}/exe") == os.readlink(f"/proc/{sup}/exe"):
        copies.append(init)
    for pid in copies:
        maps = code_mappings(pid)
        assert any(perms == "r-xp" for perms, *_ in maps), maps
        for perms, path, size, rss in maps:
            assert perms in ("r--p", "r-xp"), (pid, perms, path)
            assert rss == size, f"{pid}: {path} ({perms}) has {rss} of {size} kB mapped"
