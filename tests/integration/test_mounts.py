"""Extra mounts: binds, tmpfs and an overlay root (INTERFACE §7, issue 17).

Every case runs on real mounts: the sandbox's mount namespace is looked at
through its jobs and through /proc/<init>/mountinfo, the host's through
this process's own.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from nsfs_util import TIMEOUT, expect_errno, needs_root, supervisor_pid, wait_until
from users import as_user, errno_as, exec_job, read_file, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root


def run_ok(nsfs, sb, cmd):
    status, out, err = nsfs.run(sb, cmd)
    assert status == "exited 0", f"{cmd!r}: {status}; stderr {err!r}"
    return out


# Where a test's mounts could show on the host if they leaked: the paths
# the tests name as destinations, and the temporary trees they make.
WATCHED = ("/", "/mnt", "/tmp", "/src", "/data", "/opt", "/escape", "/escape2", "/escape3", "/nonexistent-nsfs-dir",
           "/etc/resolv.conf", "/tmp/nsfs-mounts-")


def host_mount_points() -> list:
    """The host's mount points where this module's mounts could leak to
    (not the whole table: other tests' nsfsd mount and unmount meanwhile),
    each as often as it is mounted on (one stacked on / shows as a second
    "/")."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return sorted(p for p in points if p in WATCHED or p.startswith("/tmp/nsfs-mounts-"))


@pytest.fixture
def shared_dir():
    """A directory every test user can reach (pytest's tmp_path is
    root's alone), removed at the end."""
    top = Path(tempfile.mkdtemp(prefix="nsfs-mounts-", dir="/tmp"))
    os.chmod(top, 0o755)
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def src(shared_dir):
    """A host directory with a file in it, to bind."""
    d = shared_dir / "src"
    d.mkdir()
    (d / "hello.txt").write_text("hello from the host\n")
    return d


@pytest.fixture
def rootfs_copy(busybox_rootfs, shared_dir):
    """A busybox rootfs of this test's own (the overlay tests check that
    it is never written), readable by every user."""
    root = shared_dir / "rootfs"
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    for d in ("src", "data", "mnt"):
        (root / d).mkdir(exist_ok=True)
    (root / "etc" / "resolv.conf").write_text("# the rootfs's own\n")
    return root


def tree_digest(root: Path) -> list:
    """Every path under ROOT with its type, size and mtime."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.relpath(os.path.join(dirpath, name), root), st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)


# -- the file ---------------------------------------------------------------


def test_mounts_reads_back_normalized(nsfs, web, src):
    text = ("overlay\n"
            f"bind {src} /src\n"
            "\n"
            "  tmpfs   /tmp size=256m mode=1777  \n"
            "bind /etc/resolv.conf /etc/resolv.conf ro\n")
    nsfs.write(web / "mounts", text)
    assert nsfs.read(web / "mounts") == ("overlay\n"
                                         f"bind {src} /src\n"
                                         f"tmpfs /tmp size={256 << 20} mode=01777\n"
                                         "bind /etc/resolv.conf /etc/resolv.conf ro\n")
    # Empty by default, and emptied by an empty write.
    nsfs.write(web / "mounts", "")
    assert nsfs.read(web / "mounts") == ""


def test_a_malformed_line_keeps_the_old_value(nsfs, web, src):
    nsfs.write(web / "mounts", f"bind {src} /src\n")
    for bad, where in ((f"tmpfs /t\nbind {src} relative\n", "line 2"),
                       ("tmpfs /t size=12q\n", "line 1"),
                       ("tmpfs /t\nfrobnicate /x\n", "line 2"),
                       (f"bind {src}/../etc /x\n", "line 1"),
                       (f"bind {src} /x rw\n", "line 1")):
        expect_errno(errno.EINVAL, nsfs.write, web / "mounts", bad)
        assert nsfs.read(web / "mounts") == f"bind {src} /src\n"
        error = nsfs.error(web)
        assert error.startswith(f"mounts: {where}:"), error
        assert error.count("\n") == 1
    expect_errno(errno.E2BIG, nsfs.write, web / "mounts", "".join(f"tmpfs /t{i}\n" for i in range(65)))
    assert nsfs.read(web / "mounts") == f"bind {src} /src\n"
    nsfs.write(web / "mounts", "".join(f"tmpfs /t{i}\n" for i in range(64)))


def test_a_missing_source_is_enoent_at_the_write(nsfs, web, src):
    expect_errno(errno.ENOENT, nsfs.write, web / "mounts", f"tmpfs /t\nbind {src}/nonexistent /x\n")
    assert nsfs.read(web / "mounts") == ""
    assert nsfs.error(web).startswith("mounts: line 2: ")


def test_busy_while_running(nsfs, web, src):
    nsfs.start(web)
    expect_errno(errno.EBUSY, nsfs.write, web / "mounts", f"bind {src} /mnt\n")
    assert "mounts" in nsfs.error(web)
    nsfs.ctl(web, "stop")
    nsfs.write(web / "mounts", f"bind {src} /mnt\n")


def test_restart_keeps_mounts(nsfs, web, src):
    nsfs.write(web / "mounts", f"bind {src} /mnt ro\ntmpfs /tmp\n")
    nsfs.restart()
    assert nsfs.read(web / "mounts") == f"bind {src} /mnt ro\ntmpfs /tmp mode=0755\n"


# -- binds and tmpfs on the host's root -------------------------------------


def test_bind_and_tmpfs_without_a_rootfs(nsfs, web, src):
    before = host_mount_points()
    nsfs.write(web / "mounts", f"bind {src} /mnt\ntmpfs /tmp size=1m mode=1777\n")
    assert run_ok(nsfs, web, "cat /mnt/hello.txt") == "hello from the host\n"
    # Read-write: the job's file is on the host.
    run_ok(nsfs, web, "sh -c 'echo made inside > /mnt/made'")
    assert (src / "made").read_text() == "made inside\n"
    # A fresh, empty tmpfs of that size and mode.
    assert run_ok(nsfs, web, "sh -c 'ls -A /tmp | wc -l'").strip() == "0"
    assert run_ok(nsfs, web, "stat -c %a /tmp") == "1777\n"
    assert run_ok(nsfs, web, "stat -f -c %t /tmp").strip() == "1021994"  # TMPFS_MAGIC
    assert run_ok(nsfs, web, "df -k --output=size /tmp").split()[-1] == "1024"
    # Only in the sandbox's mount namespace.
    assert host_mount_points() == before
    init = nsfs.status(web)["pid"]
    with open(f"/proc/{init}/mountinfo") as f:
        inside = {line.split()[4] for line in f}
    assert {"/mnt", "/tmp"} <= inside
    nsfs.ctl(web, "stop")
    assert host_mount_points() == before


def test_bind_ro(nsfs, web, src):
    nsfs.write(web / "mounts", f"bind {src} /mnt ro\n")
    assert run_ok(nsfs, web, "cat /mnt/hello.txt") == "hello from the host\n"
    status, _, err = nsfs.run(web, "sh -c 'echo x > /mnt/new'")
    assert status != "exited 0"
    assert "Read-only file system" in err
    assert not (src / "new").exists()


def test_a_source_gone_by_start_is_enoent(nsfs, web, shared_dir):
    gone = shared_dir / "gone"
    gone.mkdir()
    nsfs.write(web / "mounts", f"tmpfs /tmp\nbind {gone} /mnt\n")
    gone.rmdir()
    expect_errno(errno.ENOENT, nsfs.ctl, web, "start")
    error = nsfs.error(web)
    assert "mounts: line 2" in error and str(gone) in error, error
    assert nsfs.status(web)["state"] != "running"


def test_a_missing_destination_is_enoent_naming_the_line(nsfs, web, src):
    before = host_mount_points()
    nsfs.write(web / "mounts", f"tmpfs /tmp\nbind {src} /nonexistent-nsfs-dir\n")
    expect_errno(errno.ENOENT, nsfs.ctl, web, "start")
    error = nsfs.error(web)
    assert "mounts: line 2" in error and "/nonexistent-nsfs-dir" in error, error
    # Nothing was made on the host to serve as a mount point.
    assert not os.path.exists("/nonexistent-nsfs-dir")
    assert host_mount_points() == before


def test_mount_points_are_made_under_a_tmpfs(nsfs, web, src, shared_dir):
    (shared_dir / "file.txt").write_text("a file\n")
    nsfs.write(web / "mounts", f"tmpfs /mnt\nbind {src} /mnt/a/b/src ro\nbind {shared_dir}/file.txt /mnt/f.txt\n")
    assert run_ok(nsfs, web, "cat /mnt/a/b/src/hello.txt") == "hello from the host\n"
    assert run_ok(nsfs, web, "cat /mnt/f.txt") == "a file\n"
    assert run_ok(nsfs, web, "sh -c 'test -f /mnt/f.txt && test -d /mnt/a/b/src && echo ok'") == "ok\n"


def test_no_mount_point_is_made_in_a_bind_under_a_tmpfs(nsfs, web, src, shared_dir):
    """The path lies under the tmpfs of line 1, but its parent is the bind
    of line 2, a host directory: nothing may be made there."""
    other = shared_dir / "other"
    other.mkdir()
    nsfs.write(web / "mounts", f"tmpfs /mnt\nbind {src} /mnt/src\nbind {other} /mnt/src/new\n")
    expect_errno(errno.ENOENT, nsfs.ctl, web, "start")
    assert "mounts: line 3" in nsfs.error(web)
    assert not (src / "new").exists()


def test_mounts_need_mnt(nsfs, web, src):
    nsfs.write(web / "mounts", f"bind {src} /mnt\n")
    nsfs.ctl(web, "ns user pid uts ipc net")
    expect_errno(errno.EINVAL, nsfs.ctl, web, "start")
    assert "mnt" in nsfs.error(web)


# -- a rootfs ---------------------------------------------------------------


def test_binds_into_a_rootfs(nsfs, web, rootfs_copy, src):
    nsfs.write(web / "rootfs", str(rootfs_copy))
    nsfs.write(web / "mounts", f"bind {src} /src\nbind /etc/hostname /etc/resolv.conf ro\ntmpfs /data mode=700\n")
    assert run_ok(nsfs, web, "cat /src/hello.txt") == "hello from the host\n"
    with open("/etc/hostname") as f:
        assert run_ok(nsfs, web, "cat /etc/resolv.conf") == f.read()
    assert run_ok(nsfs, web, "stat -c %a /data") == "700\n"
    # /proc and /dev come after the lines, as ever.
    assert run_ok(nsfs, web, "sh -c 'test -c /dev/null && test -r /proc/self/status && echo ok'") == "ok\n"
    assert (rootfs_copy / "etc" / "resolv.conf").read_text() == "# the rootfs's own\n"


def test_a_symlink_in_the_rootfs_cannot_point_a_mount_at_the_host(nsfs, web, rootfs_copy, src, shared_dir):
    """/escape in the rootfs is a symlink to a host path: resolved inside
    the sandbox's root, it names the same path within the rootfs."""
    target = shared_dir / "host-target"
    target.mkdir()
    inside = rootfs_copy / str(target).lstrip("/")
    inside.mkdir(parents=True)
    os.symlink(str(target), rootfs_copy / "escape")
    # Absolute and relative links alike.
    os.symlink("../../../../../../../../" + str(target).lstrip("/"), rootfs_copy / "escape2")
    nsfs.write(web / "rootfs", str(rootfs_copy))
    before = host_mount_points()
    for link in ("/escape", "/escape2"):
        nsfs.write(web / "mounts", f"bind {src} {link}\n")
        init = nsfs.start(web)
        assert host_mount_points() == before
        assert os.listdir(target) == []
        assert os.listdir(f"/proc/{init}/root/{target}") == ["hello.txt"]
        assert os.listdir(inside) == []
        nsfs.ctl(web, "stop")
    # A link to a path the rootfs lacks is a missing destination.
    os.symlink("/nonexistent-nsfs-dir", rootfs_copy / "escape3")
    nsfs.write(web / "mounts", f"bind {src} /escape3\n")
    expect_errno(errno.ENOENT, nsfs.ctl, web, "start")
    assert not os.path.exists("/nonexistent-nsfs-dir")


# -- overlay ----------------------------------------------------------------


def test_overlay_needs_a_rootfs(nsfs, web):
    nsfs.write(web / "mounts", "overlay\n")
    expect_errno(errno.EINVAL, nsfs.ctl, web, "start")
    assert "overlay needs a rootfs" in nsfs.error(web)


def test_overlay_the_issues_walkthrough(nsfs, web, rootfs_copy, src):
    """The issue's example: writes go to the upper layer, kept across stop
    and start, gone with rmdir; the rootfs is never written."""
    before = tree_digest(rootfs_copy)
    nsfs.write(web / "rootfs", str(rootfs_copy))
    nsfs.write(web / "mounts", f"overlay\nbind {src} /src\ntmpfs /tmp size=256m mode=1777\n"
                               "bind /etc/hostname /etc/resolv.conf ro\n")
    run_ok(nsfs, web, "sh -c 'cd /src && cat hello.txt > copy && mkdir -p /usr/local && touch /usr/local/built'")
    run_ok(nsfs, web, "sh -c 'echo changed > /etc/nsfs-rootfs-marker && rm /bin/true && mkdir /newdir'")
    assert (src / "copy").read_text() == "hello from the host\n"
    nsfs.ctl(web, "stop")
    nsfs.ctl(web, "start")
    assert run_ok(nsfs, web, "ls /usr/local/built") == "/usr/local/built\n"
    assert run_ok(nsfs, web, "cat /etc/nsfs-rootfs-marker") == "changed\n"
    assert run_ok(nsfs, web, "sh -c 'test -e /bin/true || echo gone'") == "gone\n"
    # The rootfs itself is untouched.
    assert tree_digest(rootfs_copy) == before
    upper = nsfs.state / "sandboxes" / "web" / "overlay"
    assert upper.is_dir()
    sup = supervisor_pid(nsfs, "web")
    os.rmdir(web)
    assert not upper.exists()
    wait_until(lambda: not os.path.exists(f"/proc/{sup}"), what="the supervisor to exit")
    # A new sandbox of the same name starts from the rootfs again.
    web = nsfs.sandbox("web")
    nsfs.write(web / "rootfs", str(rootfs_copy))
    nsfs.write(web / "mounts", "overlay\n")
    assert run_ok(nsfs, web, "cat /etc/nsfs-rootfs-marker") == "nsfs busybox test rootfs\n"
    assert tree_digest(rootfs_copy) == before


def test_overlay_mount_points_are_made_in_the_upper_layer(nsfs, web, rootfs_copy, src):
    before = tree_digest(rootfs_copy)
    nsfs.write(web / "rootfs", str(rootfs_copy))
    nsfs.write(web / "mounts", f"overlay\nbind {src} /opt/project/src\n")
    assert run_ok(nsfs, web, "cat /opt/project/src/hello.txt") == "hello from the host\n"
    assert tree_digest(rootfs_copy) == before


def test_overlay_nothing_on_the_host(nsfs, web, rootfs_copy):
    before = host_mount_points()
    nsfs.write(web / "rootfs", str(rootfs_copy))
    nsfs.write(web / "mounts", "overlay\n")
    init = nsfs.start(web)
    with open(f"/proc/{init}/mountinfo") as f:
        assert any(" - overlay " in line for line in f)
    assert host_mount_points() == before
    nsfs.ctl(web, "stop")
    assert host_mount_points() == before


# -- an unprivileged owner --------------------------------------------------


def owner_box_binding_its_dir(nsfs, a, shared_dir):
    """A's sandbox `box` with its own directory `mine` bound on /mnt."""
    mine = shared_dir / "mine"
    mine.mkdir()
    os.chown(mine, a.uid, a.gid)
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    as_user(a, write_file, box / "mounts", f"bind {mine} /mnt\n")
    return box, mine


def test_owner_binds_its_own_directory(nsfs, test_users, shared_dir):
    a = test_users.a
    box, mine = owner_box_binding_its_dir(nsfs, a, shared_dir)
    jid = as_user(a, exec_job, box, "sh -c 'touch /mnt/made && id -u'")
    wait_until(lambda: read_file(box / "jobs" / str(jid) / "status") != b"running\n", what="the job")
    assert as_user(a, read_file, box / "jobs" / str(jid) / "status") == b"exited 0\n"
    st = os.stat(mine / "made")
    assert (st.st_uid, st.st_gid) == (a.uid, a.gid)


def test_owner_cannot_bind_what_it_cannot_reach(nsfs, test_users, shared_dir):
    a = test_users.a
    secret = shared_dir / "secret"
    secret.mkdir(mode=0o700)
    (secret / "inner").mkdir()
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    assert errno_as(a, write_file, box / "mounts", f"bind {secret}/inner /mnt\n") == errno.EACCES
    assert as_user(a, read_file, box / "mounts") == b""
    assert b"mounts: line 1" in as_user(a, read_file, box / "error")
    # Not even the existence of what lies behind it shows: a missing path
    # there is refused the same way.
    assert errno_as(a, write_file, box / "mounts", f"bind {secret}/nothing /mnt\n") == errno.EACCES


def test_owner_loses_access_before_start(nsfs, test_users, shared_dir):
    a = test_users.a
    box, _ = owner_box_binding_its_dir(nsfs, a, shared_dir)
    os.chmod(shared_dir, 0o700)
    try:
        assert errno_as(a, write_file, box / "ctl", "start\n") == errno.EACCES
        assert b"mounts: line 1" in as_user(a, read_file, box / "error")
    finally:
        os.chmod(shared_dir, 0o755)


def test_owner_overlay(nsfs, test_users, rootfs_copy, shared_dir):
    """A non-root owner's overlay works on this kernel: nsfsd mounts it
    for the sandbox.  The sandbox's root owns /, so it may write there."""
    a = test_users.a
    before = tree_digest(rootfs_copy)
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    as_user(a, write_file, box / "rootfs", str(rootfs_copy))
    as_user(a, write_file, box / "mounts", "overlay\n")
    jid = as_user(a, exec_job, box, "sh -c 'echo hi > /made && cat /made && cat /etc/nsfs-rootfs-marker'")
    wait_until(lambda: read_file(box / "jobs" / str(jid) / "status") != b"running\n", what="the job")
    assert read_file(box / "jobs" / str(jid) / "status") == b"exited 0\n", read_file(box / "jobs" / str(jid) / "stderr")
    assert read_file(box / "jobs" / str(jid) / "stdout") == b"hi\nnsfs busybox test rootfs\n"
    upper = nsfs.state / "sandboxes" / "box" / "overlay" / "upper"
    assert os.stat(upper / "made").st_uid == a.uid
    assert tree_digest(rootfs_copy) == before
    as_user(a, os.rmdir, box)
    assert not upper.exists()


def test_owner_overlay_of_a_rootfs_it_cannot_reach(nsfs, test_users, rootfs_copy, shared_dir):
    a = test_users.a
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    as_user(a, write_file, box / "rootfs", str(rootfs_copy))
    as_user(a, write_file, box / "mounts", "overlay\n")
    os.chmod(shared_dir, 0o700)
    try:
        assert errno_as(a, write_file, box / "ctl", "start\n") == errno.EACCES
    finally:
        os.chmod(shared_dir, 0o755)


def test_a_restarted_nsfsd_empties_the_trash(nsfs):
    """What an nsfsd that ended mid-deletion left in <state>/trash goes
    when the next one starts."""
    left = nsfs.state / "trash" / "web.1.1"
    (left / "overlay" / "upper" / "usr").mkdir(parents=True)
    (left / "overlay" / "upper" / "usr" / "file").write_text("x")
    nsfs.restart()
    wait_until(lambda: not left.exists(), what="the trash to be emptied")
