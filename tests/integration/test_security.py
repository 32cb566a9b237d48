"""The rules of docs/security.md, checked with real unprivileged users.

The users come from users.py: a (61001, /etc/subuid and /etc/subgid
300000:65536, supplementary group 61010), b (61002) and c (61003), neither
with subordinate ids.  Every file operation "as a" below reaches the mount
with a's credentials (a forked child that dropped to a's ids).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from nsfs_util import TIMEOUT, expect_errno, needs_root, timed
from users import (SUBID_COUNT, SUBID_START, as_user, errno_as, exec_job, expect_errno_as, read_file, run_as,
                   user_mkdir, write_file)
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root

NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
CONFIG_FILES = ("ctl", "uid_map", "gid_map", "hostname", "rootfs", "caps")
CAP_NET_BIND_SERVICE = 1 << 10
CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
EACCES_OR_EPERM = (errno.EACCES, errno.EPERM)


def full_caps() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return (1 << (int(f.read()) + 1)) - 1


# --------------------------------------------------------------------------
# Helpers


def proc_status(text: str) -> dict:
    """/proc/PID/status as {key: value}."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def id_fields(value: str) -> list:
    return [int(x) for x in value.split()]


def caps_of(st: dict) -> dict:
    return {k: int(st[k], 16) for k in CAP_FIELDS}


def mk(nsfs, user, name):
    """mkdir NAME as USER (root if None); its path."""
    path = nsfs.mnt / name
    if user is None:
        timed(os.mkdir, path, what="mkdir")
    else:
        as_user(user, user_mkdir, path)
    return path


def write_as(nsfs, user, path, value):
    if user is None:
        nsfs.write(path, value)
    else:
        as_user(user, write_file, path, value)


def exec_as(nsfs, user, sb, cmdline) -> int:
    if user is None:
        return nsfs.exec(sb, cmdline)
    return as_user(user, exec_job, sb, cmdline)


def run_job(nsfs, user, sb, cmdline):
    """Start CMDLINE as USER (root if None), wait: (status, stdout, stderr)."""
    jid = exec_as(nsfs, user, sb, cmdline)
    status = nsfs.wait(sb, jid)
    job = nsfs.job(sb, jid)
    return status, nsfs.read(job / "stdout"), nsfs.read(job / "stderr")


def run_ok(nsfs, user, sb, cmdline) -> str:
    status, out, err = run_job(nsfs, user, sb, cmdline)
    assert status == "exited 0", f"{cmdline!r}: {status}; stderr {err!r}; error {nsfs.error(sb)!r}"
    return out


def job_status_inside(nsfs, user, sb) -> dict:
    """A job's own /proc/self/status."""
    return proc_status(run_ok(nsfs, user, sb, "cat /proc/self/status"))


def outside_status_of_running_job(nsfs, user, sb, cmdline="sleep 30"):
    """Start CMDLINE (something that runs a while), read its
    /proc/<pid>/status from the host, kill it: (jid, status dict)."""
    jid = exec_as(nsfs, user, sb, cmdline)
    pid = int(nsfs.read(nsfs.job(sb, jid) / "pid"))
    try:
        with open(f"/proc/{pid}/status") as f:
            st = proc_status(f.read())
    finally:
        nsfs.ctl(sb, "kill KILL")
        nsfs.wait(sb, jid)
    return jid, st


def assert_one_error_line(nsfs, sb, *needles):
    # Bytes a write carried may show up in the message: not this check's business.
    err = nsfs.read_bytes(sb / "error").decode(errors="replace")
    assert err.endswith("\n") and err.count("\n") == 1, f"error is not one line: {err!r}"
    for n in needles:
        assert n in err, f"error does not mention {n!r}: {err!r}"
    return err


def rejected_as(nsfs, user, sb, name, value, errnos, *needles):
    """USER's write of VALUE to SB/NAME fails with ERRNOS, the old value
    stays, `error` is one line naming NAME (and NEEDLES)."""
    old = nsfs.read(sb / name)
    if user is None:
        expect_errno(errnos, nsfs.write, sb / name, value)
    else:
        expect_errno_as(user, errnos, write_file, sb / name, value)
    assert nsfs.read(sb / name) == old, f"{name} changed by a rejected write of {value!r}"
    return assert_one_error_line(nsfs, sb, name, *needles)


def walk(top):
    yield top
    for dirpath, dirs, files in os.walk(top):
        for n in dirs + files:
            yield os.path.join(dirpath, n)


# --------------------------------------------------------------------------
# Root file systems the users can (and cannot) read


@pytest.fixture(scope="session")
def trees(busybox_rootfs, test_users):
    """Directories for rootfs tests, under a 0755 directory in /tmp:

    public/           a busybox rootfs every user can read, with
      suid/busybox      busybox owned by a's first subordinate uid/gid, 06755
      suidroot/busybox  busybox owned by root, 06755
    private/          0700 root
      rootfs/           a busybox rootfs with /etc/nsfs-private-marker
    group/            0750 root:nsfs-test-g (a's supplementary group)
      rootfs -> ../public
    private-link -> private/rootfs
    """
    base = Path(tempfile.mkdtemp(prefix="nsfs-sec-"))
    os.chmod(base, 0o755)
    public = base / "public"
    shutil.copytree(busybox_rootfs, public, symlinks=True)
    os.chmod(public, 0o755)
    for d, owner in (("suid", SUBID_START), ("suidroot", 0)):
        (public / d).mkdir(mode=0o755)
        os.chmod(public / d, 0o755)
        # Named busybox, so busybox takes the applet from argv[1].
        b = public / d / "busybox"
        shutil.copy2(public / "bin" / "busybox", b)
        os.chown(b, owner, owner)
        os.chmod(b, 0o6755)
    private = base / "private"
    private.mkdir()
    os.chmod(private, 0o700)
    shutil.copytree(busybox_rootfs, private / "rootfs", symlinks=True)
    os.chmod(private / "rootfs", 0o755)
    (private / "rootfs" / "etc" / "nsfs-private-marker").write_text("private\n")
    group = base / "group"
    group.mkdir()
    os.chown(group, 0, test_users.group_gid)
    os.chmod(group, 0o750)
    (group / "rootfs").symlink_to("../public")
    (base / "private-link").symlink_to("private/rootfs")
    yield base
    shutil.rmtree(base, ignore_errors=True)


