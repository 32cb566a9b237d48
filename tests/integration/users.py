"""Real unprivileged test users, and ways to act as them.

    from users import test_users, as_user   # the fixture must be imported
                                             # into the test module

    def test_x(nsfs, test_users):
        a = test_users.a
        as_user(a, os.mkdir, nsfs.mnt / "mine")         # runs with a's ids
        err = errno_as(test_users.b, os.rmdir, nsfs.mnt / "mine")

The session fixture `test_users` makes sure three users exist:

  a  nsfs-test-a  uid/gid 61001  /etc/subuid and /etc/subgid: 300000:65536;
                                 member of the supplementary group
                                 nsfs-test-g (61010)
  b  nsfs-test-b  uid/gid 61002  no subordinate ids
  c  nsfs-test-c  uid/gid 61003  no subordinate ids

Each has a group of its own (gid = uid), so "another user's gid" means
something in gid map tests.  Users and groups are created only if missing
(useradd -M -N -s /usr/sbin/nologin) and removed at the end of the session
only if this module created them.  /etc/subuid and /etc/subgid are backed up
and restored byte for byte at the end (also at interpreter exit, should
the session end abnormally).

Several test modules, and several pytest sessions at once, may use the
fixture: the work is done once and undone when the last of them is
finished (the shared state is kept in /run/nsfs-test-users under an
flock; a session that died is cleaned up after by the next one).

Acting as a user: as_user() forks; the child drops to the user's ids
(setgroups to the user's supplementary groups or none, setresgid,
setresuid: no capabilities are left) and calls the function, so every file
operation it makes reaches the mount with that user's credentials.  The
result (or the OSError's errno) comes back through a pipe.  run_as() runs a
command through setpriv.
"""

from __future__ import annotations

import atexit
import dataclasses
import errno as errno_mod
import grp
import os
import pickle
import pwd
import select
import shutil
import signal
import subprocess
import threading
import time
from typing import Optional

import pytest

from nsfs_util import TIMEOUT

SUBID_START = 300000
SUBID_COUNT = 65536
SUBID_FILES = ("/etc/subuid", "/etc/subgid")
# A's supplementary group: rootfs checks must honour it.
GROUP_NAME = "nsfs-test-g"
GROUP_GID = 61010


@dataclasses.dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a pytest test class

    key: str
    name: str
    uid: int
    gid: int
    # Supplementary groups (beyond gid).
    groups: tuple = ()
    # (start, count) of /etc/subuid and /etc/subgid, or None.
    subids: Optional[tuple] = None

    def __str__(self):
        return f"{self.name}({self.uid})"


@dataclasses.dataclass(frozen=True)
class TestUsers:
    __test__ = False

    a: TestUser
    b: TestUser
    c: TestUser
    group_gid: int = GROUP_GID


_SPECS = (
    TestUser("a", "nsfs-test-a", 61001, 61001, (GROUP_GID,), (SUBID_START, SUBID_COUNT)),
    TestUser("b", "nsfs-test-b", 61002, 61002),
    TestUser("c", "nsfs-test-c", 61003, 61003),
)


