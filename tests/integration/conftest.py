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
`nsfs` fixture).  Teardown always removes every sandbox, stops the daemon,
unmounts, and kills (by pid) whatever supervisor of that state dir is left.
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
    """One running nsfsd and helpers to drive its tree."""

    def __init__(self, base: Path, mnt: Path, state: Path, proc: subprocess.Popen, log: Path, wrapped: bool):
        self.base = base
        self.mnt = mnt
        self.state = state
        self.proc = proc
        self.pid = proc.pid
        self.log = log
        self.wrapped = wrapped
        # Set by a test that ends nsfsd on purpose.
        self.expect_exit = False
        self.final_log = None

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


def _wait_for_mount(proc, mnt, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fuse_mounted(mnt):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def _stop_daemon(proc):
    """SIGTERM, wait, SIGKILL.  Returns 'term', 'kill' or 'dead' (it had
    already exited)."""
    if proc.poll() is not None:
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
    dir's supervisor.pid files, plus processes naming a dir inside it) and
    its descendants.  Returns the pids killed."""
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

    env = dict(os.environ)
    supervisor = Path(binary).parent.parent / "backend" / "nsfs-supervisor"
    if "NSFS_SUPERVISOR" not in env and supervisor.exists():
        env["NSFS_SUPERVISOR"] = str(supervisor)
    argv = [*wrapper, binary, "-f"]
    if os.environ.get("NSFSD_DEBUG") == "1":
        argv.append("-d")
    argv += ["--state-dir", str(state), str(mnt)]

    with open(log, "wb") as logf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env)
    fs = Nsfs(base, mnt, state, proc, log, bool(wrapper))

    timeout = MOUNT_TIMEOUT * (3 if wrapper else 1)
    problems = []
    try:
        if not _wait_for_mount(proc, mnt, timeout):
            alive = proc.poll() is None
            problems.append(f"nsfsd did not mount {mnt} within {timeout:.0f}s "
                            f"({'still running' if alive else f'exited with {proc.returncode}'})")
            pytest.fail(problems[-1] + "\n--- nsfsd log ---\n" + fs.log_text(), pytrace=False)
        yield fs
    finally:
        problems += _teardown(fs)

    if problems:
        pytest.fail("\n".join(problems) + "\n--- nsfsd log (tail) ---\n" + fs.log_text()[-8000:], pytrace=False)


def _teardown(fs: Nsfs):
    """Tear everything down; returns a list of problems that fail the test."""
    problems = []
    crashed = fs.proc.poll() is not None and not fs.expect_exit

    # 1. Remove every sandbox while the daemon still serves.
    if fs.proc.poll() is None and fuse_mounted(fs.mnt):
        names = []
        _attempt(lambda: names.extend(os.listdir(fs.mnt)), 10)
        for name in names:
            _attempt(lambda n=name: os.rmdir(fs.mnt / n), TIMEOUT)

    # 2. Stop the daemon: SIGTERM, then SIGKILL to that pid only.
    how = _stop_daemon(fs.proc)
    if how == "kill":
        warnings.warn(f"nsfsd (pid {fs.pid}) ignored SIGTERM for {TERM_TIMEOUT:.0f}s and was killed")
    if crashed:
        problems.append(f"nsfsd exited during the test with status {fs.proc.returncode}")

    # 3. A mount the daemon left behind.
    if fuse_mounted(fs.mnt):
        if how == "term":
            warnings.warn("nsfsd exited on SIGTERM but left its mount behind")
        subprocess.run(["fusermount3", "-u", "-z", str(fs.mnt)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT)

    # 4. Supervisors of this state dir that outlived their sandboxes.
    killed = _kill_supervisors(fs.state)
    if killed:
        warnings.warn(f"teardown killed leftover sandbox processes {killed} of {fs.state}")

    # 5. The wrapper (valgrind) found errors.
    if fs.wrapped and fs.proc.returncode == 99:
        problems.append("the nsfsd wrapper reported errors (exit code 99)")

    fs.final_log = fs.log_text()
    # Captured by pytest and shown only when the test fails.
    print(f"--- nsfsd log ({fs.log}) ---\n{fs.final_log[-8000:]}")
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
def web(nsfs):
    """A fresh sandbox called `web`."""
    return nsfs.sandbox("web")

