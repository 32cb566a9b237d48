"""Configuration files (INTERFACE §3) and their errors (§5)."""

import errno
import os
import re
import subprocess

import pytest

from nsfs_util import expect_errno

ALL_NS = "ns cgroup ipc mnt net pid time user uts\n"
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9.-]{1,64}$")


def rejected(nsfs, sb, name, value, errnos):
    """Writing VALUE to SB/NAME fails with ERRNOS, leaves the old value, and
    leaves one line naming NAME in `error`."""
    old = nsfs.read(sb / name)
    expect_errno(errnos, nsfs.write, sb / name, value)
    assert nsfs.read(sb / name) == old, f"{name} changed by a rejected write of {value!r}"
    err = nsfs.read(sb / "error")
    assert err.endswith("\n") and err.count("\n") == 1, f"error is not one line: {err!r}"
    assert name in err, f"error does not name {name}: {err!r}"
    return err


# A zero-byte write(2) never reaches a FUSE file system, so the empty
# value of a file is always written as a lone newline.

# ---------------------------------------------------------------- ctl


def test_ctl_default(nsfs, web):
    assert nsfs.read(web / "ctl") == ALL_NS


@pytest.mark.parametrize("value, expected", [
    ("ns uts pid", "ns pid uts\n"),
    ("ns user", "ns user\n"),
    ("ns uts pid\n", "ns pid uts\n"),
    ("  ns   net\tuts  ", "ns net uts\n"),
    ("ns user uts time pid net mnt ipc cgroup", ALL_NS),
])
def test_ctl_ns_readback(nsfs, web, value, expected):
    nsfs.write(web / "ctl", value)
    assert nsfs.read(web / "ctl") == expected


def test_ctl_last_ns_line_wins(nsfs, web):
    nsfs.write(web / "ctl", "ns uts\nns pid ipc\n")
    assert nsfs.read(web / "ctl") == "ns ipc pid\n"


def test_ctl_via_shell_redirect(nsfs, web):
    r = nsfs.sh(f"echo 'ns uts' > {web}/ctl")
    assert r.returncode == 0, r.stderr
    assert nsfs.read(web / "ctl") == "ns uts\n"


@pytest.mark.parametrize("value", [
    "\n",
    "ns",
    "ns bogus",
    "ns uts uts",
    "frobnicate",
    "start now",
    "stop please",
    "kill NOSUCHSIG",
    "kill 1 2",
    "kill 99999",
    "ns uts\0pid",
    "ns uts\nbogus",
])
def test_ctl_rejects(nsfs, web, value):
    nsfs.write(web / "ctl", "ns uts pid")
    rejected(nsfs, web, "ctl", value, errno.EINVAL)
    assert nsfs.status(web)["state"] == "created"


def test_ctl_ns_busy_while_running(nsfs, web):
    nsfs.start(web)
    rejected(nsfs, web, "ctl", "ns uts", errno.EBUSY)
    rejected(nsfs, web, "ctl", ALL_NS, errno.EBUSY)
    nsfs.ctl(web, "stop")
    nsfs.write(web / "ctl", "ns uts")
    assert nsfs.read(web / "ctl") == "ns uts\n"


def test_ctl_failed_start_leaves_the_ns_set(nsfs, web, tmp_path):
    """`ns ...` then a `start` that cannot start: the write fails as a
    whole, so the namespace set it would have changed stays as it was and
    `error` names the line that failed."""
    empty = tmp_path / "empty-root"  # no /proc or /dev to mount on
    empty.mkdir()
    nsfs.write(web / "rootfs", str(empty))
    before = nsfs.read(web / "ctl")
    err = rejected(nsfs, web, "ctl", "ns user mnt pid\nstart\n", errno.ENOENT)
    assert "line 2" in err and "start" in err, err
    assert nsfs.read(web / "ctl") == before
    assert nsfs.status(web)["state"] == "created"


