"""Fixtures for the nsfs integration suite.

Configuration (a command line option wins over the environment):

  --nsfsd PATH / NSFSD=PATH            the nsfsd binary
                                       (default: <repo>/build/nsfsd/nsfsd)
  --nsfsd-wrapper CMD / NSFSD_WRAPPER  a command prefix, split like a shell
                                       does, e.g. "valgrind --error-exitcode=99
                                       --leak-check=full"; exit code 99 from
                                       the wrapped daemon fails the test
  NSFSD_DEBUG=1                        run nsfsd with -d

Each test gets its own nsfsd on its own mount point and state dir (the
`nsfs` fixture).  A test may stop that nsfsd (SIGTERM or SIGKILL) and start
another on the same state dir and mount point, from the configured binary
or another one (nsfs.restart / stop_daemon / launch).  Teardown always
removes every sandbox, stops the daemon, unmounts (a stale mount too),
kills (by pid) whatever supervisor of that state dir is left, and detaches
mounts left in the state dir.

Markers: `soak` marks the long create/run/remove cycles of test_soak.py.
They run by default (CI requires them); `-m "not soak"` leaves them out.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pytest

import resources
from resources import fuse_mounted
from nsfs_util import TIMEOUT, parse_status, pid_alive, timed

REPO = Path(__file__).resolve().parents[2]
DEFAULT_NSFSD = REPO / "build" / "nsfsd" / "nsfsd"
MOUNT_TIMEOUT = 20.0
TERM_TIMEOUT = 10.0


def pytest_configure(config):
    config.addinivalue_line("markers", "setup: runs the README's ./scripts/setup on this machine (a build, an "
                                       "install under /usr/local and an nsfsd on /mnt/ns for a moment); once "
                                       "per CI run, in its plain stage")
    config.addinivalue_line("markers", "soak: long create/run/remove cycles with leak checks "
                                       "(run by default; deselect with -m 'not soak')")


def pytest_terminal_summary(terminalreporter):
    """The soak tests' figures, in every run's output (not only with -s)."""
    if resources.soak_reports:
        terminalreporter.section("soak figures")
        for line in resources.soak_reports:
            terminalreporter.write_line(line)


def pytest_addoption(parser):
    group = parser.getgroup("nsfs")
    group.addoption("--nsfsd", default=None, help="path to the nsfsd binary (env NSFSD)")
    group.addoption("--nsfsd-wrapper", default=None,
                    help="command prefix for nsfsd, e.g. 'valgrind --error-exitcode=99' (env NSFSD_WRAPPER)")


@pytest.fixture(scope="session")
def nsfsd_command(pytestconfig):
    """(binary path, wrapper argv) as configured."""
    path = pytestconfig.getoption("--nsfsd") or os.environ.get("NSFSD") or str(DEFAULT_NSFSD)
    wrapper = pytestconfig.getoption("--nsfsd-wrapper")
    if wrapper is None:
        wrapper = os.environ.get("NSFSD_WRAPPER", "")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"nsfsd binary not found or not executable at {path} "
                    f"(build it with meson, or point NSFSD / --nsfsd at it)", pytrace=False)
    return path, shlex.split(wrapper)


# --------------------------------------------------------------------------
# Teardown helpers


def _attempt(fn, timeout):
    """Run FN in a thread; True if it finished without raising."""
    import threading

    ok = []

    def run():
        try:
            fn()
            ok.append(True)
        except BaseException:  # noqa: B902 - teardown goes on regardless
            pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok)


# --------------------------------------------------------------------------
# The nsfs fixture


class Nsfs:
    """One running nsfsd and helpers to drive its tree.

    The daemon can be stopped and started again on the same state dir and
    mount point (stop_daemon, launch, restart), also from another binary,
    as durability tests need; `proc` and `pid` always name the current one.
    """

    def __init__(self, base: Path, mnt: Path, state: Path, log: Path, binary: str, wrapper: list):
        self.base = base
        self.mnt = mnt
        self.state = state
        self.log = log
        self.binary = binary
        self.wrapper = list(wrapper)
        self.wrapped = bool(wrapper)
        self.proc = None
        self.pid = None
        # Set while nsfsd is down on purpose (a test ended it).
        self.expect_exit = False
        self.final_log = None
        self.launches = 0
        self._log_offset = 0
        # Where the mount point's own directory lives: a stat of MNT that
        # shows this device means nothing is mounted there.
        self._under_dev = os.stat(base).st_dev

    # -- the daemon ----------------------------------------------------------

    def argv(self, binary: str = None) -> list:
        argv = [*self.wrapper, binary or self.binary, "-f"]
        if os.environ.get("NSFSD_DEBUG") == "1":
            argv.append("-d")
        return argv + ["--state-dir", str(self.state), str(self.mnt)]

    def env(self, binary: str = None) -> dict:
        """nsfsd's environment: the supervisor is the one built beside
        BINARY (NSFS_SUPERVISOR from the environment wins for the
        configured binary only)."""
        binary = binary or self.binary
        env = dict(os.environ)
        supervisor = Path(binary).parent.parent / "backend" / "nsfs-supervisor"
        if binary != self.binary:
            env.pop("NSFS_SUPERVISOR", None)
            if supervisor.exists():
                env["NSFS_SUPERVISOR"] = str(supervisor)
        elif "NSFS_SUPERVISOR" not in env and supervisor.exists():
            env["NSFS_SUPERVISOR"] = str(supervisor)
        return env

    def _mark_log(self, what: str) -> None:
        with open(self.log, "ab") as f:
            self._log_offset = f.seek(0, os.SEEK_END)
            f.write(f"=== test fixture: {what} ===\n".encode())

    def mount_is_live(self) -> bool:
        """A FUSE mount on MNT that answers (not a stale one)."""
        if not fuse_mounted(self.mnt):
            return False
        try:
            # statvfs always reaches nsfsd; a stat of the root may be
            # answered from the kernel's cache for a moment (attrs.c).
            timed(os.statvfs, self.mnt, what="statvfs of the mount point")
            st = timed(os.stat, self.mnt, what="stat of the mount point")
        except OSError:
            return False  # ENOTCONN: a stale mount
        return st.st_dev != self._under_dev

    def launch(self, binary: str = None, preexec_fn=None) -> None:
        """Start nsfsd (BINARY, default the configured one) on this state
        dir and mount point and wait until its mount answers.  A stale mount
        left there is for nsfsd to clean up.  PREEXEC_FN runs in the child
        before the exec (to hand nsfsd the signal state of some parent)."""
        assert self.proc is None or self.proc.poll() is not None, "nsfsd is still running"
        self.launches += 1
        self._mark_log(f"nsfsd start #{self.launches}: {binary or self.binary}")
        with open(self.log, "ab") as logf:
            proc = subprocess.Popen(self.argv(binary), stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, env=self.env(binary), preexec_fn=preexec_fn)
        self.proc = proc
        self.pid = proc.pid
        self.expect_exit = False
        timeout = MOUNT_TIMEOUT * (3 if self.wrapped else 1)
        deadline = time.monotonic() + timeout
        while not self.mount_is_live():
            if proc.poll() is not None or time.monotonic() > deadline:
                alive = proc.poll() is None
                pytest.fail(f"nsfsd did not mount {self.mnt} within {timeout:.0f}s "
                            f"({'still running' if alive else f'exited with {proc.returncode}'})"
                            f"\n--- nsfsd log ---\n{self.log_since_launch()}", pytrace=False)
            time.sleep(0.02)

    def stop_daemon(self, how: str = "term") -> None:
        """End nsfsd.  "term", "int", "hup": SIGTERM, SIGINT or SIGHUP,
        each of which must end it cleanly (exit 0, mount gone).  "kill":
        SIGKILL, which leaves a stale mount behind."""
        graceful = {"term": signal.SIGTERM, "int": signal.SIGINT, "hup": signal.SIGHUP}
        assert how in graceful or how == "kill", how
        proc = self.proc
        assert proc is not None and proc.poll() is None, "nsfsd is not running"
        self.expect_exit = True
        if how in graceful:
            sig = graceful[how]
            proc.send_signal(sig)
            try:
                rc = proc.wait(TERM_TIMEOUT * (3 if self.wrapped else 1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"nsfsd (pid {proc.pid}) did not exit within {TERM_TIMEOUT:.0f}s of {sig.name}")
            assert rc == 0, f"nsfsd exited with {rc} on {sig.name}\n{self.log_since_launch()}"
            deadline = time.monotonic() + 5
            while fuse_mounted(self.mnt):
                if time.monotonic() > deadline:
                    pytest.fail(f"nsfsd exited on {sig.name} but left its mount behind")
                time.sleep(0.02)
        else:
            proc.kill()
            try:
                proc.wait(TERM_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"nsfsd (pid {proc.pid}) survived SIGKILL for {TERM_TIMEOUT:.0f}s")

    def restart(self, how: str = "term", binary: str = None, down: float = 0.0, while_down=None) -> None:
        """stop_daemon(HOW), stay down DOWN seconds (calling WHILE_DOWN() if
        given), then launch(BINARY) on the same state dir and mount point."""
        self.stop_daemon(how)
        if while_down is not None:
            while_down()
        if down:
            time.sleep(down)
        self.launch(binary)

    def launch_expect_failure(self, binary: str = None, timeout: float = 10.0) -> subprocess.CompletedProcess:
        """Start nsfsd expecting it to refuse to run: its exit status,
        stdout and stderr.  If it runs anyway it is killed (by pid) and
        unmounted, and the test fails."""
        self._mark_log(f"nsfsd start expected to fail: {binary or self.binary}")
        proc = subprocess.Popen(self.argv(binary), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env(binary), text=True)
        try:
            out, err = proc.communicate(timeout=timeout * (3 if self.wrapped else 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            if fuse_mounted(self.mnt):
                subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT)
            pytest.fail(f"nsfsd did not refuse to start (still running after {timeout:.0f}s)\n"
                        f"stdout: {out}\nstderr: {err}")
        with open(self.log, "a") as f:
            f.write(out + err)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def log_since_launch(self) -> str:
        """The log of the latest nsfsd started (launch or launch_expect_failure)."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # -- plain file operations, each bounded by a timeout ------------------

    def sandbox(self, name: str = "web") -> Path:
        """mkdir a sandbox and return its path."""
        path = self.mnt / name
        timed(os.mkdir, path, what="mkdir")
        return path

    def write(self, path, text) -> None:
        """One write(2) of TEXT on an fd opened O_WRONLY|O_TRUNC.  Raises
        OSError (from the write or from close) on failure."""
        data = text.encode() if isinstance(text, str) else bytes(text)

        def do():
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                n = os.write(fd, data)
            except OSError:
                try:
                    os.close(fd)
                except OSError:
                    pass
                raise
            os.close(fd)
            assert n == len(data), f"short write to {path}: {n} of {len(data)} bytes"

        timed(do, what=f"write {path}")

    def read_bytes(self, path, flags: int = 0) -> bytes:
        def do():
            fd = os.open(path, os.O_RDONLY | flags)
            try:
                chunks = []
                while True:
                    b = os.read(fd, 65536)
                    if not b:
                        return b"".join(chunks)
                    chunks.append(b)
            finally:
                os.close(fd)

        return timed(do, what=f"read {path}")

    def read(self, path) -> str:
        return self.read_bytes(path).decode()

    def sh(self, cmd: str, timeout: float = TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
        """sh -c CMD with output captured as text."""
        try:
            return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, **kwargs)
        except subprocess.TimeoutExpired:
            pytest.fail(f"sh -c {cmd!r} hung for more than {timeout:.0f}s")

    # -- sandbox-level conveniences ----------------------------------------

    def exec(self, sb: Path, cmdline: str) -> int:
        """Start a job: write CMDLINE to exec and read its id back from the
        same open file description."""

        def do():
            fd = os.open(sb / "exec", os.O_RDWR)
            try:
                os.write(fd, cmdline.encode())
                reply = os.read(fd, 64)
            finally:
                os.close(fd)
            return reply

        reply = timed(do, what=f"exec {cmdline!r}").decode()
        assert reply.endswith("\n") and reply[:-1].isdigit(), f"exec read back {reply!r}, expected '<id>\\n'"
        return int(reply)

    def job(self, sb: Path, jid: int) -> Path:
        return sb / "jobs" / str(jid)

    def wait(self, sb: Path, jid: int, timeout: float = TIMEOUT) -> str:
        """Block on jobs/<id>/wait; the job's final status (no newline)."""
        text = timed(self.read, self.job(sb, jid) / "wait", timeout=timeout, what=f"wait job {jid}")
        assert text.endswith("\n"), f"wait read {text!r}"
        return text[:-1]

    def run(self, sb: Path, cmdline: str, timeout: float = TIMEOUT):
        """Run a job to its end: (status, stdout, stderr)."""
        jid = self.exec(sb, cmdline)
        status = self.wait(sb, jid, timeout=timeout)
        job = self.job(sb, jid)
        return status, self.read(job / "stdout"), self.read(job / "stderr")

    def status(self, sb: Path) -> dict:
        return parse_status(self.read(sb / "status"))

    def ctl(self, sb: Path, directive: str) -> None:
        self.write(sb / "ctl", directive)

    def start(self, sb: Path) -> int:
        """`start` the sandbox; returns the init's host pid."""
        self.ctl(sb, "start")
        st = self.status(sb)
        assert st.get("state") == "running", f"status after start: {st}"
        return int(st["pid"])

    def error(self, sb: Path) -> str:
        return self.read(sb / "error")

    def log_text(self) -> str:
        if self.final_log is not None:
            return self.final_log
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def _stop_daemon(proc):
    """SIGTERM, wait, SIGKILL.  Returns 'term', 'kill' or 'dead' (it had
    already exited)."""
    if proc is None or proc.poll() is not None:
        return "dead"
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(TERM_TIMEOUT)
        return "term"
    except subprocess.TimeoutExpired:
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(TERM_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    return "kill"


def _kill_supervisors(state: Path):
    """SIGKILL every live supervisor recorded in STATE (only this state
    dir's supervisor.pid files, plus processes naming a dir inside it)
    and its descendants.  Returns the pids killed."""
    table = resources._proc_table()
    sups = resources.supervisor_pids(state, table)
    victims = resources.descendants(sups, table)
    # A supervisor answers `destroy` just before it exits: give the ones
    # whose sandbox was removed a moment to go on their own.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(pid_alive(p) for p in victims):
        time.sleep(0.05)
    victims = {p for p in victims if pid_alive(p)}
    for pid in sorted(victims):
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in victims):
        time.sleep(0.05)
    return sorted(p for p in victims)


