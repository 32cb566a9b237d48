"""Small helpers shared by the integration tests.

Every call that could block on the file system goes through timed(): a
hung nsfsd must fail the one test, not hang the suite (pytest-timeout is
not available).  A thread left behind in a FUSE call is freed when the
fixture's teardown aborts the mount.
"""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

# Seconds any single operation may take before it counts as a hang.
TIMEOUT = 20.0

# Tests that act as other users or enter namespaces from the host.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def timed(fn, *args, timeout: float = TIMEOUT, what: str = None, **kwargs):
    """Run FN(*ARGS, **KWARGS) in a thread; fail the test if it is not done
    within TIMEOUT seconds.  Returns its result or raises its exception."""
    result = {}

    def run():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: B902 - handed to the caller
            result["error"] = e

    t = threading.Thread(target=run, daemon=True, name=f"timed:{what or getattr(fn, '__name__', fn)}")
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"{what or getattr(fn, '__name__', fn)}{args!r} hung for more than {timeout:.0f}s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


class Background:
    """A call running in a thread, to be collected later with result()."""

    def __init__(self, fn, *args, **kwargs):
        self._result = {}
        self._fn = fn
        self._args = args

        def run():
            try:
                self._result["value"] = fn(*args, **kwargs)
            except BaseException as e:  # noqa: B902
                self._result["error"] = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def done(self) -> bool:
        return not self.thread.is_alive()

    def result(self, timeout: float = TIMEOUT):
        self.thread.join(timeout)
        if self.thread.is_alive():
            pytest.fail(f"{getattr(self._fn, '__name__', self._fn)}{self._args!r} still blocked after {timeout:.0f}s")
        if "error" in self._result:
            raise self._result["error"]
        return self._result.get("value")


def wait_until(cond, timeout: float = 10.0, interval: float = 0.05, what: str = "condition", fail: bool = True):
    """Poll COND until it returns something true; fail after TIMEOUT (or,
    with FAIL false, return that last false value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            if not fail:
                return v
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def errno_of(fn, *args, **kwargs):
    """The errno FN raises (through timed()), or None if it succeeds."""
    try:
        timed(fn, *args, **kwargs)
    except OSError as e:
        return e.errno
    return None


def expect_errno(expected, fn, *args, **kwargs):
    """Assert FN fails with EXPECTED (an errno or a set of them)."""
    allowed = {expected} if isinstance(expected, int) else set(expected)
    got = errno_of(fn, *args, **kwargs)
    names = "/".join(sorted(errno.errorcode[e] for e in allowed))
    if got is None:
        pytest.fail(f"{getattr(fn, '__name__', fn)}{args!r} succeeded; expected {names}")
    assert got in allowed, (f"{getattr(fn, '__name__', fn)}{args!r} failed with "
                            f"{errno.errorcode.get(got, got)}; expected {names}")


def pid_alive(pid: int) -> bool:
    """True if PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def parse_status(text: str) -> dict:
    """`key value` lines into a dict (value kept as one string)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        out[key] = value
    return out


def supervisor_pid(nsfs, name):
    """The pid in the sandbox's supervisor.pid (which a supervisor just
    spawned may not have written yet)."""
    path = nsfs.state / "sandboxes" / name / "supervisor.pid"

    def read():
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return int(text) if text.strip().isdigit() else None

    return wait_until(read, what=f"{path}")


def settled_init(nsfs, sb) -> int:
    """The running sandbox SB's init, once it has executed nsfs-init where
    the build has one beside the supervisor (a sanitizer build keeps the
    supervisor's copy): it does so after saying it is ready, beside the
    first job, so right after a start it may still be the copy, closing
    its descriptors in execve."""
    init = int(nsfs.status(sb)["pid"])
    sup = supervisor_pid(nsfs, sb.name)
    program = os.path.join(os.path.dirname(os.readlink(f"/proc/{sup}/exe")), "nsfs-init")
    if os.path.exists(program):
        wait_until(lambda: os.readlink(f"/proc/{init}/exe") == program, what="the init to execute nsfs-init")
    return init