def test_ctl_busy_names_its_line(nsfs, web):
    nsfs.start(web)
    err = rejected(nsfs, web, "ctl", "kill TERM\nns uts\n", errno.EBUSY)
    assert "line 2" in err, err
    assert nsfs.status(web)["state"] == "running"


def test_ctl_ns_after_start_in_one_write_is_refused_whole(nsfs, web):
    """`start` then `ns` in one write was checked against the state before
    the write: the sandbox started and its set changed under the running
    init, so status and ns/ showed namespaces it did not have."""
    err = rejected(nsfs, web, "ctl", "start\nns uts\n", errno.EBUSY)
    assert "line 2" in err, err
    st = nsfs.status(web)
    assert st["state"] == "created", st
    assert st["ns"] == "cgroup ipc mnt net pid time user uts", st


def test_ctl_stop_then_ns_then_start_in_one_write(nsfs, web):
    nsfs.start(web)
    nsfs.write(web / "ctl", "stop\nns user uts\nstart\n")
    st = nsfs.status(web)
    assert st["state"] == "running" and st["ns"] == "user uts", st


# ---------------------------------------------------------------- uid_map, gid_map

MAPS = ("uid_map", "gid_map")


@pytest.mark.parametrize("name", MAPS)
def test_map_default(nsfs, web, name):
    own = os.getuid() if name == "uid_map" else os.getgid()
    assert nsfs.read(web / name) == f"0 {own} 1\n"


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("value, expected", [
    ("0 0 1", "0 0 1\n"),
    ("1000 0 1\n", "1000 0 1\n"),
    ("0 0 1\n1 100000 65536", "0 0 1\n1 100000 65536\n"),
    ("0 0 1\n1 100000 65536\n", "0 0 1\n1 100000 65536\n"),
])
def test_map_readback(nsfs, web, name, value, expected):
    nsfs.write(web / name, value)
    assert nsfs.read(web / name) == expected


@pytest.mark.parametrize("name", MAPS)
def test_map_340_lines(nsfs, web, name):
    # 340 lines is the kernel's limit, and so is one write under 4096 bytes:
    # short lines fit both.
    text = "".join(f"{k} {1000 + k} 1\n" for k in range(340))
    assert len(text) < 4096
    nsfs.write(web / name, text)
    assert nsfs.read(web / name) == text
    too_many = text + "340 1340 1\n"
    rejected(nsfs, web, name, too_many, (errno.EINVAL, errno.E2BIG))
    # The kernel takes a map in one write under 4096 bytes: 340 lines of
    # large ids fit when adjacent ones join (they are given to it joined)...
    wide = "".join(f"{k} {100000 + k} 1\n" for k in range(340))
    assert len(wide) >= 4096
    nsfs.write(web / name, wide)
    assert nsfs.read(web / name) == wide
    # ...and are refused when they do not.
    too_wide = "".join(f"{2 * k} {100000 + 2 * k} 1\n" for k in range(340))
    assert len(too_wide) >= 4096
    rejected(nsfs, web, name, too_wide, (errno.EINVAL,))
    assert nsfs.read(web / name) == wide


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("value", [
    "\n",
    "0 0",
    "0 0 0",
    "a b c",
    "0 0 1 9",
    "-1 0 1",
    "0 -1 1",
    "0 0 1x",
    "0x10 0 1",
    "4294967296 0 1",
    "0 4294967295 1",
    "1 0 4294967295",        # inside range runs past 4294967294
    "0 1 4294967295",        # outside range runs past 4294967294
    "0 0 10\n5 100 10",      # inside ranges overlap
    "0 0 10\n100 5 10",      # outside ranges overlap
    "0 0 1\n\n1 1 1",        # empty line
    "0 0 1\n\n",             # two trailing newlines
    "0 0 1\0",
])
def test_map_rejects(nsfs, web, name, value):
    nsfs.write(web / name, "0 0 1\n1 100000 1000")
    rejected(nsfs, web, name, value, errno.EINVAL)


