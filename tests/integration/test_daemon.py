"""nsfsd as a system daemon (issue 21): what `meson install` puts in place
(the binaries, the systemd unit, the man pages), the unit's readiness
protocol (sd_notify), the command line (--help, --version, -d), and the
one-line messages for a machine that is not ready: no /dev/fuse, a busy
mountpoint, a state dir it cannot use or that is not a tmpfs, and a
non-root nsfsd, which must still run jobs."""

import os
import re
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from nsfs_util import TIMEOUT, needs_root, wait_until
from resources import fuse_mounted, supervisor_pids
from users import run_as, test_users  # noqa: F401 (fixture)

pytestmark = needs_root

REPO = Path(__file__).resolve().parents[2]
MAN_PAGES = [REPO / "docs" / "man" / "nsfsd.8", REPO / "docs" / "man" / "nsfs.5"]


def build_dir(nsfs) -> Path:
    return Path(nsfs.binary).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory, nsfsd_command):
    """`meson install` of the build under test into a DESTDIR: the tree it
    made, and the prefix inside it."""
    binary = Path(nsfsd_command[0]).resolve()
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["meson", "install", "-C", str(binary.parent.parent), "--destdir", str(dest),
                        "--no-rebuild", "--quiet"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"meson install failed: {r.stdout}{r.stderr}"
    intro = subprocess.run(["meson", "introspect", "--buildoptions", str(binary.parent.parent)],
                           capture_output=True, text=True, timeout=60)
    prefix = re.search(r'"name": "prefix", "value": "([^"]+)"', intro.stdout).group(1)
    return dest, prefix


# ------------------------------------------------------------ installation


def test_meson_install_puts_the_daemon_the_supervisor_the_unit_and_the_man_pages_in_place(installed):
    dest, prefix = installed
    root = dest / prefix.lstrip("/")
    for rel in ("bin/nsfsd", "libexec/nsfs/nsfs-supervisor"):
        f = root / rel
        assert f.is_file() and os.access(f, os.X_OK), f"{rel} not installed as an executable"
    for rel in ("share/man/man8/nsfsd.8", "share/man/man5/nsfs.5", "lib/systemd/system/nsfsd.service"):
        assert (root / rel).is_file(), f"{rel} not installed"
    # The installed nsfsd finds the installed supervisor (libexec), not the build's.
    out = subprocess.run([str(root / "bin" / "nsfsd"), "--version"], capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0 and out.stdout.startswith("nsfsd "), out


def test_the_unit_verifies_and_says_how_nsfsd_runs_under_systemd(installed):
    dest, prefix = installed
    unit = dest / prefix.lstrip("/") / "lib" / "systemd" / "system" / "nsfsd.service"
    text = unit.read_text()
    settings = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["Type"] == "notify"
    assert settings["KillMode"] == "process", "a restart must leave the sandboxes' supervisors alone"
    assert settings["Delegate"] == "yes"
    exec_start = settings["ExecStart"].split()
    assert exec_start[0] == f"{prefix}/bin/nsfsd" and "-f" in exec_start and exec_start[-1] == "/mnt/ns"
    assert (dest / exec_start[0].lstrip("/")).is_file(), "ExecStart names a binary meson did not install"
    # systemd-analyze checks the ExecStart binary exists on this machine:
    # verify a copy pointing at the DESTDIR's.
    copy = unit.parent / "verify" / "nsfsd.service"
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(text.replace(exec_start[0], str(dest / exec_start[0].lstrip("/"))))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, f"systemd-analyze verify: {r.stdout}{r.stderr}"
    assert "nsfsd.service" not in r.stderr, r.stderr


def man_text(page, width=80) -> subprocess.CompletedProcess:
    """`man -l PAGE` as plain text (the overstrikes of bold taken out)."""
    r = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANWIDTH=str(width), PAGER="cat"))
    r.stdout = re.sub(r".\x08", "", r.stdout)
    return r


