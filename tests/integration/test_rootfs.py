"""Sandboxes with their own root file system (INTERFACE §3 rootfs)."""

import errno
import os
import subprocess

import pytest

import resources
from nsfs_util import TIMEOUT, expect_errno, timed

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


@pytest.fixture
def box(nsfs, busybox_rootfs):
    sb = nsfs.sandbox("web")
    nsfs.write(sb / "rootfs", str(busybox_rootfs))
    assert nsfs.read(sb / "rootfs") == f"{busybox_rootfs}\n"
    return sb


def run_ok(nsfs, sb, cmd):
    status, out, err = nsfs.run(sb, cmd)
    assert status == "exited 0", f"{cmd!r}: {status}; stderr {err!r}"
    return out


def test_rootfs_that_does_not_exist(nsfs, web, busybox_rootfs):
    expect_errno(errno.ENOENT, nsfs.write, web / "rootfs", str(busybox_rootfs / "nonexistent"))
    assert nsfs.read(web / "rootfs") in ("", "\n")
    assert "rootfs" in nsfs.read(web / "error")


def test_rootfs_relative_path(nsfs, web, busybox_rootfs):
    rel = os.path.relpath(busybox_rootfs, "/")
    expect_errno(errno.EINVAL, nsfs.write, web / "rootfs", rel)
    assert nsfs.read(web / "rootfs") in ("", "\n")
    assert "rootfs" in nsfs.read(web / "error")


def test_job_sees_the_rootfs(nsfs, box, busybox_rootfs):
    marker = (busybox_rootfs / "etc" / "nsfs-rootfs-marker").read_text()
    assert run_ok(nsfs, box, "cat /etc/nsfs-rootfs-marker") == marker
    top = set(run_ok(nsfs, box, "ls -a /").split())
    assert {"bin", "etc", "dev", "proc", "tmp"} <= top
    assert "work" not in top and "home" not in top, f"host directories visible: {top}"
    assert run_ok(nsfs, box, "pwd") == "/\n"


def test_identity_in_rootfs(nsfs, box):
    nsfs.write(box / "hostname", "web1")
    assert run_ok(nsfs, box, "id -u") == "0\n"
    assert run_ok(nsfs, box, "id -un") == "root\n"
    assert run_ok(nsfs, box, "hostname") == "web1\n"


def test_fresh_proc(nsfs, box):
    names = run_ok(nsfs, box, "ls /proc").split()
    pids = sorted(int(n) for n in names if n.isdigit())
    assert pids and pids[0] == 1, f"no pid 1 in the sandbox's /proc: {pids}"
    assert len(pids) < 10, f"/proc shows the host's processes: {pids}"
    assert "self" in names
    assert int(run_ok(nsfs, box, "sh -c 'echo $$'")) < 50
    # And /proc belongs to the sandbox's pid namespace.
    assert run_ok(nsfs, box, "readlink /proc/self/ns/pid") == \
        os.readlink(f"/proc/{nsfs.status(box)['pid']}/ns/pid") + "\n"


def test_minimal_dev(nsfs, box):
    names = set(run_ok(nsfs, box, "ls /dev").split())
    assert set(DEVICES) <= names, f"/dev lacks {set(DEVICES) - names}"
    script = "; ".join(f"test -c /dev/{d} || echo missing {d}" for d in DEVICES)
    assert run_ok(nsfs, box, f"sh -c '{script}'") == ""
    assert run_ok(nsfs, box, "sh -c 'head -c 4 /dev/zero | od -An -tx1'").split() == ["00"] * 4
    assert run_ok(nsfs, box, "sh -c 'head -c 16 /dev/urandom | wc -c'").strip() == "16"
    assert run_ok(nsfs, box, "sh -c 'echo x > /dev/null && echo ok'") == "ok\n"
    status, _, _ = nsfs.run(box, "sh -c 'echo x > /dev/full'")
    assert status != "exited 0"