# ==========================================================================
# Ownership


def test_owner_shown_on_every_file(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    jid = exec_as(nsfs, a, sb, "sleep 30")  # running: ns/* and root exist
    seen = 0
    for path in walk(str(sb)):
        if path.endswith("/wait"):
            continue
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (a.uid, a.gid), f"{path}: {st.st_uid}:{st.st_gid}, owner is {a}"
        seen += 1
    for t in NS_TYPES:
        st = os.lstat(sb / "ns" / t)
        assert (st.st_uid, st.st_gid) == (a.uid, a.gid), f"ns/{t}: {st.st_uid}:{st.st_gid}"
    st = os.lstat(nsfs.job(sb, jid) / "wait")
    assert (st.st_uid, st.st_gid) == (a.uid, a.gid)
    assert seen > 20, f"only {seen} entries under the sandbox"
    # The owner sees the same (not a root-only view).
    assert as_user(a, lambda p: tuple(os.stat(p)[4:6]), sb / "hostname") == (a.uid, a.gid)
    nsfs.ctl(sb, "kill")


def test_other_user_cannot_configure_run_read_or_remove(nsfs, test_users):
    a, b = test_users.a, test_users.b
    sb = mk(nsfs, a, "a1")
    jid = exec_as(nsfs, a, sb, "sh -c 'echo secret-out; echo secret-err >&2'")
    nsfs.wait(sb, jid)
    before = {n: nsfs.read(sb / n) for n in CONFIG_FILES}
    job = nsfs.job(sb, jid)
    values = {"ctl": "stop", "uid_map": f"0 {b.uid} 1", "gid_map": f"0 {b.gid} 1", "hostname": "pwned",
              "rootfs": "/", "caps": "none"}
    for name, value in values.items():
        expect_errno_as(b, EACCES_OR_EPERM, write_file, sb / name, value)
    expect_errno_as(b, EACCES_OR_EPERM, exec_job, sb, "true")
    expect_errno_as(b, EACCES_OR_EPERM, write_file, sb / "exec", "touch /tmp/pwned")
    expect_errno_as(b, errno.EACCES, read_file, sb / "exec")
    for name in ("stdout", "stderr"):
        expect_errno_as(b, errno.EACCES, read_file, job / name)
    expect_errno_as(b, errno.EPERM, os.rmdir, sb)
    expect_errno_as(b, errno.EPERM, os.chmod, sb / "hostname", 0o666)
    expect_errno_as(b, errno.EPERM, os.chown, sb / "hostname", b.uid, b.gid)
    expect_errno_as(b, EACCES_OR_EPERM, os.truncate, sb / "hostname", 0)
    # Nothing changed, no job was started.
    assert {n: nsfs.read(sb / n) for n in CONFIG_FILES} == before
    assert sorted(os.listdir(sb / "jobs")) == [str(jid)]
    assert nsfs.read(job / "stdout") == "secret-out\n"
    assert os.path.isdir(sb)

    # What b may do: list it, read status, error, ctl and the maps.
    listing = as_user(b, os.listdir, sb)
    assert {"ctl", "status", "error", "uid_map", "gid_map", "jobs", "exec"} <= set(listing)
    assert as_user(b, os.listdir, sb / "jobs") == [str(jid)]
    for name in ("status", "error", "ctl", "uid_map", "gid_map"):
        assert as_user(b, read_file, sb / name) == nsfs.read_bytes(sb / name), name
    assert as_user(b, read_file, job / "status") == b"exited 0\n"


def test_other_user_cannot_stop_or_kill_running_sandbox(nsfs, test_users):
    a, b = test_users.a, test_users.b
    sb = mk(nsfs, a, "a1")
    jid = exec_as(nsfs, a, sb, "sleep 30")
    init = int(nsfs.status(sb)["pid"])
    for d in ("stop", "kill KILL", "ns user"):
        expect_errno_as(b, EACCES_OR_EPERM, write_file, sb / "ctl", d)
    assert nsfs.status(sb)["pid"] == str(init)
    assert nsfs.read(nsfs.job(sb, jid) / "status") == "running\n"
    nsfs.ctl(sb, "kill")


def test_owner_may_do_everything_on_its_sandbox(nsfs, test_users, trees):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "hostname", "mine")
    write_as(nsfs, a, sb / "caps", "none")
    write_as(nsfs, a, sb / "uid_map", f"0 {a.uid} 1\n1 {SUBID_START} 100")
    write_as(nsfs, a, sb / "gid_map", f"0 {a.gid} 1\n1 {SUBID_START} 100")
    write_as(nsfs, a, sb / "ctl", "ns user uts pid mnt")
    write_as(nsfs, a, sb / "rootfs", str(trees / "public"))
    jid = exec_as(nsfs, a, sb, "sh -c 'hostname; cat /etc/nsfs-rootfs-marker'")
    assert nsfs.wait(sb, jid) == "exited 0"
    out = as_user(a, read_file, nsfs.job(sb, jid) / "stdout")
    assert out == b"mine\nnsfs busybox test rootfs\n"
    write_as(nsfs, a, sb / "ctl", "stop")
    as_user(a, os.rmdir, sb)
    assert not os.path.exists(sb)


