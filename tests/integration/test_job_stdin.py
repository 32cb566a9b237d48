"""stdin pipe: writing to a job's standard input (INTERFACE §10, issue 20)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import time

import pytest

from nsfs_util import TIMEOUT, expect_errno, needs_root, wait_until
from users import as_user, errno_as, exec_job, read_file, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root


def test_stdin_file(nsfs, web):
    assert nsfs.read(web / "stdin") == "null\n"
    nsfs.write(web / "stdin", "pipe")
    assert nsfs.read(web / "stdin") == "pipe\n"
    expect_errno(errno.EINVAL, nsfs.write, web / "stdin", "file")
    assert nsfs.read(web / "stdin") == "pipe\n"
    assert nsfs.error(web).startswith("stdin: ")
    nsfs.write(web / "stdin", "tty 40 120")
    assert nsfs.read(web / "stdin") == "tty 40 120\n"
    expect_errno(errno.EINVAL, nsfs.write, web / "stdin", "tty 0 80")
    assert nsfs.read(web / "stdin") == "tty 40 120\n"


def test_the_issues_sort(nsfs, web):
    nsfs.write(web / "stdin", "pipe")
    jid = nsfs.exec(web, "sort")
    job = nsfs.job(web, jid)
    st = os.stat(job / "stdin")
    assert oct(st.st_mode & 0o777) == "0o200"
    # sort waits: no end of file before anyone wrote.
    time.sleep(0.3)
    assert nsfs.read(job / "status") == "running\n"
    with open(job / "stdin", "w") as f:
        f.write("b\na\n")
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.read(job / "stdout") == "a\nb\n"


def test_only_jobs_started_with_pipe_have_stdin(nsfs, web):
    jid = nsfs.exec(web, "true")
    assert "stdin" not in os.listdir(nsfs.job(web, jid))
    assert not os.path.exists(nsfs.job(web, jid) / "stdin")
    # A job started with null reads end of file at once.
    nsfs.write(web / "stdin", "null")
    status, out, _ = nsfs.run(web, "sh -c 'cat; echo done'")
    assert (status, out) == ("exited 0", "done\n")


def test_a_thousand_lines_through_one_open(nsfs, web):
    nsfs.write(web / "stdin", "pipe")
    jid = nsfs.exec(web, "wc -l")
    fd = os.open(nsfs.job(web, jid) / "stdin", os.O_WRONLY)
    try:
        for i in range(1000):
            os.write(fd, f"line {i}\n".encode())
    finally:
        os.close(fd)
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.read(nsfs.job(web, jid) / "stdout").strip() == "1000"


def test_end_of_file_when_every_open_is_closed(nsfs, web):
    nsfs.write(web / "stdin", "pipe")
    jid = nsfs.exec(web, "cat")
    path = nsfs.job(web, jid) / "stdin"
    a = os.open(path, os.O_WRONLY)
    b = os.open(path, os.O_WRONLY)
    os.write(a, b"from a\n")
    os.close(a)
    time.sleep(0.3)
    assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"
    os.write(b, b"from b\n")
    os.close(b)
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.read(nsfs.job(web, jid) / "stdout") == "from a\nfrom b\n"


def test_a_full_pipe_holds_no_thread_and_a_write_after_the_end_is_epipe(nsfs, web):
    """A job that never reads: a big write waits for room (deferred), the
    tree answers meanwhile, and the write ends when the job does."""
    nsfs.write(web / "stdin", "pipe")
    jid = nsfs.exec(web, "sleep 30")
    path = nsfs.job(web, jid) / "stdin"
    fd = os.open(path, os.O_WRONLY)
    result = {}

    def big_write():
        try:
            result["n"] = os.write(fd, b"x" * (4 << 20))
        except OSError as e:
            result["err"] = e.errno

    t = threading.Thread(target=big_write)
    t.start()
    time.sleep(0.5)
    assert t.is_alive(), "the write should wait for room"
    t0 = time.monotonic()
    nsfs.status(web)
    assert nsfs.run(nsfs.sandbox("other"), "true")[0] == "exited 0"
    nsfs.write(web / "hostname", "still")
    assert time.monotonic() - t0 < 5
    nsfs.ctl(web, "kill")
    t.join(10)
    assert not t.is_alive()
    # What went in counts (64 KiB or so of pipe), as for a pipe.
    assert 0 < result.get("n", 0) < 4 << 20 or result.get("err") == errno.EPIPE, result
    with pytest.raises(OSError) as e:
        os.write(fd, b"more\n")
    assert e.value.errno == errno.EPIPE
    os.close(fd)
    # An open after the end: writes are EPIPE too.
    fd = os.open(path, os.O_WRONLY)
    with pytest.raises(OSError) as e:
        os.write(fd, b"late\n")
    assert e.value.errno == errno.EPIPE
    os.close(fd)


def test_a_waiting_write_is_interruptible(nsfs, web):
    nsfs.write(web / "stdin", "pipe")
    jid = nsfs.exec(web, "sleep 30")
    path = nsfs.job(web, jid) / "stdin"
    proc = subprocess.Popen(["dd", "if=/dev/zero", f"of={path}", "bs=1M", "count=4"],
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) != 0
    nsfs.ctl(web, "kill")


def test_owner_stdin(nsfs, test_users):
    a = test_users.a
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    as_user(a, write_file, box / "stdin", "pipe")
    jid = as_user(a, exec_job, box, "tr a-z A-Z")
    as_user(a, write_file, box / "jobs" / str(jid) / "stdin", "hello\n")
    wait_until(lambda: read_file(box / "jobs" / str(jid) / "status") != b"running\n", what="the job")
    assert read_file(box / "jobs" / str(jid) / "stdout") == b"HELLO\n"
    # Another user cannot write it.
    assert errno_as(test_users.b, write_file, box / "jobs" / str(jid) / "stdin", "x") == errno.EACCES