@pytest.mark.parametrize("name", MAPS)
def test_map_busy_while_running(nsfs, web, name):
    nsfs.start(web)
    old = nsfs.read(web / name)
    rejected(nsfs, web, name, "0 0 1\n1 100000 1000", errno.EBUSY)
    # Even the value it already has.
    rejected(nsfs, web, name, old, errno.EBUSY)


@pytest.mark.parametrize("name", MAPS)
def test_map_via_shell_redirect(nsfs, web, name):
    r = nsfs.sh(f"echo '7 0 1' > {web}/{name}")
    assert r.returncode == 0, r.stderr
    assert nsfs.read(web / name) == "7 0 1\n"
    # A bad write fails in write(2), where the shell sees it.  (coreutils
    # echo names the errno; dash's builtin says only "I/O error".)
    r = nsfs.sh(f"/bin/echo 'x y z' > {web}/{name}")
    assert r.returncode != 0
    assert "Invalid argument" in r.stderr
    assert nsfs.read(web / name) == "7 0 1\n"


# ---------------------------------------------------------------- hostname


def test_hostname_default_is_the_name(nsfs, web):
    assert nsfs.read(web / "hostname") == "web\n"


def test_hostname_default_is_valid_for_any_name(nsfs):
    sb = nsfs.sandbox("my_box.1")
    value = nsfs.read(sb / "hostname")
    assert value.endswith("\n")
    assert HOSTNAME_RE.match(value[:-1]), value


@pytest.mark.parametrize("value, expected", [
    ("web1", "web1\n"),
    ("web1\n", "web1\n"),
    ("a.b-c", "a.b-c\n"),
    ("X" * 64, "X" * 64 + "\n"),
    ("9", "9\n"),
])
def test_hostname_readback(nsfs, web, value, expected):
    nsfs.write(web / "hostname", value)
    assert nsfs.read(web / "hostname") == expected


@pytest.mark.parametrize("value", [
    "\n",
    "a" * 65,
    "bad_name",
    "has space",
    "caf\u00e9",
    "a\nb",
    "web1\n\n",
    "web1\0",
    "web/1",
])
def test_hostname_rejects(nsfs, web, value):
    nsfs.write(web / "hostname", "good")
    rejected(nsfs, web, "hostname", value, errno.EINVAL)


def test_hostname_huge_write(nsfs, web):
    rejected(nsfs, web, "hostname", "a" * 200000, (errno.EINVAL, errno.E2BIG, errno.EFBIG))
    nsfs.write(web / "hostname", "still-works")
    assert nsfs.read(web / "hostname") == "still-works\n"


def test_hostname_writable_while_running(nsfs, web):
    nsfs.start(web)
    nsfs.write(web / "hostname", "live")
    assert nsfs.read(web / "hostname") == "live\n"


def test_hostname_via_shell_redirect(nsfs, web):
    r = nsfs.sh(f"echo web2 > {web}/hostname")
    assert r.returncode == 0, r.stderr
    assert nsfs.read(web / "hostname") == "web2\n"
    r = nsfs.sh(f"printf web3 > {web}/hostname")
    assert r.returncode == 0, r.stderr
    assert nsfs.read(web / "hostname") == "web3\n"
    r = nsfs.sh(f"/bin/echo bad_name > {web}/hostname")
    assert r.returncode != 0
    assert "Invalid argument" in r.stderr
    assert nsfs.read(web / "hostname") == "web3\n"


# ---------------------------------------------------------------- rootfs


def test_rootfs_default_is_empty(nsfs, web):
    assert nsfs.read(web / "rootfs") in ("", "\n")


def test_rootfs_readback(nsfs, web, tmp_path):
    nsfs.write(web / "rootfs", str(tmp_path))
    assert nsfs.read(web / "rootfs") == f"{tmp_path}\n"
    nsfs.write(web / "rootfs", f"{tmp_path}\n")
    assert nsfs.read(web / "rootfs") == f"{tmp_path}\n"
    nsfs.write(web / "rootfs", "/")
    assert nsfs.read(web / "rootfs") == "/\n"
    # Empty means the host's / again.  (A zero-byte write never reaches a
    # FUSE file system, so "empty" is written as a lone newline.)
    nsfs.write(web / "rootfs", "\n")
    assert nsfs.read(web / "rootfs") in ("", "\n")