@pytest.mark.parametrize("page", MAN_PAGES, ids=lambda p: p.name)
def test_man_pages_lint_clean_and_render(page):
    lint = subprocess.run(["mandoc", "-T", "lint", str(page)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0 and lint.stdout == "" and lint.stderr == "", lint.stdout + lint.stderr
    shown = man_text(page)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert "SEE ALSO" in shown.stdout


def test_nsfs5_names_every_file_of_the_tree():
    shown = man_text(MAN_PAGES[1], width=200).stdout
    for name in ("ctl", "uid_map", "gid_map", "hostname", "rootfs", "caps", "mounts", "net", "ports",
                 "memory.max", "pids.max", "cpu.max", "stats", "env", "cwd", "user", "stdin", "events",
                 ".events", "exec", "status", "error", "ns/", "root", "last", "cmd", "pid", "wait", "stdout",
                 "stderr", "winsize", "console"):
        assert re.search(rf"(^|[\s/]){re.escape(name)}([\s,.:]|$)", shown, re.M), f"nsfs(5) does not mention {name}"
    for errno_name in ("EINVAL", "EPERM", "EACCES", "EBUSY", "ENOENT", "EEXIST", "EADDRINUSE", "EFBIG", "E2BIG",
                       "EOPNOTSUPP", "EDQUOT", "EAGAIN", "EINTR", "ETIMEDOUT", "EIO"):
        assert errno_name in shown, f"nsfs(5) does not explain {errno_name}"


# ------------------------------------------------------------ the command line


def test_help_and_version(nsfs):
    h = subprocess.run([nsfs.binary, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    assert h.returncode == 0 and "--state-dir" in h.stdout and "MOUNTPOINT" in h.stdout
    v = subprocess.run([nsfs.binary, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    assert v.returncode == 0 and re.match(r"nsfsd \d+\.\d+\.\d+ ", v.stdout), v.stdout
    bad = subprocess.run([nsfs.binary, "--no-such-option"], capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode == 2 and "usage" in bad.stderr.lower()


def test_debug_logs_each_request_with_its_path_caller_and_outcome(nsfs, relaunch):
    relaunch("-d")
    sb = nsfs.sandbox("traced")
    nsfs.write(sb / "hostname", "t1")
    with pytest.raises(OSError):
        fd = os.open(sb / "ctl", os.O_WRONLY)
        try:
            os.write(fd, b"no-such-directive")
        finally:
            os.close(fd)
    os.rmdir(sb)
    log = wait_until(lambda: (lambda t: t if "rmdir /traced: ok" in t else None)(nsfs.log_since_launch()),
                     what="the rmdir in nsfsd's -d log")
    # The fixture's own calls run in helper processes: their pids vary.
    for line in (r"pid \d+ uid 0: mkdir /traced: ok", r"pid \d+ uid 0: write /traced/hostname: ok, 2 bytes taken",
                 rf"pid {os.getpid()} uid 0: write /traced/ctl: EINVAL \(Invalid argument\)",
                 rf"pid {os.getpid()} uid 0: rmdir /traced: ok"):
        assert re.search(line, log), f"{line!r} not in the -d log:\n{log[-3000:]}"


# ------------------------------------------------------------ readiness (sd_notify)


def test_notify_socket_hears_ready_once_the_mount_serves_and_stopping_at_the_end(nsfs, tmp_path):
    nsfs.stop_daemon("term")
    sock_path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(TIMEOUT * 3)
    env = dict(nsfs.env(), NOTIFY_SOCKET=str(sock_path))
    proc = subprocess.Popen(nsfs.argv(), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        ready = sock.recv(4096).decode()
        # When systemd hears READY=1 the mount must already answer.
        serving = fuse_mounted(nsfs.mnt) and os.listdir(nsfs.mnt) == []
        assert ready.split("\n")[0] == "READY=1", ready
        assert f"STATUS=serving {nsfs.mnt}" in ready
        assert serving, "READY=1 came before the mount served"
        proc.send_signal(signal.SIGTERM)
        assert sock.recv(4096).decode() == "STOPPING=1"
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if fuse_mounted(nsfs.mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(nsfs.mnt)], timeout=TIMEOUT)
        sock.close()
    nsfs.launch()


# ------------------------------------------------------------ messages for a machine not ready


@pytest.fixture
def fuse_open_to_users():
    """/dev/fuse 0666 (stock Debian's mode) for the test, then put back."""
    mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", 0o666)
    yield
    os.chmod("/dev/fuse", mode)


def run_nsfsd(nsfs, argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=nsfs.env(),
                          stdin=subprocess.DEVNULL, **kwargs)


def test_missing_dev_fuse_is_one_line_that_says_what_to_do(nsfs, tmp_path):
    # A /dev of its own (an empty tmpfs) in a private mount namespace.
    r = run_nsfsd(nsfs, ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                         'mount -t tmpfs nsfs-nodev /dev && exec "$@"', "sh", nsfs.binary, "-f",
                         "--state-dir", str(tmp_path / "state"), str(tmp_path / "mnt")])
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "nsfsd: /dev/fuse is missing: load the module (modprobe fuse), or in a container pass the device in "
        "(docker run --device /dev/fuse)"], r.stderr


def test_a_busy_mountpoint_is_refused_with_what_is_there(nsfs, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "nsfs-busy", str(busy)], check=True)
    try:
        r = run_nsfsd(nsfs, [nsfs.binary, "-f", "--state-dir", str(tmp_path / "state"), str(busy)])
    finally:
        subprocess.run(["umount", str(busy)], check=True)
    assert r.returncode == 1
    assert f"nsfsd: {busy} is busy: a tmpfs file system is mounted there" in r.stderr, r.stderr
    # The test's own nsfsd: "another nsfsd serves it".
    r = run_nsfsd(nsfs, [nsfs.binary, "-f", "--state-dir", str(tmp_path / "state2"), str(nsfs.mnt)])
    assert r.returncode == 1
    assert f"nsfsd: {nsfs.mnt} is busy: another nsfsd serves it" in r.stderr, r.stderr


def test_an_unwritable_state_dir_says_which_and_what_to_do(nsfs, user_dir, test_users, fuse_open_to_users):
    locked = user_dir / "locked"
    locked.mkdir(mode=0o700)
    r = run_as(test_users.a, ["env", f"NSFS_SUPERVISOR={nsfs.env()['NSFS_SUPERVISOR']}", nsfs.binary, "-f",
                              "--state-dir", str(locked / "state"), str(user_dir / "mnt")])
    assert r.returncode == 1
    assert r.stderr.startswith(f"nsfsd: cannot use the state dir {locked / 'state'}: "), r.stderr
    assert "Permission denied (give --state-dir a directory you may write, such as $XDG_RUNTIME_DIR/nsfs)" \
        in r.stderr, r.stderr


def test_a_state_dir_off_tmpfs_is_warned_about_and_one_on_tmpfs_is_not(nsfs, tmp_path):
    tmpfs = tmp_path / "tmpfs"
    tmpfs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "nsfs-state", str(tmpfs)], check=True)
    try:
        nsfs.stop_daemon("term")
        disk_state = nsfs.state
        warning = "is not on a tmpfs"
        for state, on_tmpfs in ((tmpfs / "state", True), (disk_state, False)):
            nsfs.state = state
            nsfs.launch()
            log = nsfs.log_since_launch()
            nsfs.stop_daemon("term")
            if on_tmpfs:
                assert warning not in log, log
            elif subprocess.run(["stat", "-f", "-c", "%T", str(state)], capture_output=True,
                                text=True).stdout.strip() != "tmpfs":
                assert f"nsfsd: warning: the state dir {state} {warning}" in log, log
        nsfs.state = disk_state
    finally:
        subprocess.run(["umount", "-l", str(tmpfs)], check=True)
    nsfs.launch()


# ------------------------------------------------------------ a non-root nsfsd


def test_a_non_root_nsfsd_says_what_it_can_do(nsfs, user_dir, test_users, fuse_open_to_users):
    """A non-root nsfsd makes and configures sandboxes; its jobs cannot
    start (docs/reference.md), which it says at once.  It must not take
    root's cgroups for its own: with root's nsfsd running, the nsfs group
    exists but is not writable by it, and a pids.max default taken from
    there made the start fail over limits instead."""
    a = test_users.a
    home = user_dir / "a"
    home.mkdir()
    os.chown(home, a.uid, a.gid)
    mnt, state = home / "mnt", home / "state"
    env = ["env", f"NSFS_SUPERVISOR={nsfs.env()['NSFS_SUPERVISOR']}"]
    r = run_as(a, env + [nsfs.binary, "--state-dir", str(state), str(mnt)], groups=False)
    try:
        assert r.returncode == 0, r.stderr
        assert f"nsfsd: running as uid {a.uid}, not root: the mount is yours alone and sandboxes can be made, " \
            "configured and listed, but no job or start can run" in r.stderr, r.stderr
        script = (f"mkdir {mnt}/mine && echo h1 > {mnt}/mine/hostname && cat {mnt}/mine/hostname "
                  f"{mnt}/mine/pids.max {mnt}/mine/status; echo true > {mnt}/mine/exec; cat {mnt}/mine/error; "
                  f"rmdir {mnt}/mine && ls {mnt}")
        out = run_as(a, ["sh", "-c", script], groups=False)
        assert out.stdout.splitlines()[:3] == ["h1", "max", "state created"], out.stdout + out.stderr
        assert out.stdout.splitlines()[-1].startswith("exec: "), out.stdout
        assert out.returncode == 0, out.stderr
    finally:
        lock = state / "nsfsd.lock"
        pid = int(lock.read_text().strip() or 0) if lock.exists() else 0
        if pid:
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not fuse_mounted(mnt), what="the non-root nsfsd's unmount", fail=False)
        if fuse_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], timeout=TIMEOUT)
        for p in supervisor_pids(state):
            os.kill(p, signal.SIGKILL)