def test_root_may_do_everything_on_a_users_sandbox(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    nsfs.write(sb / "hostname", "byroot")
    nsfs.write(sb / "caps", "cap_kill=ep")
    nsfs.write(sb / "uid_map", f"0 {a.uid} 1")
    nsfs.write(sb / "ctl", "ns user uts pid mnt")
    assert run_ok(nsfs, None, sb, "hostname") == "byroot\n"
    # A job root starts in a's sandbox is still a's.
    _, st = outside_status_of_running_job(nsfs, None, sb)
    assert id_fields(st["Uid"]) == [a.uid] * 4, st["Uid"]
    assert id_fields(st["Gid"]) == [a.gid] * 4, st["Gid"]
    nsfs.ctl(sb, "stop")
    os.rmdir(sb)
    assert not os.path.exists(sb)


def test_user_cannot_touch_roots_sandbox(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, None, "r1")
    jid = nsfs.exec(sb, "echo root-secret")
    nsfs.wait(sb, jid)
    for name in CONFIG_FILES:
        expect_errno_as(a, EACCES_OR_EPERM, write_file, sb / name, "x")
    expect_errno_as(a, EACCES_OR_EPERM, exec_job, sb, "true")
    expect_errno_as(a, errno.EACCES, read_file, nsfs.job(sb, jid) / "stdout")
    expect_errno_as(a, errno.EPERM, os.rmdir, sb)
    assert sorted(os.listdir(sb / "jobs")) == [str(jid)]


def test_tree_structure_refused_to_users(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    expect_errno_as(a, errno.EPERM, os.mkdir, sb / "sub")
    expect_errno_as(a, errno.EPERM, lambda p: os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)), sb / "new")
    expect_errno_as(a, errno.EPERM, os.unlink, sb / "hostname")
    expect_errno_as(a, errno.EPERM, os.rename, sb / "hostname", sb / "h2")
    expect_errno_as(a, errno.EPERM, os.symlink, "/", sb / "l")
    expect_errno_as(a, errno.EPERM, os.chmod, sb / "hostname", 0o666)
    expect_errno_as(a, errno.EPERM, os.chown, sb / "hostname", a.uid, a.gid)
    expect_errno_as(a, errno.EPERM, os.rmdir, sb / "jobs")


# ==========================================================================
# Jobs run as the owner, never with more


def test_job_host_ids_are_the_owners(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    _, st = outside_status_of_running_job(nsfs, a, sb)
    assert id_fields(st["Uid"]) == [a.uid] * 4, f"job Uid (real effective saved fs): {st['Uid']}"
    assert id_fields(st["Gid"]) == [a.gid] * 4, f"job Gid: {st['Gid']}"
    assert st["NoNewPrivs"] == "1", "a non-root owner's job runs without no_new_privs"
    # Never a group the owner is not in.
    groups = set(id_fields(st["Groups"]))
    assert groups <= {a.gid, *a.groups}, f"job groups {groups}, owner has {a.gid} {a.groups}"


def test_job_host_ids_with_a_mapped_inside_uid(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "uid_map", f"0 {SUBID_START} 1000\n1000 {a.uid} 1")
    write_as(nsfs, a, sb / "gid_map", f"0 {SUBID_START} 1000\n1000 {a.gid} 1")
    inside = job_status_inside(nsfs, a, sb)
    assert id_fields(inside["Uid"]) == [1000] * 4
    assert id_fields(inside["Gid"]) == [1000] * 4
    _, st = outside_status_of_running_job(nsfs, a, sb)
    assert id_fields(st["Uid"]) == [a.uid] * 4, st["Uid"]
    assert id_fields(st["Gid"]) == [a.gid] * 4, st["Gid"]
    assert st["NoNewPrivs"] == "1"


def test_sandbox_init_has_the_owners_host_ids(nsfs, test_users):
    """The init (not a job, but a process of a's user namespace) holds
    nothing of root's either: with a host uid of 0 kept in any field it
    could signal root's processes."""
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "ctl", "start")
    init = int(nsfs.status(sb)["pid"])
    with open(f"/proc/{init}/status") as f:
        st = proc_status(f.read())
    assert id_fields(st["Uid"]) == [a.uid] * 4, f"init Uid: {st['Uid']}"
    assert id_fields(st["Gid"]) == [a.gid] * 4, f"init Gid: {st['Gid']}"
    groups = set(id_fields(st["Groups"]))
    assert groups <= {a.gid, *a.groups}, f"init groups {groups}"


def test_root_sandbox_jobs_have_no_supplementary_groups(nsfs):
    sb = mk(nsfs, None, "r1")
    _, st = outside_status_of_running_job(nsfs, None, sb)
    assert st["Groups"] == "", f"a root-owned sandbox's job has groups {st['Groups']!r}"