@pytest.mark.parametrize("value, errnos", [
    ("relative/path", errno.EINVAL),
    ("tmp", errno.EINVAL),
    ("/nonexistent/nsfs-test-xyz", errno.ENOENT),
    ("/etc/passwd", (errno.ENOTDIR, errno.EINVAL)),
    ("/tmp\n/usr", errno.EINVAL),
    ("/tmp\0", errno.EINVAL),
    ("/tmp\n\n", errno.EINVAL),
    ("/" + "a" * 5000, (errno.E2BIG, errno.ENAMETOOLONG, errno.EINVAL)),
])
def test_rootfs_rejects(nsfs, web, tmp_path, value, errnos):
    nsfs.write(web / "rootfs", str(tmp_path))
    rejected(nsfs, web, "rootfs", value, errnos)


def test_rootfs_busy_while_running(nsfs, web, tmp_path):
    nsfs.start(web)
    rejected(nsfs, web, "rootfs", str(tmp_path), errno.EBUSY)
    rejected(nsfs, web, "rootfs", "\n", errno.EBUSY)


def truncate_by_open(path):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)


def truncate_by_shell(path):
    subprocess.run(["sh", "-c", ': > "$1"', "sh", str(path)], check=True)


@pytest.mark.parametrize("how", [truncate_by_open, truncate_by_shell, lambda p: os.truncate(p, 0)],
                         ids=["open-close", "shell", "truncate"])
def test_rootfs_emptied_without_a_write_is_the_hosts_root(nsfs, web, tmp_path, how):
    """`: > rootfs` or Python's write_text("") make no write(2): the file
    was opened with O_TRUNC and closed.  That is the empty value too."""
    nsfs.write(web / "rootfs", str(tmp_path))
    how(web / "rootfs")
    assert nsfs.read(web / "rootfs") in ("", "\n")
    assert nsfs.run(web, "test -d /proc/1")[0] == "exited 0"


def test_rootfs_opened_with_o_trunc_keeps_what_is_written(nsfs, web, tmp_path):
    nsfs.write(web / "rootfs", str(tmp_path))
    fd = os.open(web / "rootfs", os.O_WRONLY | os.O_TRUNC)
    try:
        expect_errno(errno.ENOENT, os.write, fd, b"/nonexistent/nsfs-test-xyz")
    finally:
        os.close(fd)
    assert nsfs.read(web / "rootfs") == f"{tmp_path}\n"
    fd = os.open(web / "rootfs", os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"/")
    os.close(fd)
    assert nsfs.read(web / "rootfs") == "/\n"


def test_rootfs_bad_value_from_the_shell_keeps_the_old_one(nsfs, web, tmp_path):
    """sh closes a dup of the file (a flush, which stores the empty value
    of `: > rootfs`) before `echo` writes the value: the write's failure
    must still leave the value from before the redirection."""
    nsfs.write(web / "rootfs", str(tmp_path))
    sh = subprocess.run(["sh", "-c", 'echo /nonexistent/nsfs-test-xyz > "$1"', "sh", str(web / "rootfs")],
                        capture_output=True, text=True)
    assert sh.returncode != 0, sh  # dash says "I/O error" whatever the errno
    assert nsfs.read(web / "rootfs") == f"{tmp_path}\n"
    assert "nsfs-test-xyz" in nsfs.read(web / "error")
    subprocess.run(["sh", "-c", 'echo / > "$1"', "sh", str(web / "rootfs")], check=True)
    assert nsfs.read(web / "rootfs") == "/\n"


