"""The tools people point at the tree (issue 21): ps and lsns see short,
truthful process titles; find -newer sees only real changes; grep -r,
tar, rsync and gio walk a sandbox with a job running and neither hang nor
create anything; ip netns attach takes a sandbox's network namespace; and
a file manager (pcmanfm, under Xvfb) browses the mount without an error
or a hang.  The Python and Node.js clients are test_examples.py's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nsfs_util import TIMEOUT, needs_root, settled_init, supervisor_pid, wait_until

pytestmark = needs_root

REPO = Path(__file__).resolve().parents[2]


def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, **kw)


def cmdline_bytes(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def init_pid(nsfs, sb) -> int:
    return int(nsfs.status(sb)["pid"])


# ------------------------------------------------------------ ps and lsns


def test_ps_shows_the_supervisor_and_the_init_by_their_sandbox_without_padding(nsfs, web):
    nsfs.exec(web, "sleep 60")
    sup, init = supervisor_pid(nsfs, "web"), init_pid(nsfs, web)
    # Once padded with kilobytes of NULs (shown as spaces), with the state
    # dir's host path in it; the init looked like the supervisor.
    assert cmdline_bytes(sup) == b"nsfs-supervisor web\0"
    assert cmdline_bytes(init) == b"nsfs-init web\0"
    ps = run(["ps", "-o", "args=", "-p", f"{sup},{init}"]).stdout.splitlines()
    assert ps == ["nsfs-supervisor web", "nsfs-init web"], ps
    comm = run(["ps", "-o", "comm=", "-p", f"{sup},{init}"]).stdout.split("\n")[:2]
    assert comm == ["nsfs-supervisor", "nsfs-init web"], comm
    # Inside, PID 1 names no host path.
    jid = nsfs.exec(web, "cat /proc/1/cmdline")
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.read_bytes(nsfs.job(web, jid) / "stdout") == b"nsfs-init web\0"
    nsfs.ctl(web, "kill")


def smaps_rollup_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/smaps_rollup")


def test_the_init_becomes_nsfs_init_and_reaps_orphans(nsfs, web):
    """Once set up, the init executes nsfs-init (beside the supervisor; a
    sanitizer build has none and keeps its copy of the supervisor): its
    anonymous memory is a few pages of its own, not the supervisor's
    copied pages (96 KiB of them before, docs/performance.md), and without
    a C library (x86-64, arm64) only its stack, where static glibc's data,
    heap and stack made 44 KiB; it still reaps what is orphaned in its pid
    namespace."""
    nsfs.exec(web, "sleep 60")
    sup, init = supervisor_pid(nsfs, "web"), settled_init(nsfs, web)
    program = os.path.join(os.path.dirname(os.readlink(f"/proc/{sup}/exe")), "nsfs-init")
    if os.path.exists(program):
        with open(f"/proc/{init}/maps") as f:
            maps = f.read()
        if os.uname().machine in ("x86_64", "aarch64"):
            assert ".so" not in maps and "[heap]" not in maps, maps
            bound = 16
        else:
            bound = 64
        assert smaps_rollup_kb(init, "Pss_Anon") <= bound, open(f"/proc/{init}/smaps_rollup").read()
    else:
        assert os.readlink(f"/proc/{init}/exe") == os.readlink(f"/proc/{sup}/exe")
    # An orphan: its parent exits at once, it ends a moment later.
    jid = nsfs.exec(web, "sh -c 'sleep 0.3 & exit 0'")
    assert nsfs.wait(web, jid) == "exited 0"

    def zombies_under_init():
        with open(f"/proc/{init}/task/{init}/children") as f:
            kids = [int(p) for p in f.read().split()]
        states = []
        for k in kids:
            try:
                with open(f"/proc/{k}/stat") as f:
                    stat = f.read()
                states.append(stat[stat.rfind(")") + 2])
            except FileNotFoundError:
                pass
        return [s for s in states if s == "Z"], len(kids)

    wait_until(lambda: zombies_under_init() == ([], 0), timeout=5, what="the orphan reaped by the init")
    nsfs.ctl(web, "kill")


def test_lsns_names_the_sandbox(nsfs, web):
    nsfs.exec(web, "sleep 60")
    init = init_pid(nsfs, web)
    out = run(["lsns", "-t", "pid", "-n", "-o", "PID,COMMAND"]).stdout
    assert f"{init} nsfs-init web" in [" ".join(l.split()) for l in out.splitlines()], out
    nsfs.ctl(web, "kill")


# ------------------------------------------------------------ times


def all_files(sb: Path):
    for dirpath, dirnames, filenames in os.walk(sb):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def test_find_newer_sees_only_files_that_changed(nsfs, web, tmp_path):
    nsfs.write(web / "hostname", "h0")
    time.sleep(0.05)
    ref = tmp_path / "ref"
    ref.touch()
    time.sleep(0.05)
    jid = nsfs.exec(web, "true")
    assert nsfs.wait(web, jid) == "exited 0"
    newer = run(["find", str(web), "-maxdepth", "1", "-type", "f", "-newer", str(ref)]).stdout.split()
    config = {"ctl", "uid_map", "gid_map", "hostname", "rootfs", "caps", "mounts", "net", "ports", "memory.max",
              "pids.max", "cpu.max", "env", "cwd", "user", "stdin"}
    assert not config & {Path(p).name for p in newer}, f"a job start moved configuration files' mtime: {newer}"
    nsfs.write(web / "hostname", "h1")
    newer = run(["find", str(web), "-maxdepth", "1", "-type", "f", "-newer", str(ref)]).stdout.split()
    assert config & {Path(p).name for p in newer} == {"hostname"}, newer


def test_ctime_is_never_older_than_mtime(nsfs, web):
    nsfs.write(web / "hostname", "h1")
    nsfs.run(web, "true")
    nsfs.write(web / "env", "A=1")
    for path in [nsfs.mnt, *all_files(web)]:
        st = os.lstat(path)
        assert st.st_ctime_ns >= st.st_mtime_ns, f"{path}: ctime older than mtime"


def test_the_root_s_mtime_moves_with_mkdir_and_rmdir(nsfs):
    before = os.stat(nsfs.mnt).st_mtime_ns
    time.sleep(0.01)
    sb = nsfs.sandbox("later")
    made = os.stat(nsfs.mnt).st_mtime_ns
    assert made > before
    time.sleep(0.01)
    os.rmdir(sb)
    assert os.stat(nsfs.mnt).st_mtime_ns > made


# ------------------------------------------------------------ tree walkers


@pytest.fixture
def busy(nsfs, web):
    """web with a job running (its wait would block a reader)."""
    nsfs.write(web / "hostname", "findme")
    nsfs.exec(web, "sleep 60")
    yield web
    nsfs.ctl(web, "kill")


def test_grep_r_reports_eagain_for_wait_and_events_and_excluding_them_works(nsfs, busy):
    # GNU grep opens the files it recurses into with O_NONBLOCK (so a
    # FIFO cannot hang it): a running job's wait, and events with nothing
    # new, say EAGAIN, as INTERFACE §1 and the docs say.
    r = run(["grep", "-r", "findme", str(busy)])
    assert r.returncode == 2 and "findme" in r.stdout, r
    assert "wait: Resource temporarily unavailable" in r.stderr, r.stderr
    assert "events: Resource temporarily unavailable" in r.stderr, r.stderr
    r = run(["grep", "-r", "--exclude=wait", "--exclude=events", "findme", str(busy)])
    assert r.returncode == 0 and r.stdout == f"{busy}/hostname:findme\n" and r.stderr == "", r


def test_tar_archives_a_running_sandbox_without_waiting(nsfs, busy, tmp_path):
    before = sorted(os.listdir(busy))
    r = run(["tar", "-cf", str(tmp_path / "web.tar"), "-C", str(nsfs.mnt), "web"])
    assert r.returncode == 0, r.stderr
    names = run(["tar", "-tf", str(tmp_path / "web.tar")]).stdout.split()
    assert "web/hostname" in names and "web/jobs/1/wait" in names, names
    got = run(["tar", "-xOf", str(tmp_path / "web.tar"), "web/hostname"]).stdout
    assert got == "findme\n"
    assert sorted(os.listdir(busy)) == before


def test_rsync_copies_a_running_sandbox_excluding_wait(nsfs, busy, tmp_path):
    dest = tmp_path / "copy"
    r = run(["rsync", "-a", "--exclude=wait", "--exclude=events", f"{busy}/", f"{dest}/"])
    assert r.returncode in (0, 24), r.stderr  # 24: files vanished (a job's files may, in general)
    assert (dest / "hostname").read_text() == "findme\n"
    assert (dest / "jobs" / "1" / "cmd").read_text() == "sleep 60\n"


def test_gio_lists_and_describes_the_tree(nsfs, busy):
    listed = run(["gio", "list", str(busy)])
    assert listed.returncode == 0, listed.stderr
    assert {"hostname", "exec", "status", "jobs", "ns", "last"} <= set(listed.stdout.split()), listed.stdout
    info = run(["gio", "info", "-a", "standard::size,access::can-read,access::can-write", str(busy / "status")])
    assert info.returncode == 0, info.stderr
    assert "access::can-read: TRUE" in info.stdout
    size = len(nsfs.read(busy / "status"))
    assert f"standard::size: {size}" in info.stdout, info.stdout


# ------------------------------------------------------------ ip netns attach


def test_ip_netns_attach_takes_a_sandbox_s_network_namespace(nsfs, web):
    nsfs.exec(web, "sleep 60")
    name = f"nsfs-test-{os.getpid()}"
    r = run(["ip", "netns", "attach", name, str(init_pid(nsfs, web))])
    try:
        assert r.returncode == 0, r.stderr
        links = run(["ip", "netns", "exec", name, "ip", "-o", "link", "show"])
        assert links.returncode == 0 and [l.split()[1] for l in links.stdout.splitlines()] == ["lo:"], links
        assert os.stat(f"/run/netns/{name}").st_ino == os.stat(web / "ns" / "net").st_ino
    finally:
        run(["ip", "netns", "delete", name])
        nsfs.ctl(web, "kill")


# ------------------------------------------------------------ a file manager


@pytest.fixture
def xvfb(tmp_path):
    """An X server of the test's own (Xvfb), on a free display."""
    display = next(d for d in range(90, 200) if not os.path.exists(f"/tmp/.X11-unix/X{d}")
                   and not os.path.exists(f"/tmp/.X{d}-lock"))
    proc = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1024x700x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(f"/tmp/.X11-unix/X{display}") or proc.poll() is not None,
                   what="Xvfb's socket")
        assert proc.poll() is None, "Xvfb did not start"
        yield f":{display}"
    finally:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_pcmanfm_browses_a_running_sandbox(nsfs, busy, xvfb, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, DISPLAY=xvfb, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_RUNTIME_DIR=str(home), NO_AT_BRIDGE="1")
    before = sorted(os.listdir(busy))
    # Its own session bus, ended with it (dbus-run-session), so nothing of
    # the file manager outlives the test.
    proc = subprocess.Popen(["dbus-run-session", "--", "pcmanfm", "--no-desktop", str(busy)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "pcmanfm.log", "w"),
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        # A liveness bound: under valgrind, beside CI's other load, its
        # first listing and type sniffing once took longer than 20 s.
        window = wait_until(lambda: run(["xdotool", "search", "--name", "web"], env=env).stdout.split() or None,
                            timeout=3 * TIMEOUT, what="pcmanfm's window on web")
        time.sleep(2)  # it reads the directory, sniffs types, draws
        assert proc.poll() is None, f"pcmanfm exited: {(tmp_path / 'pcmanfm.log').read_text()}"
        titles = [run(["xdotool", "getwindowname", w], env=env).stdout.strip()
                  for w in run(["xdotool", "search", "--onlyvisible", "--name", "."], env=env).stdout.split()]
        assert not [t for t in titles if "rror" in t], f"an error dialog: {titles}"
        shot = tmp_path / "pcmanfm.png"
        assert run(["import", "-window", "root", str(shot)], env=env).returncode == 0
        assert shot.stat().st_size > 10000
        keep = os.environ.get("NSFS_KEEP_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)
        # It reads, never writes: the tree is as it was, and nsfsd answers.
        assert sorted(os.listdir(busy)) == before
        assert nsfs.read(busy / "hostname") == "findme\n"
        assert window
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
