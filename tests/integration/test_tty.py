"""stdin tty: a job on a terminal, with winsize and console (INTERFACE §10)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from nsfs_util import TIMEOUT, needs_root, wait_until
from users import as_user, errno_as, exec_job, read_file, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root


def output(nsfs, sb, jid) -> str:
    return nsfs.read(nsfs.job(sb, jid) / "stdout")


def test_a_terminal_of_the_size_given_from_the_first_instruction(nsfs, web):
    nsfs.write(web / "stdin", "tty 40 120")
    assert nsfs.read(web / "stdin") == "tty 40 120\n"
    jid = nsfs.exec(web, "sh -c 'stty size; tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys'")
    assert nsfs.wait(web, jid) == "exited 0"
    out = output(nsfs, web, jid).replace("\r", "")
    lines = out.splitlines()
    assert lines[0] == "40 120"
    assert lines[1].startswith("/dev/pts/")
    assert lines[2] == "all-ttys"
    job = nsfs.job(web, jid)
    assert {"stdin", "winsize", "console"} <= set(os.listdir(job))
    assert nsfs.read(job / "winsize") == "40 120\n"


def test_the_default_size(nsfs, web):
    nsfs.write(web / "stdin", "tty")
    # The second and third jobs of a running sandbox come from its
    # spawner: the same terminal setup there.
    for _ in range(3):
        jid = nsfs.exec(web, "sh -c 'stty size; tty'")
        assert nsfs.wait(web, jid) == "exited 0"
        lines = output(nsfs, web, jid).replace("\r", "").splitlines()
        assert lines[0] == "24 80" and lines[1].startswith("/dev/pts/")


def test_stdin_writes_to_the_terminal(nsfs, web):
    nsfs.write(web / "stdin", "tty")
    jid = nsfs.exec(web, "sh")
    job = nsfs.job(web, jid)
    with open(job / "stdin", "w") as f:
        f.write("echo typed-$((6*7))\n")
    wait_until(lambda: "typed-42" in output(nsfs, web, jid), what="the shell's answer")
    with open(job / "stdin", "w") as f:
        f.write("exit 3\n")
    assert nsfs.wait(web, jid) == "exited 3"


def test_winsize_resizes_and_the_job_gets_sigwinch(nsfs, web):
    nsfs.write(web / "stdin", "tty 24 80")
    jid = nsfs.exec(web, "sh -c 'trap \"stty size; exit 0\" WINCH; while :; do sleep 0.05; done'")
    time.sleep(0.3)
    nsfs.write(nsfs.job(web, jid) / "winsize", "50 132")
    assert nsfs.wait(web, jid) == "exited 0"
    assert "50 132" in output(nsfs, web, jid)
    assert nsfs.read(nsfs.job(web, jid) / "winsize") == "50 132\n"


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.realpath(path) if os.path.islink(path) else str(path))
    s.settimeout(5)
    return s


def read_until(s, want: bytes) -> bytes:
    got = b""
    deadline = time.monotonic() + 10
    while want not in got and time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
    return got


def test_console_clients_attach_and_detach(nsfs, web):
    nsfs.write(web / "stdin", "tty")
    jid = nsfs.exec(web, "sh")
    console = nsfs.job(web, jid) / "console"
    target = os.readlink(console)
    assert os.stat(target).st_mode & 0o777 == 0o600
    a = connect(target)
    b = connect(target)
    a.sendall(b"echo from-$((1+1))\n")
    assert b"from-2" in read_until(a, b"from-2")
    assert b"from-2" in read_until(b, b"from-2")
    a.close()  # detaches; the job goes on
    # Output while nobody is attached is kept in stdout.
    with open(nsfs.job(web, jid) / "stdin", "w") as f:
        f.write("echo unseen-$((3+4))\n")
    wait_until(lambda: "unseen-7" in output(nsfs, web, jid), what="output while detached")
    b.close()
    # A client that attaches late gets what comes from then on.
    c = connect(target)
    c.sendall(b"echo late-$((5*5))\n")
    got = read_until(c, b"late-25")
    assert b"late-25" in got and b"from-2" not in got
    c.sendall(b"exit\n")
    assert nsfs.wait(web, jid) == "exited 0"
    c.close()
    assert not os.path.exists(target)


def test_socat_attaches(nsfs, web):
    nsfs.write(web / "stdin", "tty")
    jid = nsfs.exec(web, "sh")
    target = os.readlink(nsfs.job(web, jid) / "console")
    r = subprocess.run(["socat", "-t", "2", "-", f"UNIX-CONNECT:{target}"], input=b"echo via-socat\nexit 5\n",
                       capture_output=True, timeout=TIMEOUT)
    assert b"via-socat" in r.stdout
    assert nsfs.wait(web, jid) == "exited 5"


def test_a_client_that_does_not_read_is_dropped(nsfs, web):
    nsfs.write(web / "stdin", "tty")
    jid = nsfs.exec(web, "sh")
    target = os.readlink(nsfs.job(web, jid) / "console")
    slow = connect(target)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    fast = connect(target)
    # The kernel holds what the fast one has not read yet: it never lags.
    fast.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    with open(nsfs.job(web, jid) / "stdin", "w") as f:
        f.write("yes | head -c 600000; echo; echo done-$((2*5))\n")
    got = read_until(fast, b"done-10")
    assert b"done-10" in got
    wait_until(lambda: "done-10" in output(nsfs, web, jid), what="the job's output in stdout")
    # The slow one was cut off: its stream ends.
    slow.settimeout(5)
    ended = False
    try:
        while slow.recv(65536):
            pass
        ended = True
    except (socket.timeout, ConnectionResetError):
        ended = False
    assert ended
    with open(nsfs.job(web, jid) / "stdin", "w") as f:
        f.write("exit\n")
    nsfs.wait(web, jid)


def test_owner_console(nsfs, test_users):
    a, b = test_users.a, test_users.b
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    as_user(a, write_file, box / "stdin", "tty")
    jid = as_user(a, exec_job, box, "sh")
    target = os.readlink(box / "jobs" / str(jid) / "console")

    def say_hi(path):
        s = connect(path)
        s.sendall(b"echo owner-$((9*9))\n")
        return read_until(s, b"owner-81")

    assert b"owner-81" in as_user(a, say_hi, target)
    # Another user cannot connect.
    assert errno_as(b, connect, target) == 13  # EACCES
    as_user(a, write_file, box / "jobs" / str(jid) / "stdin", "exit\n")