def test_rootfs_put_back_after_a_failed_write_keeps_other_changes(nsfs, web, tmp_path):
    """Between the close that stored the empty value and the write that
    failed, other files may change: only rootfs goes back."""
    nsfs.write(web / "rootfs", str(tmp_path))
    fd = os.open(web / "rootfs", os.O_WRONLY | os.O_TRUNC)
    try:
        os.close(os.dup(fd))  # what sh does before echo writes
        assert nsfs.read(web / "rootfs") in ("", "\n")
        nsfs.write(web / "hostname", "changed-meanwhile")
        expect_errno(errno.ENOENT, os.write, fd, b"/nonexistent/nsfs-test-xyz")
    finally:
        os.close(fd)
    assert nsfs.read(web / "rootfs") == f"{tmp_path}\n"
    assert nsfs.read(web / "hostname") == "changed-meanwhile\n"


def test_rootfs_not_put_back_over_a_value_stored_since(nsfs, web, tmp_path):
    """The value stored after the close, even an empty one again, is what
    a later failed write on that open leaves: nothing is put back."""
    nsfs.write(web / "rootfs", str(tmp_path))
    fd = os.open(web / "rootfs", os.O_WRONLY | os.O_TRUNC)
    try:
        os.close(os.dup(fd))
        nsfs.write(web / "rootfs", "/")
        truncate_by_open(web / "rootfs")
        expect_errno(errno.ENOENT, os.write, fd, b"/nonexistent/nsfs-test-xyz")
    finally:
        os.close(fd)
    assert nsfs.read(web / "rootfs") in ("", "\n")


def test_rootfs_put_back_after_a_write_too_large(nsfs, web, tmp_path):
    nsfs.write(web / "rootfs", str(tmp_path))
    fd = os.open(web / "rootfs", os.O_WRONLY | os.O_TRUNC)
    try:
        os.close(os.dup(fd))
        expect_errno(errno.EFBIG, os.write, fd, b"/" * (70 * 1024))
    finally:
        os.close(fd)
    assert nsfs.read(web / "rootfs") == f"{tmp_path}\n"


def test_rootfs_emptied_while_running_fails_at_close(nsfs, web):
    nsfs.start(web)
    fd = os.open(web / "rootfs", os.O_WRONLY | os.O_TRUNC)
    expect_errno(errno.EBUSY, os.close, fd)
    assert nsfs.read(web / "error").startswith("rootfs: ")


@pytest.mark.parametrize("name", ["ctl", "uid_map", "gid_map", "hostname", "exec"])
def test_truncating_other_files_changes_nothing(nsfs, web, name):
    before = nsfs.read(web / name)
    truncate_by_open(web / name)
    os.truncate(web / name, 0)
    assert nsfs.read(web / name) == before
    assert nsfs.read(web / "error") in ("", "\n")
    assert nsfs.status(web)["state"] == "created"


# ---------------------------------------------------------------- all together


def test_config_survives_reopen_and_is_per_sandbox(nsfs):
    a = nsfs.sandbox("a")
    b = nsfs.sandbox("b")
    nsfs.write(a / "hostname", "alpha")
    nsfs.write(a / "ctl", "ns uts")
    nsfs.write(a / "uid_map", "5 0 1")
    assert nsfs.read(a / "hostname") == "alpha\n"
    assert nsfs.read(b / "hostname") == "b\n"
    assert nsfs.read(b / "ctl") == ALL_NS
    assert nsfs.read(b / "uid_map") == f"0 {os.getuid()} 1\n"
    # An error in one sandbox is not reported in another.
    expect_errno(errno.EINVAL, nsfs.write, a / "hostname", "bad_name")
    assert "hostname" in nsfs.read(a / "error")
    assert "hostname" not in nsfs.read(b / "error")


def test_error_names_the_latest_failure(nsfs, web):
    expect_errno(errno.EINVAL, nsfs.write, web / "hostname", "bad_name")
    assert "hostname" in nsfs.read(web / "error")
    expect_errno(errno.EINVAL, nsfs.write, web / "uid_map", "1 2")
    err = nsfs.read(web / "error")
    assert "uid_map" in err and err.count("\n") == 1