def test_reads_are_no_larger_than_a_splice_carries(nsfs):
    """The mount's max_read is what libfuse can splice (1 MiB less 16
    pages, nsfsd/output.h): a 1 MiB read would be copied through nsfsd.
    Big reads of a running job's output (direct I/O) come back whole and
    in order across the request boundaries."""
    opts = [line.split()[3] for line in open("/proc/mounts") if line.split()[1] == str(nsfs.mnt)]
    assert opts and "max_read=983040" in opts[0].split(","), opts
    sb = nsfs.mnt / "bigread"
    os.mkdir(sb)
    # 3 MiB of numbered lines, then the job keeps running.
    jid = nsfs.exec(sb, "sh -c 'seq 1 400000; sleep 30'")
    out = nsfs.job(sb, jid) / "stdout"
    want = "".join(f"{i}\n" for i in range(1, 400001)).encode()
    wait_until(lambda: out.stat().st_size >= len(want), timeout=10, what="the job's 3 MiB of output")
    fd = os.open(out, os.O_RDONLY)
    try:
        got = b""
        while len(got) < len(want):
            chunk = os.read(fd, 4 << 20)
            assert chunk, f"EOF after {len(got)} bytes"
            got += chunk
    finally:
        os.close(fd)
    assert got == want
    nsfs.ctl(sb, "stop")
    os.rmdir(sb)