def test_job_cannot_drop_a_group_that_restricts_the_owner(nsfs, test_users):
    """security.md: a user gains nothing through nsfs; setgroups is denied
    "so a job cannot drop a group that restricts the owner".  A file mode
    0604 with group nsfs-test-g shuts out a, who is in that group; a's job
    must not read it either (a job that runs with no supplementary groups
    at all would)."""
    a = test_users.a
    d = Path(tempfile.mkdtemp(prefix="nsfs-negative-"))
    try:
        os.chmod(d, 0o755)
        secret = d / "secret"
        secret.write_text("denied to the group\n")
        os.chown(secret, 0, test_users.group_gid)
        os.chmod(secret, 0o604)
        # The control: a cannot read it on the host.
        assert errno_as(a, read_file, secret) == errno.EACCES
        # Readable by a user outside the group, so the file itself is fine.
        assert as_user(test_users.b, read_file, secret) == b"denied to the group\n"
        sb = mk(nsfs, a, "a1")
        status, out, err = run_job(nsfs, a, sb, f"cat {secret}")
        assert "denied to the group" not in out, (
            f"a's job read a file a's supplementary group shuts a out of ({status}): "
            f"the job dropped the owner's groups")
        assert status != "exited 0"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_setuid_binary_in_rootfs_grants_nothing(nsfs, test_users, trees):
    """A setuid/setgid binary owned by an id that is mapped in a's
    namespace (inside 0) would make a's inside-1000 job root inside; with
    no_new_privs it runs with the job's own ids."""
    a = test_users.a
    public = trees / "public"
    # The control: the file system honours the bits (busybox drops its
    # effective ids itself, but the saved ids show the exec took them).
    r = run_as(a, [str(public / "suid" / "busybox"), "cat", "/proc/self/status"])
    assert r.returncode == 0, r.stderr
    host = proc_status(r.stdout)
    assert id_fields(host["Uid"])[2] == SUBID_START, f"setuid not honoured on the host: {host['Uid']}"
    assert id_fields(host["Gid"])[2] == SUBID_START, f"setgid not honoured on the host: {host['Gid']}"

    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "uid_map", f"0 {SUBID_START} 1000\n1000 {a.uid} 1")
    write_as(nsfs, a, sb / "gid_map", f"0 {SUBID_START} 1000\n1000 {a.gid} 1")
    write_as(nsfs, a, sb / "rootfs", str(public))
    plain = job_status_inside(nsfs, a, sb)
    assert id_fields(plain["Uid"]) == [1000] * 4
    for binary in ("/suid/busybox", "/suidroot/busybox"):
        st = proc_status(run_ok(nsfs, a, sb, f"{binary} cat /proc/self/status"))
        assert id_fields(st["Uid"]) == [1000] * 4, f"{binary}: Uid {st['Uid']} (plain busybox: {plain['Uid']})"
        assert id_fields(st["Gid"]) == [1000] * 4, f"{binary}: Gid {st['Gid']} (plain busybox: {plain['Gid']})"
        assert caps_of(st) == caps_of(plain), f"{binary} changed the job's capabilities"
        # And from the host.
        _, out = outside_status_of_running_job(nsfs, a, sb, f"{binary} sleep 30")
        assert id_fields(out["Uid"]) == [a.uid] * 4, f"{binary}: host Uid {out['Uid']}"
        assert id_fields(out["Gid"]) == [a.gid] * 4, f"{binary}: host Gid {out['Gid']}"


def test_file_capability_binary_grants_nothing(nsfs, test_users, trees):
    """A binary with file capabilities (set by host root, so honoured in
    every user namespace) gives a's job nothing it did not have."""
    if not shutil.which("setcap"):
        pytest.skip("setcap is missing")
    a = test_users.a
    d = Path(tempfile.mkdtemp(prefix="nsfs-fcap-"))
    try:
        os.chmod(d, 0o755)
        b = d / "busybox"
        shutil.copy2("/bin/busybox", b)
        os.chmod(b, 0o755)
        r = subprocess.run(["setcap", "cap_sys_admin,cap_net_admin+ep", str(b)], capture_output=True, text=True,
                           timeout=TIMEOUT)
        if r.returncode != 0:
            pytest.skip(f"setcap failed: {r.stderr.strip()}")
        # The control: as a on the host the binary does get them.
        r = run_as(a, [str(b), "cat", "/proc/self/status"])
        assert r.returncode == 0, r.stderr
        assert caps_of(proc_status(r.stdout))["CapPrm"] & (1 << 21), "file capabilities not honoured on the host"
        sb = mk(nsfs, a, "a1")
        write_as(nsfs, a, sb / "uid_map", f"1000 {a.uid} 1")
        write_as(nsfs, a, sb / "caps", "cap_kill=ep")
        plain = caps_of(job_status_inside(nsfs, a, sb))
        # With the effective bit the kernel refuses to run a binary it
        # cannot give all its capabilities to (EPERM); either that or
        # the job's own sets.
        try:
            out = run_ok(nsfs, a, sb, f"{b} cat /proc/self/status")
        except OSError as e:
            assert e.errno == errno.EPERM, e
        else:
            got = caps_of(proc_status(out))
            gained = {k: hex(got[k] & ~plain[k]) for k in CAP_FIELDS if got[k] & ~plain[k]}
            assert not gained, f"a file-capability binary gained {gained} (plain: {plain}, got {got})"
        # Permitted only: it runs and gains nothing (the kernel clears the
        # ambient set for a binary with file capabilities, so it may lose).
        subprocess.run(["setcap", "cap_sys_admin,cap_net_admin+p", str(b)], check=True, timeout=TIMEOUT)
        got = caps_of(proc_status(run_ok(nsfs, a, sb, f"{b} cat /proc/self/status")))
        gained = {k: hex(got[k] & ~plain[k]) for k in CAP_FIELDS if got[k] & ~plain[k]}
        assert not gained, f"a file-capability binary gained {gained} (plain: {plain}, got {got})"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_user_namespace_belongs_to_the_owner(nsfs, test_users):
    """The owner enters its sandbox's namespaces by itself (it holds
    capabilities in the user namespace); another user cannot."""
    if not shutil.which("nsenter"):
        pytest.skip("nsenter is missing")
    a, b = test_users.a, test_users.b
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "hostname", "owned-by-a")
    write_as(nsfs, a, sb / "ctl", "start")
    init = int(nsfs.status(sb)["pid"])
    st = os.stat(f"/proc/{init}/ns/user")
    enter = ["nsenter", "--preserve-credentials", f"--user={sb}/ns/user", f"--uts={sb}/ns/uts", "hostname"]
    r = run_as(a, enter)
    assert r.returncode == 0 and r.stdout == "owned-by-a\n", f"the owner cannot enter: {r.stderr}"
    r = run_as(b, enter)
    assert r.returncode != 0, f"another user entered a's namespaces: {r.stdout}"
    # The user namespace's owner, as the kernel records it.
    import fcntl
    import struct
    fd = os.open(f"/proc/{init}/ns/user", os.O_RDONLY)
    try:
        owner = struct.unpack("I", fcntl.ioctl(fd, 0xB704, b"\0" * 4))[0]  # NS_GET_OWNER_UID
    finally:
        os.close(fd)
    assert owner == a.uid, f"a's user namespace belongs to uid {owner}"
    assert st.st_ino == os.stat(f"{sb}/ns/user").st_ino