def _detach_mounts_under(root: Path):
    """Lazily unmount whatever is still mounted under ROOT (pinned
    namespaces of a sandbox whose supervisor teardown killed); the mount
    points, deepest first."""
    root = os.path.realpath(str(root))
    left = sorted({mp for mp, _ in resources.mounts() if mp.startswith(root + "/")}, key=len, reverse=True)
    for mp in left:
        subprocess.run(["umount", "-l", mp], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    return left


@pytest.fixture
def nsfs(nsfsd_command, request):
    binary, wrapper = nsfsd_command
    base = Path(tempfile.mkdtemp(prefix="nsfs-it-"))
    # Readable by everyone, so tests may act as other users on the mount.
    os.chmod(base, 0o755)
    mnt = base / "mnt"
    state = base / "state"
    mnt.mkdir()
    state.mkdir(mode=0o700)
    log = base / "nsfsd.log"
    log.touch()

    fs = Nsfs(base, mnt, state, log, binary, wrapper)
    problems = []
    try:
        fs.launch()
        yield fs
    finally:
        problems += _teardown(fs)

    if problems:
        pytest.fail("\n".join(problems) + "\n--- nsfsd log (tail) ---\n" + fs.log_text()[-8000:], pytrace=False)


def _supervisor_logs(state: Path, most: int = 10) -> str:
    """The tails of the sandboxes' non-empty supervisor.log files."""
    out = []
    for log in sorted(state.glob("sandboxes/*/supervisor.log"))[:200]:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        if text.strip() and len(out) < most:
            out.append(f"\n--- {log} ---\n{text[-2000:]}")
    return "".join(out)


def nsfs_cgroup_instance(state: Path) -> str:
    """The group name nsfs gives the sandboxes of STATE's nsfsd: glib's
    g_str_hash of the state dir, as %08x (backend/cgroups.c)."""
    h = 5381
    for b in str(Path(state).resolve()).encode():
        h = (h * 33 + (b - 256 if b > 127 else b)) & 0xFFFFFFFF
    return f"{h:08x}"


def nsfs_cgroup_bases() -> list:
    """Where nsfs's groups are for processes started from here: <each
    hierarchy's mount point><this process's path>/nsfs."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(tail) < 3 or fields[3] != "/":
                continue
            if tail[0] == "cgroup2":
                mounts[""] = fields[4]
            elif tail[0] == "cgroup":
                for opt in tail[2].split(","):
                    mounts.setdefault(opt, fields[4])
    bases = set()
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in (controllers.split(",") if controllers else [""]):
                if c in mounts:
                    bases.add(os.path.join(mounts[c] + (path if path != "/" else ""), "nsfs"))
    return sorted(bases)


def remove_nsfs_cgroups(state: Path) -> list:
    """Remove the cgroups of STATE's nsfsd that are left (their processes
    are gone by now); returns those that were there."""
    instance = nsfs_cgroup_instance(state)
    found = []
    for base in nsfs_cgroup_bases():
        top = os.path.join(base, instance)
        if not os.path.isdir(top):
            continue
        for name in os.listdir(top):
            sub = os.path.join(top, name)
            if os.path.isdir(sub):
                found.append(sub)
                for _ in range(50):
                    try:
                        os.rmdir(sub)
                        break
                    except OSError:
                        time.sleep(0.02)
        for d in (top, base):
            try:
                os.rmdir(d)
            except OSError:
                pass
    return found


def _teardown(fs: Nsfs):
    """Tear everything down; returns a list of problems that fail the test."""
    problems = []

    def warn(msg):
        # Under -W error a warning raises: teardown must still finish.
        try:
            warnings.warn(msg)
        except Warning:
            problems.append(msg)

    crashed = fs.proc is not None and fs.proc.poll() is not None and not fs.expect_exit
    # rmdir removes them: keep what supervisors said for a failing test.
    supervisor_logs = _supervisor_logs(fs.state)

    # 1. Remove every sandbox while the daemon still serves.
    if fs.proc is not None and fs.proc.poll() is None and fuse_mounted(fs.mnt):
        names = []
        _attempt(lambda: names.extend(os.listdir(fs.mnt)), 10)
        for name in names:
            _attempt(lambda n=name: os.rmdir(fs.mnt / n), TIMEOUT)

    # 2. Stop the daemon: SIGTERM, then SIGKILL to that pid only.
    how = _stop_daemon(fs.proc)
    if how == "kill":
        warn(f"nsfsd (pid {fs.pid}) ignored SIGTERM for {TERM_TIMEOUT:.0f}s and was killed")
    if crashed:
        problems.append(f"nsfsd exited during the test with status {fs.proc.returncode}")

    # 3. A mount the daemon left behind (a stale one of a killed nsfsd
    #    too; several if mounts were stacked).
    if fuse_mounted(fs.mnt) and how == "term":
        warn("nsfsd exited on SIGTERM but left its mount behind")
    for _ in range(5):
        if not fuse_mounted(fs.mnt):
            break
        subprocess.run(["fusermount3", "-u", "-z", str(fs.mnt)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT)

    # 4. Supervisors of this state dir that outlived their sandboxes.
    killed = _kill_supervisors(fs.state)
    if killed:
        warn(f"teardown killed leftover sandbox processes {killed} of {fs.state}")

    # 5. Mounts (pinned namespaces) left in the state dir.
    left = _detach_mounts_under(fs.state)
    if left:
        warn(f"teardown detached mounts left under {fs.state}: {left}")

    # 6. cgroups of this nsfsd's sandboxes (INTERFACE §8): a clean exit
    #    removes them; one that was killed leaves them to us.
    left = remove_nsfs_cgroups(fs.state)
    if left and how == "term" and not crashed:
        warn(f"teardown removed cgroups nsfsd left behind: {left}")

    # 7. The wrapper (valgrind) found errors.
    if fs.wrapped and fs.proc is not None and fs.proc.returncode == 99:
        problems.append("the nsfsd wrapper reported errors (exit code 99)")

    fs.final_log = fs.log_text()
    # Captured by pytest and shown only when the test fails.
    print(f"--- nsfsd log ({fs.log}) ---\n{fs.final_log[-8000:]}{supervisor_logs}")
    if not fuse_mounted(fs.mnt):
        # Only once nothing is mounted there.
        shutil.rmtree(fs.base, ignore_errors=True)
    else:
        problems.append(f"{fs.mnt} is still mounted after teardown")
    return problems


# --------------------------------------------------------------------------
# A minimal root file system


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory):
    """A rootfs directory with a static busybox, applet links in /bin,
    /etc/passwd and /etc/group with root, and /etc/nsfs-rootfs-marker."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.skip("/bin/busybox is missing (install busybox-static)")
    root = tmp_path_factory.mktemp("busybox-rootfs")
    os.chmod(root, 0o755)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "dev", "etc", "tmp", "root"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    shutil.copy2(busybox, root / "bin" / "busybox")
    os.chmod(root / "bin" / "busybox", 0o755)

    # Relative links, so they resolve the same inside and outside.
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True,
                             timeout=TIMEOUT).stdout.split()
    for applet in applets:
        if applet != "busybox" and "/" not in applet:
            link = root / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")

    # A dynamically linked busybox needs its libraries in there too.
    ldd = subprocess.run(["ldd", str(busybox)], capture_output=True, text=True, timeout=TIMEOUT)
    if ldd.returncode == 0:
        for line in ldd.stdout.splitlines():
            for word in line.split():
                if word.startswith("/") and os.path.exists(word):
                    dest = root / word.lstrip("/")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(os.path.realpath(word), dest)

    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "etc" / "hostname").write_text("busybox-rootfs\n")
    (root / "etc" / "nsfs-rootfs-marker").write_text("nsfs busybox test rootfs\n")
    return root


@pytest.fixture
def relaunch(nsfs):
    """Restart the test's nsfsd with extra command line options."""

    def go(*options):
        nsfs.stop_daemon("term")
        plain = nsfs.argv

        def argv(binary=None):
            a = plain(binary)
            i = a.index("--state-dir")
            return a[:i] + list(options) + a[i:]

        nsfs.argv = argv
        nsfs.launch()

    return go


@pytest.fixture
def user_dir():
    """A directory every user can reach (pytest's tmp_path is root's alone)."""
    d = Path(tempfile.mkdtemp(prefix="nsfs-user-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def web(nsfs):
    """A fresh sandbox called `web`."""
    return nsfs.sandbox("web")