def test_root_link_from_the_host(nsfs, box, busybox_rootfs):
    init = nsfs.start(box)
    assert os.readlink(box / "root") == f"/proc/{init}/root"
    etc = set(os.listdir(box / "root" / "etc"))
    assert {"nsfs-rootfs-marker", "passwd", "group"} <= etc
    r = subprocess.run(["ls", str(box / "root" / "etc")], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and "nsfs-rootfs-marker" in r.stdout.split()
    assert (box / "root" / "etc" / "nsfs-rootfs-marker").read_text() == \
        (busybox_rootfs / "etc" / "nsfs-rootfs-marker").read_text()
    # The sandbox's /proc is mounted in its own view only.
    assert os.path.isdir(box / "root" / "proc" / "1")


def test_rootfs_busy_while_running(nsfs, box, busybox_rootfs):
    nsfs.start(box)
    expect_errno(errno.EBUSY, nsfs.write, box / "rootfs", "/")
    expect_errno(errno.EBUSY, nsfs.write, box / "rootfs", "\n")
    assert nsfs.read(box / "rootfs") == f"{busybox_rootfs}\n"
    assert "rootfs" in nsfs.read(box / "error")
    nsfs.ctl(box, "stop")
    nsfs.write(box / "rootfs", "\n")
    assert nsfs.read(box / "rootfs") in ("", "\n")


def test_restart_with_rootfs(nsfs, box):
    assert run_ok(nsfs, box, "cat /etc/hostname") == "busybox-rootfs\n"
    nsfs.ctl(box, "stop")
    assert run_ok(nsfs, box, "cat /etc/hostname") == "busybox-rootfs\n"
    assert len([n for n in run_ok(nsfs, box, "ls /proc").split() if n.isdigit()]) < 10


def test_rootfs_needs_mnt_namespace(nsfs, web, busybox_rootfs):
    """rootfs without `mnt` in the set cannot work: the start fails with
    an error in `error` rather than leaking mounts into the host."""
    nsfs.write(web / "ctl", "ns uts pid")
    try:
        nsfs.write(web / "rootfs", str(busybox_rootfs))
    except OSError:
        pass  # refused up front: fine too
    else:
        with pytest.raises(OSError):
            nsfs.ctl(web, "start")
        assert nsfs.status(web)["state"] != "running"
    err = nsfs.read(web / "error")
    assert "rootfs" in err or "mnt" in err, err


def test_no_mounts_leak_to_the_host(nsfs, busybox_rootfs):
    def rootfs_mounts():
        root = os.path.realpath(busybox_rootfs)
        return [m for m in resources.mounts() if m[0].startswith(root)]

    before = rootfs_mounts()
    sb = nsfs.sandbox("web")
    nsfs.write(sb / "rootfs", str(busybox_rootfs))
    run_ok(nsfs, sb, "true")
    assert rootfs_mounts() == before
    timed(os.rmdir, sb)
    assert rootfs_mounts() == before
    assert not list((busybox_rootfs / "proc").iterdir()), "something was left in the rootfs' /proc"


@pytest.mark.parametrize("path", ["/", "//", "/usr/.."])
def test_rootfs_that_is_the_hosts_root(nsfs, web, path):
    """A rootfs of the host's own / (however spelled) is a directory like
    any other: jobs see the host's tree, with a minimal /dev and a fresh
    /proc over it; the host keeps its own."""
    marker = nsfs.base / "host-root-marker"
    marker.write_text("host\n")
    nsfs.write(web / "rootfs", path)
    assert nsfs.read(web / "rootfs") == f"{path}\n"
    assert run_ok(nsfs, web, f"cat {marker}") == "host\n"
    assert set(run_ok(nsfs, web, "ls /dev").split()) == set(DEVICES) | {"fd", "stdin", "stdout", "stderr", "pts", "ptmx"}
    pids = sorted(int(n) for n in run_ok(nsfs, web, "ls /proc").split() if n.isdigit())
    assert pids and pids[0] == 1 and len(pids) < 10, pids
    assert len(os.listdir("/dev")) > len(DEVICES) + 4, "the host lost its /dev"
    timed(os.rmdir, web)