# ==========================================================================
# Id maps


@pytest.fixture(params=["uid", "gid"])
def kind(request):
    return request.param


def _own(user, kind):
    return user.uid if kind == "uid" else user.gid


ACCEPTED = [
    "0 {own} 1",
    "1000 {own} 1",
    "1 {sub} 65536\n0 {own} 1",
    "0 {sub} 65536\n65536 {own} 1",
    "5 {sub10} 10",
    "0 {own} 1\n1 {sub} 1\n2 {sublast} 1",
]


def _fmt(template, user, kind):
    return template.format(own=_own(user, kind), sub=SUBID_START, sub10=SUBID_START + 10,
                           sublast=SUBID_START + SUBID_COUNT - 1, other=_own(user, kind) + 1)


@pytest.mark.parametrize("template", ACCEPTED)
def test_map_delegated_accepted(nsfs, test_users, kind, template):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    value = _fmt(template, a, kind)
    write_as(nsfs, a, sb / f"{kind}_map", value)
    assert nsfs.read(sb / f"{kind}_map") == value + "\n"


def test_delegated_maps_are_applied(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "uid_map", f"0 {a.uid} 1\n1 {SUBID_START} {SUBID_COUNT}")
    write_as(nsfs, a, sb / "gid_map", f"0 {a.gid} 1\n1 {SUBID_START} {SUBID_COUNT}")
    out = run_ok(nsfs, a, sb, "sh -c 'cat /proc/self/uid_map /proc/self/gid_map'")
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["0", str(a.uid), "1"], ["1", str(SUBID_START), str(SUBID_COUNT)],
                     ["0", str(a.gid), "1"], ["1", str(SUBID_START), str(SUBID_COUNT)]]


# (template, line named in error)
NOT_DELEGATED = [
    ("0 0 1", 1),
    ("0 {own} 1\n1 0 1", 2),
    ("0 {other} 1", 1),
    ("0 {own} 1\n1 {other} 1", 2),
    ("0 {own} 2", 1),
    ("1 {sub} 65537", 1),
    ("1 299999 2", 1),
    ("0 {sublast} 2", 1),
    ("0 {own} 1\n1 {sub} 100\n200 400000 1", 3),
    ("0 100000 65536", 1),
]


@pytest.mark.parametrize("template, line", NOT_DELEGATED)
def test_map_not_delegated_is_eperm(nsfs, test_users, kind, template, line):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / f"{kind}_map", f"0 {_own(a, kind)} 1\n1 {SUBID_START} 5")
    rejected_as(nsfs, a, sb, f"{kind}_map", _fmt(template, a, kind), errno.EPERM, f"line {line}")


def test_map_user_without_subids(nsfs, test_users, kind):
    """c has no /etc/subuid or /etc/subgid entry: its own id only."""
    c = test_users.c
    sb = mk(nsfs, c, "c1")
    write_as(nsfs, c, sb / f"{kind}_map", f"0 {_own(c, kind)} 1")
    for value in (f"0 {SUBID_START} 1", f"0 {_own(c, kind)} 1\n1 {SUBID_START} 1", "0 0 1",
                  f"0 {_own(test_users.a, kind)} 1"):
        rejected_as(nsfs, c, sb, f"{kind}_map", value, errno.EPERM, "line")
    # a's delegation is a's only.
    b = test_users.b
    sb = mk(nsfs, b, "b1")
    rejected_as(nsfs, b, sb, f"{kind}_map", f"0 {SUBID_START} 10", errno.EPERM, "line 1")


def test_root_cannot_map_for_a_user(nsfs, test_users, kind):
    """The delegation is the owner's: root writing a's map gets a's limits,
    else a would run jobs as host root in a sandbox root configured."""
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    rejected_as(nsfs, None, sb, f"{kind}_map", "0 0 1", errno.EPERM, "line 1")
    nsfs.write(sb / f"{kind}_map", f"0 {_own(a, kind)} 1\n1 {SUBID_START} 10")


MALFORMED = [
    "0 {own} 1\n0 {sub} 1",            # inside overlap
    "0 {sub} 10\n100 {sub5} 10",       # outside overlap
    "0 {own} 0",                       # count 0
    "0 {own} 4294967295",              # count overflow
    "1 {sub} 4294967295",
    "4294967295 {own} 1",              # past 4294967294
    "4294967294 {own} 2",
    "0 {own}",
    "0 {own} 1 1",
    "-1 {own} 1",
    "0 {own} 1x",
    "0 4294967296 1",
    "",
]


@pytest.mark.parametrize("template", MALFORMED)
def test_map_malformed_is_einval(nsfs, test_users, kind, template):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    value = template.format(own=_own(a, kind), sub=SUBID_START, sub5=SUBID_START + 5) + "\n"
    rejected_as(nsfs, a, sb, f"{kind}_map", value, errno.EINVAL)


def test_map_line_count(nsfs, test_users, kind):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    lines = [f"{i} {SUBID_START + i} 1" for i in range(341)]
    rejected_as(nsfs, a, sb, f"{kind}_map", "\n".join(lines), errno.EINVAL)
    rejected_as(nsfs, None, sb, f"{kind}_map", "\n".join(f"{i} {i} 1" for i in range(341)), errno.EINVAL)


