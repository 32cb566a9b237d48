"""Jobs (INTERFACE §4) and the sandbox states (§2)."""

import errno
import os
import select
import signal
import subprocess
import threading
import time

import pytest

import resources
from nsfs_util import TIMEOUT, Background, expect_errno, pid_alive, supervisor_pid, timed, wait_until

JOB_ENTRIES = {"cmd", "pid", "status", "wait", "stdout", "stderr"}


def job_pid(nsfs, sb, jid):
    text = nsfs.read(nsfs.job(sb, jid) / "pid")
    assert text.endswith("\n") and text[:-1].isdigit(), f"pid reads {text!r}"
    return int(text)


# ---------------------------------------------------------------- ids, last, files


def test_status_and_wait_mtime_is_when_the_job_ended(nsfs, web):
    """`status` and `wait` change when the job ends (wait's size too), so
    their mtime is the end, not the start: tools that compare mtimes (make,
    rsync, file managers) see the change.  It stays so after a restart."""
    gate = nsfs.base / "mtime-gate"
    jid = nsfs.exec(web, f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done'")
    job = nsfs.job(web, jid)
    started = os.stat(job / "cmd").st_mtime_ns
    assert os.stat(job / "wait").st_mtime_ns == started
    time.sleep(0.05)  # so that the end is a later time than the start
    released = time.time_ns()
    gate.touch()
    assert nsfs.wait(web, jid) == "exited 0"
    for name in ("status", "wait"):
        st = os.stat(job / name)
        # The record's mtime comes from the kernel's coarse clock (a tick
        # behind time.time_ns() at worst: 4 ms at HZ=250).
        assert st.st_mtime_ns >= released - 10_000_000, f"{name}'s mtime is not the job's end"
        assert st.st_ctime_ns == st.st_mtime_ns
    assert os.stat(job / "cmd").st_mtime_ns == started
    ended = os.stat(job / "status").st_mtime_ns
    nsfs.restart("term")
    for name in ("status", "wait"):
        assert os.stat(job / name).st_mtime_ns == ended, f"{name}'s mtime moved with a restart"
    # After a restart the start is the time of the job's records.
    assert os.stat(job / "cmd").st_mtime_ns < released


def test_job_ids_count_up(nsfs, web):
    assert [nsfs.exec(web, "true") for _ in range(3)] == [1, 2, 3]
    assert set(os.listdir(web / "jobs")) == {"1", "2", "3"}


def test_exec_reads_back_id_on_same_fd(nsfs, web):
    def do():
        fd = os.open(web / "exec", os.O_RDWR)
        try:
            out = []
            for cmd in ("true", "echo two"):
                os.write(fd, cmd.encode())
                out.append(os.read(fd, 100))
            return out
        finally:
            os.close(fd)

    assert timed(do) == [b"1\n", b"2\n"]


def test_exec_via_shell_redirect(nsfs, web):
    r = nsfs.sh(f"echo 'echo hi there' > {web}/exec")
    assert r.returncode == 0, r.stderr
    assert nsfs.wait(web, 1) == "exited 0"
    assert nsfs.read(web / "jobs/1/stdout") == "hi there\n"
    # Other languages: python's buffered file object, flushed.
    with open(web / "exec", "w") as f:
        f.write("echo again")
        f.flush()
    assert nsfs.wait(web, 2) == "exited 0"


def test_last_points_at_newest_job(nsfs, web):
    for expected in (1, 2, 3):
        jid = nsfs.exec(web, f"echo {expected}")
        assert jid == expected
        link = os.readlink(web / "last")
        assert link.rstrip("/").endswith(f"jobs/{jid}"), link
        assert os.path.realpath(web / "last") == str(web / "jobs" / str(jid))
    nsfs.wait(web, 3)
    assert nsfs.read(web / "last" / "stdout") == "3\n"


def test_job_files(nsfs, web):
    jid = nsfs.exec(web, "echo hello   world")
    job = nsfs.job(web, jid)
    assert set(os.listdir(job)) == JOB_ENTRIES
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.read(job / "cmd") == "echo hello   world\n"
    assert nsfs.read(job / "status") == "exited 0\n"
    assert nsfs.read(job / "wait") == "exited 0\n"
    assert nsfs.read(job / "stdout") == "hello world\n"
    assert nsfs.read(job / "stderr") == ""
    job_pid(nsfs, web, jid)


def test_pid_is_the_host_pid(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    pid = job_pid(nsfs, web, jid)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"60"]
    assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"


# ---------------------------------------------------------------- wait


def test_wait_blocks_until_exit(nsfs, web):
    jid = nsfs.exec(web, "sh -c 'sleep 2; exit 3'")
    t0 = time.monotonic()
    waiter = Background(nsfs.read, nsfs.job(web, jid) / "wait")
    time.sleep(1)
    assert not waiter.done(), "wait returned while the job was running"
    assert waiter.result() == "exited 3\n"
    assert time.monotonic() - t0 >= 1.5
    assert nsfs.read(nsfs.job(web, jid) / "status") == "exited 3\n"


def test_wait_exited_0(nsfs, web):
    assert nsfs.wait(web, nsfs.exec(web, "true")) == "exited 0"


def test_wait_signaled_9(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    waiter = Background(nsfs.read, nsfs.job(web, jid) / "wait")
    os.kill(job_pid(nsfs, web, jid), signal.SIGKILL)
    assert waiter.result() == "signaled 9\n"
    assert nsfs.read(nsfs.job(web, jid) / "status") == "signaled 9\n"


def test_wait_nonblocking_read(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    wait = nsfs.job(web, jid) / "wait"
    expect_errno(errno.EAGAIN, nsfs.read_bytes, wait, os.O_NONBLOCK)
    os.kill(job_pid(nsfs, web, jid), signal.SIGTERM)
    assert nsfs.wait(web, jid) == "signaled 15"
    assert nsfs.read_bytes(wait, os.O_NONBLOCK) == b"signaled 15\n"


def test_poll_on_wait(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    wait = nsfs.job(web, jid) / "wait"
    fd = timed(os.open, wait, os.O_RDONLY | os.O_NONBLOCK)
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        events = timed(p.poll, 700)
        assert events == [], f"poll reported {events} while the job runs"
        os.kill(job_pid(nsfs, web, jid), signal.SIGKILL)
        t0 = time.monotonic()
        events = timed(p.poll, 10000)
        assert events and events[0][1] & select.POLLIN, f"poll after the job ended: {events}"
        assert time.monotonic() - t0 < 9
        assert timed(os.read, fd, 100) == b"signaled 9\n"
    finally:
        os.close(fd)
    # An ended job's wait is readable at once; select() agrees.
    fd = timed(os.open, wait, os.O_RDONLY)
    try:
        r, _, _ = timed(select.select, [fd], [], [], 5)
        assert r == [fd]
    finally:
        os.close(fd)


def test_blocked_waiters_do_not_block_the_mount(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    wait = nsfs.job(web, jid) / "wait"
    # More blocked readers than libfuse's default worker threads.
    cats = [subprocess.Popen(["cat", str(wait)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL) for _ in range(12)]
    in_process = [Background(nsfs.read, wait) for _ in range(4)]
    try:
        time.sleep(0.5)
        assert all(c.poll() is None for c in cats), "cat wait returned while the job runs"
        assert not any(b.done() for b in in_process)

        # Everything else keeps working meanwhile.
        assert nsfs.status(web)["state"] == "running"
        assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"
        r = nsfs.sh(f"ls -lR {nsfs.mnt}")
        assert r.returncode == 0, r.stderr
        other = nsfs.sandbox("other")
        nsfs.write(other / "hostname", "other1")
        status, out, _ = nsfs.run(web, "echo still here")
        assert (status, out) == ("exited 0", "still here\n")
        status, out, _ = nsfs.run(other, "hostname")
        assert (status, out) == ("exited 0", "other1\n")
        timed(os.rmdir, other)
        assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"

        nsfs.ctl(web, "kill")
        for c in cats:
            out, err = c.communicate(timeout=TIMEOUT)
            assert (c.returncode, out, err) == (0, b"signaled 9\n", b"")
        for b in in_process:
            assert b.result() == "signaled 9\n"
    finally:
        for c in cats:
            if c.poll() is None:
                c.kill()
                c.wait()


def test_interrupted_wait(nsfs, web):
    """A reader blocked in wait can be killed (Ctrl-C / SIGKILL)."""
    jid = nsfs.exec(web, "sleep 60")
    for sig in (signal.SIGINT, signal.SIGKILL):
        cat = subprocess.Popen(["cat", str(nsfs.job(web, jid) / "wait")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        time.sleep(0.5)
        assert cat.poll() is None
        cat.send_signal(sig)
        try:
            cat.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            cat.kill()
            pytest.fail(f"cat blocked in wait did not end on signal {sig}")
    assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"


# ---------------------------------------------------------------- exec errors


def test_exec_errors(nsfs, web):
    notexec = nsfs.base / "not-executable"
    notexec.write_text("#!/bin/sh\necho no\n")
    os.chmod(notexec, 0o644)
    cases = [
        ("/nonexistent/program", errno.ENOENT),
        ("no-such-program-nsfs-test", errno.ENOENT),
        (str(notexec), errno.EACCES),
        ("/tmp", errno.EACCES),
        ("\n", errno.EINVAL),
        ("   ", errno.EINVAL),
        ("echo 'unbalanced", errno.EINVAL),
        ('echo "unbalanced', errno.EINVAL),
    ]
    for cmd, code in cases:
        expect_errno(code, nsfs.exec, web, cmd)
        err = nsfs.read(web / "error")
        assert "exec" in err and err.count("\n") == 1, f"after exec {cmd!r}: error is {err!r}"
    # No failed write used an id or left a job behind.
    assert os.listdir(web / "jobs") == []
    assert not os.path.lexists(web / "last")
    assert nsfs.exec(web, "true") == 1


def children(pid):
    """PID's live children."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split() if pid_alive(int(c))]
    except FileNotFoundError:
        return []


def test_failed_exec_leaves_the_sandbox_as_it_was(nsfs, web):
    """A write to exec that starts the sandbox for a program that cannot
    run fails as a whole: the sandbox stays created (or stopped, with its
    reason), no init is left behind, and the next write starts it."""
    sup = supervisor_pid(nsfs, "web")
    expect_errno(errno.ENOENT, nsfs.exec, web, "no-such-program-nsfs-test")
    st = nsfs.status(web)
    assert st["state"] == "created" and "pid" not in st, st
    assert not os.path.lexists(web / "root") and os.listdir(web / "ns") == []
    assert children(sup) == [], "an init was left behind"

    nsfs.start(web)
    nsfs.ctl(web, "stop")
    error_before = nsfs.read(web / "error")
    expect_errno(errno.EACCES, nsfs.exec, web, "/tmp")
    assert nsfs.status(web)["state"] == "stopped"
    assert children(sup) == [], "an init was left behind"
    assert nsfs.read(web / "error") != error_before  # it explains the exec

    assert nsfs.exec(web, "true") == 1
    assert nsfs.wait(web, 1) == "exited 0"
    assert nsfs.status(web)["state"] == "running"


def test_exec_error_via_shell(nsfs, web):
    r = nsfs.sh(f"/bin/echo /nonexistent/program > {web}/exec")
    assert r.returncode != 0
    assert "No such file or directory" in r.stderr


# ---------------------------------------------------------------- command lines, output


def test_command_line_splitting(nsfs, web):
    status, out, _ = nsfs.run(web, r"""printf '%s|' 'a b' "c d" e\ f '' "it's" 'say "hi"' back\\slash""")
    assert status == "exited 0"
    assert out == """a b|c d|e f||it's|say "hi"|back\\slash|"""


def test_no_shell_expansion(nsfs, web):
    status, out, _ = nsfs.run(web, "echo $HOME * ~ ; | & > x $(id) `id`")
    assert status == "exited 0"
    assert out == "$HOME * ~ ; | & > x $(id) `id`\n"


def test_stdout_and_stderr(nsfs, web):
    status, out, err = nsfs.run(web, "sh -c 'echo out1; echo err1 >&2; echo out2; exit 4'")
    assert status == "exited 4"
    assert out == "out1\nout2\n"
    assert err == "err1\n"


def test_large_output(nsfs, web):
    jid = nsfs.exec(web, "seq 1 100000")
    assert nsfs.wait(web, jid) == "exited 0"
    stdout = nsfs.job(web, jid) / "stdout"
    expected = "".join(f"{i}\n" for i in range(1, 100001))
    assert nsfs.read(stdout) == expected
    assert os.stat(stdout).st_size == len(expected)
    r = nsfs.sh(f"tail -n 1 {stdout}; head -n 2 {stdout}; wc -l < {stdout}")
    assert r.stdout == "100000\n1\n2\n100000\n"


def test_output_written_after_the_job_ended_shows(nsfs, web):
    """An ended job's output is read through the page cache and kept
    there; a background process that still holds the file and writes to
    it (or truncates it) must still show, on the next read."""
    jid = nsfs.exec(web, "sh -c 'echo first; (sleep 1; echo late; sleep 1; : > /proc/self/fd/1; echo new) &'")
    assert nsfs.wait(web, jid) == "exited 0"
    stdout = nsfs.job(web, jid) / "stdout"
    assert nsfs.read(stdout) == "first\n"
    assert nsfs.read(stdout) == "first\n"
    wait_until(lambda: nsfs.read(stdout) == "first\nlate\n", what="output appended after the job ended")
    with open(stdout) as f:
        assert f.read() == "first\nlate\n"
        wait_until(lambda: nsfs.read(stdout) == "new\n", what="output truncated and rewritten")
        f.seek(0)
        assert f.read() == "new\n"


def test_output_readable_while_running(nsfs, web):
    jid = nsfs.exec(web, "sh -c 'echo early; sleep 60'")
    stdout = nsfs.job(web, jid) / "stdout"
    wait_until(lambda: nsfs.read(stdout) == "early\n", what="the job's first line")
    # cat ends at the current end instead of blocking.
    r = nsfs.sh(f"cat {stdout}")
    assert r.stdout == "early\n"
    assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"


def test_tail_f_follows_output(nsfs, web):
    jid = nsfs.exec(web, "sh -c 'for i in 1 2 3 4 5; do echo line$i; sleep 1; done'")
    stdout = nsfs.job(web, jid) / "stdout"
    tail = subprocess.Popen(["tail", "-f", str(stdout)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    lines = []
    status_at_first_line = []

    def reader():
        for line in tail.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) == 1:
                status_at_first_line.append(nsfs.read(nsfs.job(web, jid) / "status"))
            if line.startswith("line5"):
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        t.join(TIMEOUT)
        assert not t.is_alive(), f"tail -f stopped following; got {lines}"
        assert lines == [f"line{i}" for i in range(1, 6)]
        assert status_at_first_line == ["running\n"], "tail -f saw nothing before the job ended"
    finally:
        tail.kill()
        tail.wait()
    assert tail.stderr.read() == ""


def test_stdout_size_and_mtime_grow(nsfs, web):
    jid = nsfs.exec(web, "sh -c 'for i in 1 2 3 4; do echo chunk$i; sleep 0.7; done'")
    job = nsfs.job(web, jid)
    samples = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        st = os.stat(job / "stdout")
        running = nsfs.read(job / "status") == "running\n"
        samples.append((st.st_size, st.st_mtime_ns, running))
        if not running:
            break
        time.sleep(0.15)
    sizes = [s for s, _, _ in samples]
    assert sizes == sorted(sizes), f"st_size went backwards: {sizes}"
    running_sizes = {s for s, _, r in samples if r}
    assert len(running_sizes) >= 3, f"st_size did not grow while the job ran: {samples}"
    mtimes = [m for _, m, _ in samples]
    assert mtimes == sorted(mtimes) and mtimes[-1] > mtimes[0], f"mtime did not advance: {mtimes}"
    assert nsfs.wait(web, jid) == "exited 0"
    assert os.stat(job / "stdout").st_size == len("chunk1\nchunk2\nchunk3\nchunk4\n")


def test_stdin_is_dev_null(nsfs, web):
    status, out, err = nsfs.run(web, "sh -c 'readlink /proc/self/fd/0; cat; echo end'")
    assert (status, out, err) == ("exited 0", "/dev/null\nend\n", "")


def test_clean_environment(nsfs, web):
    status, out, _ = nsfs.run(web, "env")
    assert status == "exited 0"
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert set(env) == {"PATH", "HOME", "TERM"}, env
    assert "/bin" in env["PATH"].split(":")
    assert env["HOME"].startswith("/")


def test_output_kept_after_stop(nsfs, web):
    status, out, _ = nsfs.run(web, "echo kept")
    nsfs.ctl(web, "stop")
    assert nsfs.read(web / "jobs/1/stdout") == "kept\n"
    assert nsfs.read(web / "jobs/1/status") == "exited 0\n"


# ---------------------------------------------------------------- kill


@pytest.mark.parametrize("directive, expected", [
    ("kill", "signaled 9"),
    ("kill\n", "signaled 9"),
    ("kill TERM", "signaled 15"),
    ("kill SIGTERM", "signaled 15"),
    ("kill 15", "signaled 15"),
    ("kill INT", "signaled 2"),
    ("kill HUP", "signaled 1"),
])
def test_kill_directive(nsfs, web, directive, expected):
    a = nsfs.exec(web, "sleep 60")
    b = nsfs.exec(web, "sleep 61")
    nsfs.ctl(web, directive)
    assert nsfs.wait(web, a) == expected
    assert nsfs.wait(web, b) == expected
    # The sandbox itself keeps running.
    assert nsfs.status(web)["state"] == "running"
    assert nsfs.run(web, "true")[0] == "exited 0"


def test_kill_reaches_the_jobs_children(nsfs, web):
    jid = nsfs.exec(web, "sh -c 'sleep 60 & echo $!; wait'")
    wait_until(lambda: nsfs.read(nsfs.job(web, jid) / "stdout"), what="the child's pid")
    child_ns_pid = int(nsfs.read(nsfs.job(web, jid) / "stdout"))
    assert child_ns_pid > 0
    sh_pid = job_pid(nsfs, web, jid)
    table = resources._proc_table()
    children = [p for p, (pp, _) in table.items() if pp == sh_pid]
    assert children, "the job's sleep child is not visible"
    nsfs.ctl(web, "kill TERM")
    assert nsfs.wait(web, jid) == "signaled 15"
    wait_until(lambda: not any(pid_alive(p) for p in children), what="the job's child to die")


# ---------------------------------------------------------------- states


def test_state_transitions(nsfs, web):
    st = nsfs.status(web)
    assert list(st)[0] == "state" and st["state"] == "created"
    assert "pid" not in st

    nsfs.ctl(web, "start")
    text = nsfs.read(web / "status")
    st = nsfs.status(web)
    assert text.startswith("state running\n")
    assert st["ns"] == "cgroup ipc mnt net pid time user uts"
    pid1 = int(st["pid"])
    assert pid_alive(pid1)
    assert os.listdir(web / "jobs") == []

    nsfs.ctl(web, "stop")
    st = nsfs.status(web)
    assert st["state"] == "stopped" and "pid" not in st
    wait_until(lambda: not pid_alive(pid1), what=f"init {pid1} to go")

    nsfs.ctl(web, "start")
    st = nsfs.status(web)
    assert st["state"] == "running"
    pid2 = int(st["pid"])
    assert pid2 != pid1 and pid_alive(pid2)

    # `start` again while running changes nothing.
    nsfs.ctl(web, "start")
    assert int(nsfs.status(web)["pid"]) == pid2

    # exec from stopped starts fresh namespaces.
    nsfs.ctl(web, "stop")
    assert nsfs.run(web, "true")[0] == "exited 0"
    st = nsfs.status(web)
    assert st["state"] == "running" and int(st["pid"]) not in (pid1, pid2)


def test_exec_starts_a_created_sandbox(nsfs, web):
    assert nsfs.status(web)["state"] == "created"
    nsfs.exec(web, "sleep 60")
    st = nsfs.status(web)
    assert st["state"] == "running" and pid_alive(int(st["pid"]))


def test_status_ns_line_follows_ctl(nsfs, web):
    nsfs.ctl(web, "ns uts pid")
    nsfs.start(web)
    assert nsfs.status(web)["ns"] == "pid uts"


def test_polling_wait_of_a_running_job_then_removing_the_sandbox(nsfs):
    """Each poll of `wait` leaves a handle with the running job, one per
    open, gone with the open or the job (valgrind's stage checks that none
    is lost)."""
    sb = nsfs.sandbox("web")
    jid = nsfs.exec(sb, "sleep 60")
    for _ in range(3):
        fd = os.open(nsfs.job(sb, jid) / "wait", os.O_RDONLY)
        try:
            for _ in range(3):
                assert select.select([fd], [], [], 0.05)[0] == []
        finally:
            os.close(fd)
    keep = os.open(nsfs.job(sb, jid) / "wait", os.O_RDONLY)
    try:
        assert select.select([keep], [], [], 0.05)[0] == []
        timed(os.rmdir, sb)
    finally:
        os.close(keep)


def test_stop_ends_jobs(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    pid = job_pid(nsfs, web, jid)
    nsfs.ctl(web, "stop")
    assert nsfs.wait(web, jid) == "signaled 15"
    assert not pid_alive(pid)
    assert nsfs.status(web)["state"] == "stopped"


def test_stop_of_a_created_sandbox_makes_it_stopped(nsfs, web):
    """§3: after `stop` the state is `stopped`, also for a sandbox that was
    never started; `error` stays empty (nothing went wrong), a restart keeps
    the state, and a later job starts it as from any stopped state."""
    nsfs.ctl(web, "stop")
    st = nsfs.status(web)
    assert st["state"] == "stopped" and "pid" not in st
    assert nsfs.read(web / "error") == ""
    nsfs.restart()
    assert nsfs.status(web)["state"] == "stopped"
    jid = nsfs.exec(web, "true")
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.status(web)["state"] == "running"


def test_stop_kills_after_grace_period(nsfs, web):
    jid = nsfs.exec(web, "sh -c 'trap \"\" TERM; echo ready; sleep 60'")
    wait_until(lambda: nsfs.read(nsfs.job(web, jid) / "stdout") == "ready\n", what="the trap to be set")
    t0 = time.monotonic()
    nsfs.ctl(web, "stop")
    assert nsfs.wait(web, jid) == "signaled 9"
    assert time.monotonic() - t0 < TIMEOUT
    assert nsfs.status(web)["state"] == "stopped"


def test_stop_gives_what_a_job_left_behind_its_grace_period(nsfs, web):
    """A job's child that outlives it (an orphan of the pid namespace's
    init) gets SIGTERM and the grace period too: the init was killed, and
    the child with it, as soon as no job was left."""
    jid = nsfs.exec(web, "sh -c '(trap \"sleep 0.5; echo cleaned up; exit\" TERM; echo ready;"
                         " while :; do sleep 0.05; done) &'")
    assert nsfs.wait(web, jid) == "exited 0"
    out = nsfs.job(web, jid) / "stdout"
    wait_until(lambda: nsfs.read(out) == "ready\n", what="the trap to be set")
    nsfs.ctl(web, "stop")
    assert nsfs.status(web)["state"] == "stopped"
    assert nsfs.read(out) == "ready\ncleaned up\n"


def leftovers_without_a_pid_namespace(nsfs, web):
    """A sandbox without a pid namespace whose one job left two processes
    behind, one in its process group and one in a session of its own:
    our subreaper's children that no job record names.  Their pids."""
    nsfs.ctl(web, "ns user mnt uts ipc net")
    jid = nsfs.exec(web, "sh -c 'sleep 1000 & echo $!; setsid sleep 1000 & echo $!'")
    assert nsfs.wait(web, jid) == "exited 0"
    pids = [int(p) for p in nsfs.read(nsfs.job(web, jid) / "stdout").split()]
    assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    return pids


def test_stop_without_pid_namespace_ends_what_jobs_left(nsfs, web):
    pids = leftovers_without_a_pid_namespace(nsfs, web)
    nsfs.ctl(web, "stop")
    assert nsfs.status(web)["state"] == "stopped"
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=5, what="the leftovers to end")


def test_rmdir_without_pid_namespace_ends_what_jobs_left(nsfs, web):
    """rmdir waited for every child of the supervisor, and a leftover no
    one had signalled never ended: rmdir failed after 30 s (ETIMEDOUT)
    and the supervisor hung."""
    pids = leftovers_without_a_pid_namespace(nsfs, web)
    timed(os.rmdir, web, timeout=10)
    assert os.listdir(nsfs.mnt) == []
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=5, what="the leftovers to end")


def test_stop_without_pid_namespace_gives_late_leftovers_sigterm(nsfs, web):
    """A process in a session of its own misses SIGTERM to its job's
    group, and is left behind only when the job dies of it: it gets its
    SIGTERM then, not just SIGKILL when the grace period is over."""
    nsfs.ctl(web, "ns user mnt uts ipc net")
    jid = nsfs.exec(web, "sh -c 'setsid sh -c \"trap \\\"echo bye; exit\\\" TERM; echo ready;"
                         " while :; do sleep 0.05; done\" & wait'")
    out = nsfs.job(web, jid) / "stdout"
    wait_until(lambda: nsfs.read(out) == "ready\n", what="the trap to be set")
    nsfs.ctl(web, "stop")
    assert nsfs.status(web)["state"] == "stopped"
    assert nsfs.read(out) == "ready\nbye\n"


@pytest.mark.parametrize("ns", ["all", "no pid"])
def test_stop_sends_each_process_one_sigterm(nsfs, web, ns):
    """With a pid namespace the init's SIGTERM to all and the job's own
    made two; without one, a child left behind in its job's group got a
    second as a stray.  Many servers take a second SIGTERM as "now"."""
    if ns == "no pid":
        nsfs.ctl(web, "ns user mnt uts ipc net")
    loop = "trap \\\"echo term\\\" TERM; echo ready; while :; do sleep 0.05; done"
    jid = nsfs.exec(web, f"sh -c 'sh -c \"{loop}\" & wait'")
    out = nsfs.job(web, jid) / "stdout"
    wait_until(lambda: nsfs.read(out) == "ready\n", what="the trap to be set")
    nsfs.ctl(web, "stop")  # the looping child ignores it: SIGKILL after the grace period
    assert nsfs.status(web)["state"] == "stopped"
    assert nsfs.read(out) == "ready\nterm\n"


def test_init_killed_from_outside_without_pid_namespace_ends_what_jobs_left(nsfs, web):
    pids = leftovers_without_a_pid_namespace(nsfs, web)
    os.kill(int(nsfs.status(web)["pid"]), signal.SIGKILL)
    wait_until(lambda: nsfs.status(web)["state"] == "stopped", what="state stopped")
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=5, what="the leftovers to end")


def test_init_killed_from_outside(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    init = int(nsfs.status(web)["pid"])
    os.kill(init, signal.SIGKILL)
    assert nsfs.wait(web, jid) == "signaled 9"
    wait_until(lambda: nsfs.status(web)["state"] == "stopped", what="state stopped")
    assert nsfs.run(web, "true")[0] == "exited 0"


def test_rmdir_with_running_jobs_leaves_nothing(nsfs):
    before = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    sb = nsfs.sandbox("web")
    j1 = nsfs.exec(sb, "sh -c 'sleep 100 & sleep 100'")
    j2 = nsfs.exec(sb, "sleep 100")
    wait_until(lambda: len(resources.snapshot(nsfs.pid, nsfs.state).pids) >= 5,
               what="the job's background child")
    during = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    pids = set(during.pids) | {job_pid(nsfs, sb, j1), job_pid(nsfs, sb, j2), int(nsfs.status(sb)["pid"])}
    assert all(pid_alive(p) for p in pids)

    timed(os.rmdir, sb)
    assert os.listdir(nsfs.mnt) == []
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=5,
               what=f"the sandbox's processes {sorted(p for p in pids if pid_alive(p))} to end")
    after = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    assert after.sandbox_procs == 0, after
    assert after.zombies == 0, after
    assert after.mounts == before.mounts
    assert after.state_files == before.state_files, "state files left behind"