def _run(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")


def _group_exists(name=None, gid=None) -> bool:
    try:
        if name is not None:
            grp.getgrnam(name)
        else:
            grp.getgrgid(gid)
        return True
    except KeyError:
        return False


def _user_by_name(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


STATE_DIR = "/run/nsfs-test-users"
LOCK_FILE = "/run/nsfs-test-users.lock"


class _Setup:
    """The state behind the fixture, shared by every pytest session on the
    machine (the whole suite may run while a single file of it runs too).

    Under an flock on LOCK_FILE, STATE_DIR holds the backups of
    /etc/subuid and /etc/subgid, the users and groups created, and one
    file per session using them (its pid).  The first session sets up,
    the last one to leave undoes; a session that died without undoing is
    noticed (its pid is gone) and cleaned up after by the next one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.refs = 0
        self.users: Optional[TestUsers] = None
        self.active = False

    # -- the shared state, always under the file lock ----------------------

    def _flock(self):
        import fcntl

        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @staticmethod
    def _owners():
        try:
            names = os.listdir(os.path.join(STATE_DIR, "owners"))
        except FileNotFoundError:
            return []
        live = []
        for n in names:
            pid = int(n)
            try:
                os.kill(pid, 0)
                live.append(pid)
            except ProcessLookupError:
                os.unlink(os.path.join(STATE_DIR, "owners", n))
        return live

    @staticmethod
    def _read_list(name):
        try:
            with open(os.path.join(STATE_DIR, name)) as f:
                return [x for x in f.read().split() if x]
        except FileNotFoundError:
            return []

    @staticmethod
    def _write_list(name, items):
        with open(os.path.join(STATE_DIR, name), "w") as f:
            f.write("".join(x + "\n" for x in items))

    def acquire(self) -> TestUsers:
        with self.lock:
            if self.refs == 0:
                fd = self._flock()
                try:
                    if not self._owners() and os.path.isdir(STATE_DIR):
                        self._undo_shared()  # a session died without cleaning up
                    if not os.path.isdir(STATE_DIR):
                        self._setup_shared()
                    self.users = self._load_users()
                    me = os.path.join(STATE_DIR, "owners", str(os.getpid()))
                    open(me, "w").close()
                    self.active = True
                    atexit.register(self._release_all)
                finally:
                    os.close(fd)
            self.refs += 1
            return self.users

    def release(self):
        with self.lock:
            self.refs -= 1
            if self.refs == 0:
                self._release_all()

    def _release_all(self):
        if not self.active:
            return
        self.active = False
        fd = self._flock()
        try:
            try:
                os.unlink(os.path.join(STATE_DIR, "owners", str(os.getpid())))
            except FileNotFoundError:
                pass
            if not self._owners():
                self._undo_shared()
        finally:
            os.close(fd)

    def _setup_shared(self):
        for tool in ("useradd", "userdel", "groupadd", "groupdel", "setpriv"):
            if not shutil.which(tool):
                pytest.skip(f"{tool} is missing")
        for spec in _SPECS:
            pw = _user_by_name(spec.name)
            if pw is not None and pw.pw_uid != spec.uid:
                pytest.skip(f"user {spec.name} exists with uid {pw.pw_uid}, not {spec.uid}")
            if pw is None:
                try:
                    other = pwd.getpwuid(spec.uid)
                    pytest.skip(f"uid {spec.uid} belongs to {other.pw_name}")
                except KeyError:
                    pass
        if not _group_exists(name=GROUP_NAME) and _group_exists(gid=GROUP_GID):
            pytest.skip(f"gid {GROUP_GID} is taken by another group")
        os.makedirs(os.path.join(STATE_DIR, "owners"), mode=0o700)
        # Backed up before useradd, which may add subordinate ids itself.
        for path in SUBID_FILES:
            backup = os.path.join(STATE_DIR, "backup" + path.replace("/", "-"))
            if os.path.exists(path):
                shutil.copy2(path, backup)
        created_users, created_groups = [], []
        try:
            if not _group_exists(name=GROUP_NAME):
                _run(["groupadd", "-g", str(GROUP_GID), GROUP_NAME])
                created_groups.append(GROUP_NAME)
                self._write_list("groups", created_groups)
            for spec in _SPECS:
                if _user_by_name(spec.name) is None:
                    if not _group_exists(name=spec.name):
                        _run(["groupadd", "-g", str(spec.gid), spec.name])
                        created_groups.insert(0, spec.name)
                        self._write_list("groups", created_groups)
                    argv = ["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-u", str(spec.uid),
                            "-g", str(spec.gid)]
                    if spec.groups:
                        argv += ["-G", ",".join(str(g) for g in spec.groups)]
                    _run(argv + [spec.name])
                    created_users.append(spec.name)
                    self._write_list("users", created_users)
            self._write_subids()
        except BaseException:
            self._undo_shared()
            raise

    def _load_users(self) -> TestUsers:
        users = []
        for spec in _SPECS:
            pw = pwd.getpwnam(spec.name)
            groups = tuple(sorted(g for g in os.getgrouplist(spec.name, pw.pw_gid) if g != pw.pw_gid))
            users.append(dataclasses.replace(spec, gid=pw.pw_gid, groups=groups))
        return TestUsers(*users)

    def _write_subids(self):
        ours = {s.name for s in _SPECS} | {str(s.uid) for s in _SPECS}
        for path in SUBID_FILES:
            try:
                with open(path, "rb") as f:
                    old = f.read().decode(errors="surrogateescape")
            except FileNotFoundError:
                old = ""
            keep = [line for line in old.splitlines() if line.split(":", 1)[0] not in ours]
            for u in _SPECS:
                if u.subids:
                    keep.append(f"{u.name}:{u.subids[0]}:{u.subids[1]}")
            with open(path, "w", errors="surrogateescape") as f:
                f.write("".join(line + "\n" for line in keep))
            os.chmod(path, 0o644)

    def _undo_shared(self):
        """Delete what was created, restore the backups, remove STATE_DIR."""
        import sys

        problems = []
        for name in reversed(self._read_list("users")):
            for attempt in range(50):
                try:
                    _run(["userdel", name])
                    break
                except Exception as e:  # noqa: BLE001 - undo as much as possible
                    # A process of that user may still be on its way out.
                    if attempt == 49:
                        problems.append(str(e))
                    time.sleep(0.1)
        for name in self._read_list("groups"):
            if _group_exists(name=name):
                try:
                    _run(["groupdel", name])
                except Exception as e:  # noqa: BLE001
                    problems.append(str(e))
        # After userdel, which edits these files too.
        for path in SUBID_FILES:
            backup = os.path.join(STATE_DIR, "backup" + path.replace("/", "-"))
            try:
                if os.path.exists(backup):
                    shutil.copy2(backup, path)
                elif os.path.exists(path):
                    os.unlink(path)
            except OSError as e:
                problems.append(f"restore {path}: {e}")
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        if problems:
            print(f"users.py: cleaning up the test users: {'; '.join(problems)}", file=sys.__stderr__)


_SETUP = _Setup()


@pytest.fixture(scope="session")
def test_users():
    """The three test users (see the module's docstring); root only."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates users and acts as them")
    users = _SETUP.acquire()
    try:
        yield users
    finally:
        _SETUP.release()


# --------------------------------------------------------------------------
# Acting as a user


class Pending:
    """A function running in a forked child with a user's ids."""

    def __init__(self, user: TestUser, fn, args, kwargs, groups=True):
        what = f"{getattr(fn, '__name__', fn)}{tuple(args)!r}"
        if len(what) > 300:
            what = what[:300] + "...)"
        self.what = f"{what} as {user}"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 0
            try:
                os.close(r)
                os.setgroups(list(user.groups) if groups else [])
                os.setresgid(user.gid, user.gid, user.gid)
                os.setresuid(user.uid, user.uid, user.uid)
                try:
                    out = ("ok", fn(*args, **kwargs))
                except OSError as e:
                    out = ("errno", e.errno, str(e))
                except BaseException as e:  # noqa: B902 - handed to the parent
                    out = ("exc", f"{type(e).__name__}: {e}")
                try:
                    data = pickle.dumps(out)
                except Exception as e:  # noqa: BLE001
                    data = pickle.dumps(("exc", f"result not picklable: {e}"))
                view = memoryview(data)
                while view:
                    n = os.write(w, view)
                    view = view[n:]
            except BaseException:  # noqa: B902
                code = 111
            finally:
                os._exit(code)
        os.close(w)
        self.pid = pid
        self.fd = r
        self.started = time.monotonic()

    def done(self) -> bool:
        """True once the function has returned (its answer waits to be read)."""
        ready, _, _ = select.select([self.fd], [], [], 0)
        return bool(ready)

    def result(self, timeout: float = TIMEOUT):
        """The function's return value; raises OSError with its errno, or
        fails the test on any other exception or a hang (the child is then
        killed)."""
        chunks = []
        deadline = self.started + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    pytest.fail(f"{self.what} hung for more than {timeout:.0f}s")
                ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
                if not ready:
                    continue
                b = os.read(self.fd, 1 << 16)
                if not b:
                    break
                chunks.append(b)
        finally:
            os.close(self.fd)
        _, status = os.waitpid(self.pid, 0)
        if not chunks:
            pytest.fail(f"{self.what}: the child died without an answer (wait status {status})")
        out = pickle.loads(b"".join(chunks))
        if out[0] == "ok":
            return out[1]
        if out[0] == "errno":
            raise OSError(out[1], f"{os.strerror(out[1])} ({self.what})")
        pytest.fail(f"{self.what} raised {out[1]}")


def spawn_as(user: TestUser, fn, *args, **kwargs) -> Pending:
    """Start FN(*ARGS, **KWARGS) as USER in a child; collect with .result()."""
    return Pending(user, fn, args, kwargs)


def as_user(user: TestUser, fn, *args, timeout: float = TIMEOUT, **kwargs):
    """FN(*ARGS, **KWARGS) run as USER: its result, or OSError with its errno."""
    return Pending(user, fn, args, kwargs).result(timeout)


def errno_as(user: TestUser, fn, *args, timeout: float = TIMEOUT, **kwargs):
    """The errno FN raises as USER, or None if it succeeds."""
    try:
        as_user(user, fn, *args, timeout=timeout, **kwargs)
    except OSError as e:
        return e.errno
    return None


def expect_errno_as(user: TestUser, expected, fn, *args, **kwargs):
    """Assert FN, run as USER, fails with EXPECTED (an errno or several)."""
    allowed = {expected} if isinstance(expected, int) else set(expected)
    got = errno_as(user, fn, *args, **kwargs)
    names = "/".join(sorted(errno_mod.errorcode[e] for e in allowed))
    what = f"{getattr(fn, '__name__', fn)}{args!r} as {user}"
    if got is None:
        pytest.fail(f"{what} succeeded; expected {names}")
    assert got in allowed, f"{what} failed with {errno_mod.errorcode.get(got, got)}; expected {names}"


def run_as(user: TestUser, argv, timeout: float = TIMEOUT, groups=True, **kwargs) -> subprocess.CompletedProcess:
    """Run ARGV as USER through setpriv (no capabilities, USER's groups or
    none); output captured as text."""
    g = ["--groups", ",".join(str(x) for x in user.groups)] if groups and user.groups else ["--clear-groups"]
    cmd = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", *g, "--inh-caps=-all", *argv]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(map(str, argv))} as {user} hung for more than {timeout:.0f}s")


# --------------------------------------------------------------------------
# File operations to run as a user (module level, so they read well in
# failure messages)


def write_file(path, data) -> int:
    """One write(2) of DATA on an fd opened O_WRONLY|O_TRUNC; bytes written."""
    data = data.encode() if isinstance(data, str) else bytes(data)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        return os.write(fd, data)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def read_file(path) -> bytes:
    with open(path, "rb", buffering=0) as f:
        chunks = []
        while True:
            b = f.read(65536)
            if not b:
                return b"".join(chunks)
            chunks.append(b)


def read_once(path) -> str:
    """One read(2) of up to 4 KiB (Python's own readers take EAGAIN for
    "no data yet" and return None)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def exec_job(sandbox, cmdline: str) -> int:
    """Write CMDLINE to SANDBOX/exec and read the job id back."""
    fd = os.open(os.path.join(sandbox, "exec"), os.O_RDWR)
    try:
        os.write(fd, cmdline.encode())
        reply = os.read(fd, 64)
    finally:
        os.close(fd)
    return int(reply)


def user_mkdir(path) -> None:
    os.mkdir(path)