def test_map_340_short_lines_applied(nsfs, kind):
    """340 lines is the kernel's limit too: a root-owned map of 340 short
    lines is applied as written."""
    sb = mk(nsfs, None, "r1")
    lines = [f"{i} {2 * i} 1" for i in range(340)]
    nsfs.write(sb / f"{kind}_map", "\n".join(lines))
    assert nsfs.read(sb / f"{kind}_map") == "\n".join(lines) + "\n"
    out = run_ok(nsfs, None, sb, f"cat /proc/self/{kind}_map")
    assert [x.split() for x in out.splitlines()] == [x.split() for x in lines]


def test_map_340_adjacent_lines_applied_joined(nsfs, kind):
    """340 one-id lines of large ids are more than the kernel takes in one
    write (4096 bytes); adjacent ones are given to it joined, so the map
    reads back as written and applies the same ids."""
    sb = mk(nsfs, None, "r1")
    lines = [f"{i} {200000 + i} 1" for i in range(340)]
    assert len("\n".join(lines)) >= 4096
    nsfs.write(sb / f"{kind}_map", "\n".join(lines))
    assert nsfs.read(sb / f"{kind}_map") == "\n".join(lines) + "\n"
    out = run_ok(nsfs, None, sb, f"cat /proc/self/{kind}_map")
    assert [x.split() for x in out.splitlines()] == [["0", "200000", "340"]]


def test_map_accepted_is_applicable(nsfs, test_users, kind):
    """A map nsfsd accepts must be one the kernel takes at start: the
    kernel wants a map's text in one write under a page (4096 bytes), and
    340 lines with a's delegated (6-digit) ids do not fit.  Either the
    write is refused (EINVAL, old value kept) or the sandbox starts with
    that map."""
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    value = "\n".join(f"{i} {SUBID_START + i} 1" for i in range(340))
    assert len(value) >= 4096
    try:
        as_user(a, write_file, sb / f"{kind}_map", value)
    except OSError as e:
        assert e.errno == errno.EINVAL, e
        assert nsfs.read(sb / f"{kind}_map") == f"0 {_own(a, kind)} 1\n"
        return
    try:
        out = run_ok(nsfs, a, sb, f"cat /proc/self/{kind}_map")
    except OSError as e:
        pytest.fail(f"nsfsd accepted a 340-line {kind}_map ({len(value)} bytes) that the sandbox cannot start "
                    f"with: exec fails with {errno.errorcode[e.errno]}, error {nsfs.error(sb)!r}")
    # Given to the kernel with adjacent lines joined: the same ids.
    assert [x.split() for x in out.splitlines()] == [["0", str(SUBID_START), "340"]]


def test_setgroups_deny_with_own_gid_only(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    assert run_ok(nsfs, a, sb, "cat /proc/self/setgroups") == "deny\n"
    sb2 = mk(nsfs, a, "a2")
    write_as(nsfs, a, sb2 / "gid_map", f"0 {a.gid} 1")
    assert run_ok(nsfs, a, sb2, "cat /proc/self/setgroups") == "deny\n"
    sb3 = mk(nsfs, a, "a3")
    write_as(nsfs, a, sb3 / "gid_map", f"0 {a.gid} 1\n1 {SUBID_START} {SUBID_COUNT}")
    assert run_ok(nsfs, a, sb3, "cat /proc/self/setgroups") == "allow\n"
    # With setgroups denied, a job (root inside) cannot change its groups.
    status, _, err = run_job(nsfs, a, sb, "/usr/bin/python3 -c 'import os; os.setgroups([])'")
    assert status == "exited 1" and "PermissionError" in err, f"setgroups in a denied sandbox: {status} {err!r}"


# ==========================================================================
# ns and rootfs


@pytest.mark.parametrize("value", ["ns uts", "ns uts pid mnt net ipc cgroup time", "ns net\nstart"])
def test_ns_without_user_is_eperm(nsfs, test_users, value):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    rejected_as(nsfs, a, sb, "ctl", value, errno.EPERM)
    assert nsfs.status(sb)["state"] == "created"
    # Root may not drop a's user namespace either.
    rejected_as(nsfs, None, sb, "ctl", value, errno.EPERM)
    write_as(nsfs, a, sb / "ctl", "ns user uts")
    assert nsfs.read(sb / "ctl") == "ns user uts\n"


def test_root_sandbox_may_omit_user(nsfs):
    sb = mk(nsfs, None, "r1")
    nsfs.write(sb / "ctl", "ns uts pid mnt")
    assert run_ok(nsfs, None, sb, "cat /proc/self/uid_map").split() == ["0", "0", "4294967295"]


def test_rootfs_a_user_cannot_read(nsfs, test_users, trees):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "rootfs", str(trees / "public"))
    for path in (trees / "private" / "rootfs", trees / "private-link", trees / "private"):
        rejected_as(nsfs, a, sb, "rootfs", str(path), errno.EACCES)
    assert nsfs.read(sb / "rootfs") == f"{trees / 'public'}\n"


def test_rootfs_through_another_process_root(nsfs, test_users, trees):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    path = f"/proc/{nsfs.pid}/root{trees / 'public'}"
    rejected_as(nsfs, a, sb, "rootfs", path, errno.EACCES)
    # Root may.
    r1 = mk(nsfs, None, "r1")
    nsfs.write(r1 / "rootfs", path)


def test_rootfs_written_by_root_is_checked_as_the_owner(nsfs, test_users, trees):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    rejected_as(nsfs, None, sb, "rootfs", str(trees / "private" / "rootfs"), errno.EACCES)


def test_rootfs_the_user_can_read(nsfs, test_users, trees):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "rootfs", str(trees / "public"))
    assert run_ok(nsfs, a, sb, "cat /etc/nsfs-rootfs-marker") == "nsfs busybox test rootfs\n"


