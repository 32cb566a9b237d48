"""events and .events (INTERFACE §11, issue 20)."""

from __future__ import annotations

import errno
import os
import select
import threading
import time

import pytest

from nsfs_util import TIMEOUT, needs_root, wait_until
from users import read_once, spawn_as
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root


class Reader:
    """One open of an events file, read line by line in a thread (each
    read blocks in nsfsd until there is something)."""

    def __init__(self, path, size=65536):
        self.fd = os.open(path, os.O_RDONLY)
        self.size = size
        self.lines = []
        self.buf = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                data = os.read(self.fd, self.size)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.buf += data
                *done, self.buf = self.buf.split(b"\n")
                self.lines += [l.decode() for l in done]

    def until(self, line, timeout=10):
        wait_until(lambda: line in self.snapshot(), timeout=timeout, what=f"event {line!r} (got {self.snapshot()})")
        return self.snapshot()

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def close(self):
        # The blocked read ends with EINTR-free EBADF once the file goes;
        # a thread stuck in read is a daemon thread.
        os.close(self.fd)


def test_a_sandbox_s_events_in_order(nsfs, web):
    r = Reader(web / "events")
    try:
        nsfs.write(web / "hostname", "h1")
        jid = nsfs.exec(web, "sh -c 'exit 3'")
        assert nsfs.wait(web, jid) == "exited 3"
        jid2 = nsfs.exec(web, "sh -c 'kill -TERM $$'")
        nsfs.wait(web, jid2)
        nsfs.ctl(web, "stop")
        lines = r.until("state stopped stopped on request")
        want = ["changed hostname", "state running", f"job {jid} started", f"job {jid} exited 3",
                f"job {jid2} started", f"job {jid2} signaled 15", "state stopped stopped on request"]
        got = [l for l in lines if not l.startswith("changed exec") and l != "changed ctl"]
        assert got == want, lines
    finally:
        r.close()


@pytest.mark.parametrize("size", [1, 5])
def test_reads_smaller_than_a_line_lose_nothing(nsfs, web, size):
    """A shell's `read` asks for one byte at a time: each read went on to
    the next line, and all but the first byte of every line was lost."""
    r = Reader(web / "events", size=size)
    try:
        jid = nsfs.exec(web, "true")
        assert nsfs.wait(web, jid) == "exited 0"
        assert r.until(f"job {jid} exited 0")[:3] == ["state running", f"job {jid} started", f"job {jid} exited 0"]
    finally:
        r.close()


def test_top_level_events_name_the_sandbox(nsfs):
    assert ".events" not in os.listdir(nsfs.mnt)
    st = os.stat(nsfs.mnt / ".events")
    assert st.st_size == 0 and oct(st.st_mode & 0o777) == "0o444"
    r = Reader(nsfs.mnt / ".events")
    try:
        db = nsfs.sandbox("db")
        nsfs.run(db, "true")
        os.rmdir(db)
        lines = r.until("db removed")
        assert lines[0] == "db created"
        assert "db state running" in lines and "db job 1 started" in lines and "db job 1 exited 0" in lines
    finally:
        r.close()


def test_an_open_reads_what_happens_after_it(nsfs, web):
    nsfs.run(web, "true")
    r = Reader(web / "events")
    try:
        nsfs.write(web / "caps", "all")
        assert r.until("changed caps") == ["changed caps"]
    finally:
        r.close()


def test_nonblocking_read_and_poll(nsfs, web):
    fd = os.open(web / "events", os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OSError) as e:
            os.read(fd, 4096)
        assert e.value.errno == errno.EAGAIN
        p = select.poll()
        p.register(fd, select.POLLIN)
        assert p.poll(0) == []
        nsfs.write(web / "hostname", "h2")
        assert p.poll(5000)
        assert os.read(fd, 4096) == b"changed hostname\n"
    finally:
        os.close(fd)


def test_a_blocked_read_holds_no_thread_and_can_be_interrupted(nsfs, web):
    """100 readers blocked at once; the tree answers meanwhile, and each
    gets the next event."""
    readers = [Reader(web / "events") for _ in range(100)]
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        nsfs.status(web)
        other = nsfs.sandbox("other")
        nsfs.run(other, "true")
        assert time.monotonic() - t0 < 5
        nsfs.write(web / "hostname", "h3")
        for r in readers:
            r.until("changed hostname")
    finally:
        for r in readers:
            r.close()


def test_interrupt(nsfs, web):
    """A signal to a reader blocked in nsfsd ends its read (EINTR)."""
    import signal
    import subprocess
    proc = subprocess.Popen(["cat", str(web / "events")], stdout=subprocess.PIPE)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) != 0


def test_overflow(nsfs, web):
    fd = os.open(web / "events", os.O_RDONLY | os.O_NONBLOCK)
    try:
        for i in range(1100):
            nsfs.write(web / "hostname", f"h{i % 2}")
        data = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError as e:
                assert e.errno == errno.EAGAIN
                break
            data += chunk
        lines = data.decode().splitlines()
        # The first 1,024 lines, then one overflow line where the rest
        # were lost.
        assert lines.count("overflow") == 1
        assert lines[-1] == "overflow" and len(lines) == 1024 + 1
        assert lines[:1024] == ["changed hostname"] * 1024
        nsfs.write(web / "hostname", "h9")
        assert os.read(fd, 4096) == b"changed hostname\n"
    finally:
        os.close(fd)


def test_events_under_concurrent_writers(nsfs, web):
    r = Reader(web / "events")
    try:
        def writer(k):
            for i in range(25):
                nsfs.write(web / "hostname", f"w{k}-{i}")

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_until(lambda: r.snapshot().count("changed hostname") == 200, what="200 events")
    finally:
        r.close()


def test_oom_event(nsfs, web):
    nsfs.write(web / "memory.max", "64m")
    r = Reader(web / "events")
    try:
        status, _, _ = nsfs.run(web, 'python3 -c "b = bytearray(512 << 20)"')
        assert status == "signaled 9"
        lines = r.until("oom")
        assert lines.index("oom") > lines.index("job 1 signaled 9") - 1
    finally:
        r.close()


def test_another_user_reads_top_level_events(nsfs, test_users):
    """.events is 0444: every user may watch every sandbox's lines."""
    b = test_users.b
    pending = spawn_as(b, read_once, str(nsfs.mnt / ".events"))
    time.sleep(0.3)
    nsfs.sandbox("web")
    assert pending.result(TIMEOUT).startswith("web created\n")
