"""env, cwd and user: how later jobs start (INTERFACE §10, issue 20)."""

from __future__ import annotations

import errno
import os

from nsfs_util import expect_errno, needs_root
from users import as_user, errno_as, exec_job, read_file, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root


def run_ok(nsfs, sb, cmd):
    status, out, err = nsfs.run(sb, cmd)
    assert status == "exited 0", f"{cmd!r}: {status}; stderr {err!r}"
    return out


def test_env(nsfs, web):
    assert nsfs.read(web / "env") == ""
    nsfs.write(web / "env", "LANG=C.UTF-8\nEDITOR=vi\nTERM=xterm-256color\n")
    assert nsfs.read(web / "env") == "LANG=C.UTF-8\nEDITOR=vi\nTERM=xterm-256color\n"
    env = dict(l.split("=", 1) for l in run_ok(nsfs, web, "env").splitlines())
    assert env["LANG"] == "C.UTF-8" and env["EDITOR"] == "vi"
    assert env["TERM"] == "xterm-256color"  # replaces the default
    assert env["PATH"].startswith("/usr/local/sbin")  # a default kept
    # Applies to later jobs of the running sandbox; jobs before keep theirs.
    jid = nsfs.exec(web, "sh -c 'sleep 0.5; echo $EDITOR'")
    nsfs.write(web / "env", "EDITOR=nano")
    assert run_ok(nsfs, web, "sh -c 'echo $EDITOR'") == "nano\n"
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.read(nsfs.job(web, jid) / "stdout") == "vi\n"
    for bad in ("1X=y", "NOEQUALS", "A-B=1", "A=1\nA=2"):
        expect_errno(errno.EINVAL, nsfs.write, web / "env", bad)
        assert nsfs.read(web / "env") == "EDITOR=nano\n"
        assert nsfs.error(web).startswith("env: ")
    expect_errno(errno.E2BIG, nsfs.write, web / "env", "".join(f"K{i}=v\n" for i in range(257)))
    nsfs.write(web / "env", "")
    assert nsfs.read(web / "env") == ""


def test_cwd(nsfs, web):
    assert nsfs.read(web / "cwd") == "/\n"
    nsfs.write(web / "cwd", "/tmp")
    assert nsfs.read(web / "cwd") == "/tmp\n"
    assert run_ok(nsfs, web, "pwd") == "/tmp\n"
    expect_errno(errno.EINVAL, nsfs.write, web / "cwd", "relative/dir")
    assert nsfs.read(web / "cwd") == "/tmp\n"
    # A directory that does not exist fails the exec and starts no job.
    nsfs.write(web / "cwd", "/nonexistent-nsfs-dir")
    jobs_before = sorted(os.listdir(web / "jobs"))
    expect_errno(errno.ENOENT, nsfs.exec, web, "true")
    assert "cwd" in nsfs.error(web)
    assert sorted(os.listdir(web / "jobs")) == jobs_before
    nsfs.write(web / "cwd", "/")
    assert nsfs.read(web / "cwd") == "/\n"
    assert run_ok(nsfs, web, "pwd") == "/\n"


def test_user(nsfs, web):
    assert nsfs.read(web / "user") == ""
    # Root's default map holds uid 0 only: 1000 is not mapped.
    expect_errno(errno.EINVAL, nsfs.write, web / "user", "1000")
    assert "not mapped" in nsfs.error(web)
    nsfs.write(web / "uid_map", "0 0 65536")
    nsfs.write(web / "gid_map", "0 0 65536")
    nsfs.write(web / "user", "1000:1001")
    assert nsfs.read(web / "user") == "1000:1001\n"
    assert run_ok(nsfs, web, "sh -c 'id -u; id -g'") == "1000\n1001\n"
    env = dict(l.split("=", 1) for l in run_ok(nsfs, web, "env").splitlines())
    assert env["HOME"] == "/"  # a user's defaults
    nsfs.write(web / "user", "")
    assert run_ok(nsfs, web, "id -u") == "0\n"
    expect_errno(errno.EINVAL, nsfs.write, web / "user", "root")


def test_user_without_a_user_namespace(nsfs, web):
    nsfs.ctl(web, "ns pid mnt uts ipc")
    nsfs.write(web / "user", "65534")
    assert run_ok(nsfs, web, "id -u") == "65534\n"


def test_owner_user(nsfs, test_users):
    a = test_users.a
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    # Only what the owner maps: its own id (0 inside) by default.
    assert errno_as(a, write_file, box / "user", "1") == errno.EINVAL
    as_user(a, write_file, box / "uid_map", f"0 {a.uid} 1\n1 300000 1000")
    as_user(a, write_file, box / "user", "1")
    jid = as_user(a, exec_job, box, "id -u")
    from nsfs_util import wait_until
    wait_until(lambda: read_file(box / "jobs" / str(jid) / "status") != b"running\n", what="the job")
    assert read_file(box / "jobs" / str(jid) / "stdout") == b"1\n"


def test_settings_survive_a_restart(nsfs, web):
    nsfs.write(web / "env", "A=1")
    nsfs.write(web / "cwd", "/tmp")
    nsfs.restart()
    assert nsfs.read(web / "env") == "A=1\n"
    assert nsfs.read(web / "cwd") == "/tmp\n"
    assert run_ok(nsfs, web, "sh -c 'pwd; echo $A'") == "/tmp\n1\n"