def test_rootfs_through_a_supplementary_group(nsfs, test_users, trees):
    """group/ is 0750 root:nsfs-test-g: a reaches it through its
    supplementary group (checks and the init use the owner's groups); c,
    not in the group, cannot."""
    a, c = test_users.a, test_users.c
    path = str(trees / "group" / "rootfs")
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "rootfs", path)
    assert run_ok(nsfs, a, sb, "cat /etc/nsfs-rootfs-marker") == "nsfs busybox test rootfs\n"
    sc = mk(nsfs, c, "c1")
    rejected_as(nsfs, c, sc, "rootfs", path, errno.EACCES)


def test_rootfs_symlink_swapped_later(nsfs, test_users, trees):
    """rootfs names a link to a readable tree when written; the link is
    then turned to a tree a cannot read: the start must not reach it."""
    a = test_users.a
    d = Path(tempfile.mkdtemp(prefix="nsfs-swap-"))
    try:
        os.chmod(d, 0o755)
        link = d / "link"
        link.symlink_to(trees / "public")
        sb = mk(nsfs, a, "a1")
        write_as(nsfs, a, sb / "rootfs", str(link))
        link.unlink()
        link.symlink_to(trees / "private" / "rootfs")
        try:
            jid = exec_as(nsfs, a, sb, "cat /etc/nsfs-private-marker")
        except OSError as e:
            assert e.errno in (errno.EACCES, errno.EPERM, errno.ENOENT), f"exec failed with {e}"
            assert nsfs.status(sb)["state"] != "running"
            return
        status = nsfs.wait(sb, jid)
        out = nsfs.read(nsfs.job(sb, jid) / "stdout")
        pytest.fail(f"a's sandbox started in a root-only tree: job {status}, stdout {out!r}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ==========================================================================
# Capabilities


def test_caps_default_all(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    assert nsfs.read(sb / "caps") == "all\n"
    st = caps_of(job_status_inside(nsfs, a, sb))
    full = full_caps()
    # uid 0 in its own namespace: the namespace's full set, as unshare -r.
    assert st["CapEff"] == st["CapPrm"] == st["CapBnd"] == full, {k: hex(v) for k, v in st.items()}


# (owner, uid_map written by the owner or None, ns line or None, inside uid)
CAP_SETUPS = {
    "root-userns": (None, None, None, 0),
    "root-no-userns": (None, None, "ns uts pid mnt ipc", 0),
    "a-default": ("a", None, None, 0),
    "a-inside-1000": ("a", "1000 {uid} 1", None, 1000),
}


@pytest.mark.parametrize("setup", list(CAP_SETUPS))
def test_caps_kept_set(nsfs, test_users, setup):
    key, umap, ns, inside = CAP_SETUPS[setup]
    user = getattr(test_users, key) if key else None
    sb = mk(nsfs, user, "s1")
    if umap:
        write_as(nsfs, user, sb / "uid_map", umap.format(uid=user.uid))
    if ns:
        write_as(nsfs, user, sb / "ctl", ns)
    # Start first: caps applies to jobs started later, running or not.
    run_ok(nsfs, user, sb, "true")
    write_as(nsfs, user, sb / "caps", "cap_net_bind_service=ep")
    assert "cap_net_bind_service" in nsfs.read(sb / "caps")
    st = job_status_inside(nsfs, user, sb)
    assert id_fields(st["Uid"])[0] == inside
    got = caps_of(st)
    want = {"CapInh": CAP_NET_BIND_SERVICE, "CapPrm": CAP_NET_BIND_SERVICE, "CapEff": CAP_NET_BIND_SERVICE,
            "CapBnd": CAP_NET_BIND_SERVICE, "CapAmb": CAP_NET_BIND_SERVICE if inside else 0}
    assert got == want, f"{setup}: {({k: hex(v) for k, v in got.items()})}"

    write_as(nsfs, user, sb / "caps", "none")
    assert nsfs.read(sb / "caps") == "none\n"
    got = caps_of(job_status_inside(nsfs, user, sb))
    assert got == dict.fromkeys(CAP_FIELDS, 0), f"{setup} with none: {({k: hex(v) for k, v in got.items()})}"


def test_caps_several(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "uid_map", f"1000 {a.uid} 1")
    write_as(nsfs, a, sb / "caps", "cap_chown,cap_kill=ep")
    want = (1 << 0) | (1 << 5)
    got = caps_of(job_status_inside(nsfs, a, sb))
    assert got == dict.fromkeys(CAP_FIELDS, want), {k: hex(v) for k, v in got.items()}


@pytest.mark.parametrize("value", [b"cap_bogus=ep", b"cap_chown=e", b"cap_chown=ep garbage+", b"\xff\xfe",
                                   b"all none", b"=ep\0", b"cap_chown=ep\ncap_kill=ep", b"\n"])
def test_caps_bad_text(nsfs, test_users, value):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "caps", "cap_kill=ep")
    rejected_as(nsfs, a, sb, "caps", value, errno.EINVAL)


# ==========================================================================
# Limits


def test_limit_sandboxes_per_user(nsfs, relaunch, test_users):
    relaunch("--max-sandboxes-per-user", "2")
    a, b = test_users.a, test_users.b
    mk(nsfs, a, "a1")
    mk(nsfs, a, "a2")
    expect_errno_as(a, errno.EDQUOT, user_mkdir, nsfs.mnt / "a3")
    assert not os.path.exists(nsfs.mnt / "a3")
    # Root is not counted, and others have their own count.
    for n in ("r1", "r2", "r3"):
        mk(nsfs, None, n)
    mk(nsfs, b, "b1")
    mk(nsfs, b, "b2")
    expect_errno_as(b, errno.EDQUOT, user_mkdir, nsfs.mnt / "b3")
    # The limit counts sandboxes that exist.
    as_user(a, os.rmdir, nsfs.mnt / "a1")
    mk(nsfs, a, "a3")
    assert sorted(os.listdir(nsfs.mnt)) == ["a2", "a3", "b1", "b2", "r1", "r2", "r3"]


def test_limit_jobs_per_sandbox(nsfs, relaunch, test_users):
    relaunch("--max-jobs-per-sandbox", "3")
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    for i in (1, 2, 3):
        assert exec_as(nsfs, a, sb, "true") == i
    expect_errno_as(a, errno.EDQUOT, exec_job, sb, "true")
    assert_one_error_line(nsfs, sb, "exec")
    expect_errno(errno.EDQUOT, nsfs.exec, sb, "true")
    assert sorted(os.listdir(sb / "jobs")) == ["1", "2", "3"]
    assert os.readlink(sb / "last") == "jobs/3"
    # Per sandbox.
    sb2 = mk(nsfs, a, "a2")
    assert exec_as(nsfs, a, sb2, "true") == 1


def test_limit_job_output(nsfs, relaunch, test_users):
    relaunch("--max-job-output", "64K")
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    jid = exec_as(nsfs, a, sb, "head -c 1048576 /dev/zero")
    assert nsfs.wait(sb, jid) == "signaled 25", "a job writing past --max-job-output is not ended by SIGXFSZ"
    assert os.stat(nsfs.job(sb, jid) / "stdout").st_size == 65536
    assert len(nsfs.read_bytes(nsfs.job(sb, jid) / "stdout")) == 65536
    jid = exec_as(nsfs, a, sb, "sh -c 'exec head -c 1048576 /dev/zero >&2'")
    assert nsfs.wait(sb, jid) == "signaled 25"
    assert len(nsfs.read_bytes(nsfs.job(sb, jid) / "stderr")) == 65536
    # Up to the limit is fine.
    jid = exec_as(nsfs, a, sb, "head -c 65536 /dev/zero")
    assert nsfs.wait(sb, jid) == "exited 0"
    assert len(nsfs.read_bytes(nsfs.job(sb, jid) / "stdout")) == 65536
    # Root's sandboxes too.
    r1 = mk(nsfs, None, "r1")
    jid = nsfs.exec(r1, "head -c 1048576 /dev/zero")
    assert nsfs.wait(r1, jid) == "signaled 25"
    assert len(nsfs.read_bytes(nsfs.job(r1, jid) / "stdout")) == 65536


@pytest.mark.parametrize("name", CONFIG_FILES + ("exec",))
def test_write_over_64k_is_efbig(nsfs, test_users, name):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    for size in (65537, 1 << 20):
        value = b"0" * size
        if name == "exec":
            expect_errno_as(a, errno.EFBIG, write_file, sb / name, value)
            assert_one_error_line(nsfs, sb, name)
        else:
            rejected_as(nsfs, a, sb, name, value, errno.EFBIG)
    # Exactly 64 KiB is not too large (just wrong).
    assert errno_as(a, write_file, sb / name, b"0" * 65536) != errno.EFBIG
    assert not os.listdir(sb / "jobs")


def test_hostname_length(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "hostname", "h" * 64)
    assert nsfs.read(sb / "hostname") == "h" * 64 + "\n"
    rejected_as(nsfs, a, sb, "hostname", "h" * 65, errno.EINVAL)


def test_name_length(nsfs, test_users):
    a = test_users.a
    mk(nsfs, a, "n" * 64)
    expect_errno_as(a, errno.EINVAL, user_mkdir, nsfs.mnt / ("n" * 65))


def test_rootfs_path_length(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    rejected_as(nsfs, a, sb, "rootfs", "/" + "a" * 4096, errno.E2BIG)


def test_directives_per_write(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "ctl", "\n".join(["ns user uts"] * 16))
    rejected_as(nsfs, a, sb, "ctl", "\n".join(["ns user pid"] * 17), errno.E2BIG)
    assert nsfs.read(sb / "ctl") == "ns user uts\n"


# ==========================================================================
# The daemon's own boundary


def test_supervisor_environment_and_groups(nsfs, test_users):
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "ctl", "start")
    sups = {int(p.read_text()) for p in Path(nsfs.state).rglob("supervisor.pid")}
    assert sups, "no supervisor found"
    for pid in sups:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
        # Nothing of nsfsd's environment but the sanitizers' settings,
        # which a sanitizer build passes on so supervisors report too.
        names = {v.split(b"=", 1)[0] for v in env.split(b"\0") if v}
        assert names <= {b"ASAN_OPTIONS", b"UBSAN_OPTIONS", b"LSAN_OPTIONS"}, \
            f"supervisor {pid} has an environment: {env[:200]!r}"
        for name in names:
            assert os.environ.get(name.decode()) is not None, f"supervisor {pid} has {name!r} that nsfsd lacks"
        with open(f"/proc/{pid}/status") as f:
            st = proc_status(f.read())
        assert st["Groups"] == "", f"supervisor {pid} has groups {st['Groups']}"
    mode = stat.S_IMODE(os.stat(nsfs.state).st_mode)
    assert mode & 0o077 == 0, f"state dir mode {oct(mode)}"


def test_documented_nsenter_example(nsfs, test_users):
    """docs/reference.md: "An unprivileged owner enters its sandbox's
    namespaces with its user namespace first, keeping its own credentials,
    e.g. `nsenter --preserve-credentials --user=ns/user --uts=ns/uts
    hostname`" -- as written, for a sandbox with default maps."""
    if not shutil.which("nsenter"):
        pytest.skip("nsenter is missing")
    a = test_users.a
    sb = mk(nsfs, a, "a1")
    write_as(nsfs, a, sb / "hostname", "owned-by-a")
    write_as(nsfs, a, sb / "ctl", "start")
    r = run_as(a, ["nsenter", "--preserve-credentials", f"--user={sb}/ns/user", f"--uts={sb}/ns/uts", "hostname"],
               cwd=str(sb))
    assert r.returncode == 0 and r.stdout == "owned-by-a\n", (
        f"the documented nsenter command fails for the owner: {r.stderr.strip()!r} "
        f"(setgroups is denied in the sandbox; nsenter needs --preserve-credentials)")
