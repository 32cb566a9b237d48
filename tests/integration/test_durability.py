"""Durability (INTERFACE §6, design.md "Failure handling" and "State
directory"): sandboxes and jobs outlive nsfsd, a restarted nsfsd shows them
as they are, a killed one's stale mount is cleaned up, exit records are
never lost, state files are never torn, and pinned namespaces outlive their
init.

Every test here works on a real mount and restarts (or kills) the nsfsd of
the `nsfs` fixture on the same state dir and mount point.
"""

import errno
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

import resources
from resources import fuse_mounted, start_time
from nsfs_util import TIMEOUT, Background, errno_of, expect_errno, needs_root, pid_alive, supervisor_pid, timed, wait_until

# The configurations below (maps of host root, namespace sets without
# `user`, nsenter on pinned namespaces) are root's.
pytestmark = needs_root

CONFIG_FILES = ("ctl", "uid_map", "gid_map", "hostname", "rootfs")
NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
TICKER = "sh -c 'i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.2; done'"


# ---------------------------------------------------------------- helpers


def job_pid(nsfs, sb, jid):
    text = nsfs.read(nsfs.job(sb, jid) / "pid")
    assert text.endswith("\n") and text[:-1].isdigit(), f"pid reads {text!r}"
    return int(text)


def state_file(nsfs, name, *parts):
    return nsfs.state.joinpath("sandboxes", name, *parts)


def ticks(text):
    """The tick numbers of a TICKER's output, checked to be 0, 1, 2, ...
    with no line lost, repeated or torn (a last partial line is ignored)."""
    lines = text.split("\n")[:-1]
    nums = [int(line[4:]) for line in lines if re.fullmatch(r"tick\d+", line)]
    assert len(nums) == len(lines) and nums == list(range(len(nums))), f"ticker output is not 0..n: {text!r}"
    return len(nums)


def capture(nsfs, names):
    """Everything the tree shows of sandboxes NAMES, plus the identity
    (pid, start time) of every live process behind it."""
    world = {}
    for name in names:
        sb = nsfs.mnt / name
        rec = {
            "config": {f: nsfs.read(sb / f) for f in CONFIG_FILES},
            "status": nsfs.read(sb / "status"),
            "error": nsfs.read(sb / "error"),
            "listing": sorted(timed(os.listdir, sb)),
            "jobs": {},
            "last": os.readlink(sb / "last") if os.path.lexists(sb / "last") else None,
            "ns": {},
        }
        st = nsfs.status(sb)
        if st["state"] == "running":
            init = int(st["pid"])
            rec["init"] = (init, start_time(init))
            rec["ns"] = {t: (os.readlink(sb / "ns" / t), os.stat(sb / "ns" / t).st_ino)
                         for t in timed(os.listdir, sb / "ns")}
        for jid in sorted(int(j) for j in timed(os.listdir, sb / "jobs")):
            job = nsfs.job(sb, jid)
            pid = job_pid(nsfs, sb, jid)
            status = nsfs.read(job / "status")
            rec["jobs"][jid] = {
                "cmd": nsfs.read(job / "cmd"),
                "pid": pid,
                "status": status,
                "start": start_time(pid) if status == "running\n" else None,
                "stdout": nsfs.read(job / "stdout"),
                "stderr": nsfs.read(job / "stderr"),
            }
        world[name] = rec
    return world


def live_processes(world, nsfs):
    """(pid, start time) of every init, running job and supervisor."""
    out = set()
    for name, rec in world.items():
        if "init" in rec:
            out.add(rec["init"])
        for job in rec["jobs"].values():
            if job["start"] is not None:
                out.add((job["pid"], job["start"]))
        sup = supervisor_pid(nsfs, name)
        out.add((sup, start_time(sup)))
    return out


def assert_same_processes(procs, when):
    for pid, start in procs:
        assert start is not None, f"pid {pid} was not alive when recorded"
        assert start_time(pid) == start, f"{when}: process {pid} (start time {start}) is gone or was replaced"


def assert_world_back(nsfs, before, growing=()):
    """The tree shows every sandbox of BEFORE as it was: the same config,
    state, init, namespaces, jobs (ids, pids, cmd, status), the same
    processes, and output that only grew.  Jobs in GROWING must show more
    output than before."""
    assert sorted(timed(os.listdir, nsfs.mnt)) == sorted(before), "sandboxes lost or added by the restart"
    after = capture(nsfs, before)
    for name, old in before.items():
        new = after[name]
        where = f"sandbox {name}"
        assert new["config"] == old["config"], f"{where}: configuration changed"
        assert new["status"] == old["status"], f"{where}: status changed"
        assert new["error"] == old["error"], f"{where}: error changed"
        assert new["listing"] == old["listing"], f"{where}: listing changed"
        assert new["last"] == old["last"], f"{where}: last changed"
        assert new.get("init") == old.get("init"), f"{where}: the init is not the same process"
        assert new["ns"] == old["ns"], f"{where}: ns links changed"
        assert sorted(new["jobs"]) == sorted(old["jobs"]), f"{where}: job ids changed"
        for jid, oj in old["jobs"].items():
            nj = new["jobs"][jid]
            w = f"{where} job {jid}"
            assert (nj["cmd"], nj["pid"], nj["status"]) == (oj["cmd"], oj["pid"], oj["status"]), \
                f"{w}: {nj} after, {oj} before"
            assert nj["start"] == oj["start"], f"{w}: pid {oj['pid']} is not the same process"
            assert nj["stdout"].startswith(oj["stdout"]), f"{w}: stdout lost: {oj['stdout']!r} -> {nj['stdout']!r}"
            assert nj["stderr"].startswith(oj["stderr"]), f"{w}: stderr lost"
            if (name, jid) in growing:
                assert len(nj["stdout"]) > len(oj["stdout"]), f"{w}: output did not grow"
    return after


@pytest.fixture
def world(nsfs, busybox_rootfs):
    """Three sandboxes: `web` (running, all namespaces, own maps and
    hostname; a ticker, a sleep and an ended job), `box` (running, a subset
    of namespaces and a rootfs; a sleep) and `idle` (created, configured)."""
    web = nsfs.sandbox("web")
    nsfs.write(web / "hostname", "web1")
    nsfs.write(web / "uid_map", "0 0 1\n1 100000 65536")
    nsfs.write(web / "gid_map", "0 0 1\n1 200000 1000")
    assert nsfs.exec(web, TICKER) == 1
    assert nsfs.exec(web, "sleep 1000") == 2
    assert nsfs.exec(web, "sh -c 'echo done; echo err >&2; exit 3'") == 3
    assert nsfs.wait(web, 3) == "exited 3"

    box = nsfs.sandbox("box")
    nsfs.ctl(box, "ns ipc mnt pid uts")
    nsfs.write(box / "rootfs", str(busybox_rootfs))
    nsfs.write(box / "hostname", "box1")
    assert nsfs.exec(box, "sleep 1000") == 1

    idle = nsfs.sandbox("idle")
    nsfs.ctl(idle, "ns net user uts")
    nsfs.write(idle / "hostname", "idle1")
    nsfs.write(idle / "uid_map", "0 0 1")

    # The ticker has written something.
    wait_until(lambda: ticks(nsfs.read(web / "jobs/1/stdout")) >= 2, what="the ticker's first lines")
    return {"web": web, "box": box, "idle": idle}


def check_adopted_world_works(nsfs, world, before, next_ids):
    """After a restart: wait on a job started before it, new jobs get the
    next id and run with the sandbox's configuration and namespaces."""
    web, box, idle = world["web"], world["box"], world["idle"]
    # `wait` on a job started before the restart blocks, then reports.
    sleeper = job_pid(nsfs, web, 2)
    waiter = Background(nsfs.read, nsfs.job(web, 2) / "wait")
    time.sleep(0.5)
    assert not waiter.done(), "wait on a running job started before the restart returned early"
    os.kill(sleeper, signal.SIGKILL)
    assert waiter.result() == "signaled 9\n"
    assert nsfs.read(nsfs.job(web, 2) / "status") == "signaled 9\n"

    # New jobs get the next ids, in the same namespaces.
    jid = nsfs.exec(web, "sh -c 'hostname; readlink /proc/self/ns/net; cat /proc/self/uid_map'")
    assert jid == next_ids["web"], f"new job in web got id {jid}"
    assert nsfs.wait(web, jid) == "exited 0"
    out = nsfs.read(nsfs.job(web, jid) / "stdout").splitlines()
    assert out[0] == "web1"
    assert out[1] == os.readlink(f"/proc/{before['web']['init'][0]}/ns/net")
    assert [line.split() for line in out[2:]] == [["0", "0", "1"], ["1", "100000", "65536"]]
    assert os.readlink(web / "last").rstrip("/").endswith(f"jobs/{jid}")

    jid = nsfs.exec(box, "sh -c 'cat /etc/nsfs-rootfs-marker; hostname'")
    assert jid == next_ids["box"]
    assert nsfs.wait(box, jid) == "exited 0"
    assert nsfs.read(nsfs.job(box, jid) / "stdout") == "nsfs busybox test rootfs\nbox1\n"

    # The created sandbox starts with its configuration.
    assert nsfs.run(idle, "hostname")[:2] == ("exited 0", "idle1\n")
    assert nsfs.status(idle)["ns"] == "net user uts"


# ---------------------------------------------------------------- graceful restart


def test_dead_mount_reads_as_dead_at_once(nsfs):
    """Once nsfsd is gone, its mount answers ENOTCONN: statfs and a listing
    at once, a stat of the root (cached 0.2 s, attrs.c) and every path
    through it within that, so `df` tells a live mount from a stale one
    right away and `stat` a moment later."""
    web = nsfs.sandbox("web")
    for _ in range(3):
        os.stat(nsfs.mnt)
        os.listdir(nsfs.mnt)
        os.stat(web)
    nsfs.stop_daemon("kill")
    expect_errno(errno.ENOTCONN, os.statvfs, nsfs.mnt)
    expect_errno(errno.ENOTCONN, os.listdir, nsfs.mnt)
    wait_until(lambda: errno_of(os.stat, nsfs.mnt) == errno.ENOTCONN, timeout=2, what="stat of the dead root")
    wait_until(lambda: errno_of(os.stat, web) == errno.ENOTCONN, timeout=2, what="stat through the dead root")
    expect_errno(errno.ENOTCONN, os.stat, nsfs.mnt)
    expect_errno(errno.ENOTCONN, os.stat, web)
    nsfs.launch()
    assert os.path.isdir(web)


def timed_out_while_its_supervisor_stood_still(nsfs, relaunch, call, name, value):
    """nsfsd with a 1 s --request-timeout, a running sandbox `web`, and
    CALL(web / NAME, VALUE) (CALL(web, VALUE) without NAME) failing with
    ETIMEDOUT while web's supervisor is stopped (SIGSTOP); then the
    supervisor goes on, and gets to the request late.  Returns web."""
    relaunch("--request-timeout", "1")
    web = nsfs.sandbox("web")
    nsfs.start(web)
    sup = supervisor_pid(nsfs, "web")
    os.kill(sup, signal.SIGSTOP)
    try:
        expect_errno(errno.ETIMEDOUT, call, web / name if name else web, value)
    finally:
        os.kill(sup, signal.SIGCONT)
    return web


def test_a_late_answer_is_not_taken_for_the_next_request(nsfs, relaunch):
    """A supervisor that answers after nsfsd gave up waiting (stopped here
    past --request-timeout) had its answer taken for the next request's,
    and every later answer was one behind: a job got the pid of none."""
    web = timed_out_while_its_supervisor_stood_still(nsfs, relaunch, nsfs.write, "hostname", "late")
    pids = []
    for _ in range(3):
        jid = nsfs.exec(web, "sleep 60")
        pid = int(nsfs.read(nsfs.job(web, jid) / "pid"))
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[0] == b"sleep", f"job {jid}: pid {pid} is not its sleep"
        pids.append(pid)
    assert len(set(pids)) == 3, pids
    nsfs.ctl(web, "kill TERM")
    for jid in (1, 2, 3):
        assert nsfs.wait(web, jid) == "signaled 15"


def test_stop_waits_its_grace_period_whatever_the_request_timeout(nsfs, relaunch):
    relaunch("--request-timeout", "1")
    web = nsfs.sandbox("web")
    jid = nsfs.exec(web, "sh -c 'trap \"\" TERM; echo ready; sleep 60'")
    wait_until(lambda: nsfs.read(nsfs.job(web, jid) / "stdout") == "ready\n", what="the trap to be set")
    nsfs.ctl(web, "stop")
    assert nsfs.status(web)["state"] == "stopped"
    assert nsfs.wait(web, jid) == "signaled 9"


def test_an_exec_that_timed_out_but_ran_is_a_job(nsfs, relaunch):
    """An exec that timed out may still run once its supervisor gets to
    it (§5 cannot be kept there: nsfsd does not know).  The next exec
    asked for the same id; the supervisor reused its directory and wiped
    the job's output, or refused, and every exec failed with EEXIST.
    Now the job is taken in as its records show it, and the next exec
    gets the next id."""
    web = timed_out_while_its_supervisor_stood_still(nsfs, relaunch, nsfs.exec, None,
                                                     "sh -c 'echo late; sleep 60'")
    assert nsfs.exec(web, "true") == 2
    assert nsfs.wait(web, 2) == "exited 0"
    job1 = nsfs.job(web, 1)
    assert nsfs.read(job1 / "cmd") == "sh -c 'echo late; sleep 60'\n"
    assert pid_alive(int(nsfs.read(job1 / "pid")))
    assert nsfs.read(job1 / "status") == "running\n"
    wait_until(lambda: nsfs.read(job1 / "stdout") == "late\n", what="job 1's output")
    nsfs.ctl(web, "kill")
    assert nsfs.wait(web, 1) == "signaled 9"
    assert os.readlink(web / "last") == "jobs/2"


def test_job_cmd_with_an_escaped_trailing_blank_survives_a_restart(nsfs):
    web = nsfs.sandbox("web")
    jid = nsfs.exec(web, "echo a\\ ")
    assert nsfs.wait(web, jid) == "exited 0"
    assert nsfs.read(nsfs.job(web, jid) / "stdout") == "a \n"
    assert nsfs.read(nsfs.job(web, jid) / "cmd") == "echo a\\ \n"
    nsfs.restart("kill")
    assert nsfs.read(nsfs.job(web, jid) / "cmd") == "echo a\\ \n"


def as_a_scripts_background_job():
    """The signal state `nsfsd -f &` gets in a script without job control
    (SIGINT and SIGQUIT ignored), with the stop signals blocked as well, as
    a careless parent could leave them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


@pytest.mark.parametrize("how", ["int", "term", "hup"])
def test_stop_signals_work_whatever_nsfsd_inherited(nsfs, how):
    """INTERFACE §0: SIGTERM and SIGINT unmount cleanly.  libfuse installs
    its handlers only over the default action, so an nsfsd started with
    SIGINT ignored (a script's background job) stayed mounted on SIGINT."""
    nsfs.stop_daemon("term")
    nsfs.launch(preexec_fn=as_a_scripts_background_job)
    sb = nsfs.sandbox("web")
    jid = nsfs.exec(sb, "sleep 1000")
    pid = job_pid(nsfs, sb, jid)
    nsfs.stop_daemon(how)
    assert pid_alive(pid), "the job did not outlive nsfsd"
    nsfs.launch()
    assert nsfs.read(nsfs.job(sb, jid) / "status") == "running\n"


def _process_running(argv):
    """The pid of the live process whose command line is exactly ARGV."""
    want = "\0".join(argv) + "\0"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline") as f:
                if f.read() == want and pid_alive(int(entry)):
                    return int(entry)
        except OSError:
            continue
    return None


def test_nohup_keeps_nsfsd_through_a_hangup(nsfs):
    """An nsfsd started under nohup (SIGHUP ignored) outlives its terminal's
    hangup: resetting the stop signals must not undo that."""
    nsfs.stop_daemon("term")
    nsfs.launch(preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    nsfs.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)  # long enough for a handler to have ended the loop
    assert nsfs.proc.poll() is None, "nsfsd under nohup ended on SIGHUP"
    assert nsfs.mount_is_live()
    nsfs.stop_daemon("term")
    nsfs.launch()


def test_without_f_nsfsd_detaches_once_mounted(nsfs, tmp_path):
    """INTERFACE §0: without -f nsfsd detaches once its mount is ready, so
    `nsfsd && ls` never races.  -d alone adds the log and does not keep it
    in the foreground (it implied -f before); detached, it keeps the stderr
    it was given for that log."""
    nsfs.stop_daemon("term")
    argv = [nsfs.binary, "-d", "--state-dir", str(nsfs.state), str(nsfs.mnt)]
    log = tmp_path / "detached.log"
    daemon = None
    try:
        with open(log, "wb") as f:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=nsfs.env(),
                               timeout=TIMEOUT)
        assert r.returncode == 0, log.read_text(errors="replace")
        assert nsfs.mount_is_live(), "nsfsd returned before its mount was ready"
        daemon = _process_running(argv)
        assert daemon is not None, "no detached nsfsd is running"
        assert (nsfs.state / "nsfsd.lock").read_text() == f"{daemon}\n", "the lock file does not name nsfsd"
        timed(os.mkdir, nsfs.mnt / "det")
        assert nsfs.status(nsfs.mnt / "det")["state"] == "created"
        timed(os.rmdir, nsfs.mnt / "det")
        wait_until(lambda: b"mkdir /det: ok" in log.read_bytes(), what="the detached nsfsd's debug log")
        subprocess.run(["fusermount3", "-u", str(nsfs.mnt)], check=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
        wait_until(lambda: not pid_alive(daemon), what="the detached nsfsd to end after fusermount3 -u")
        daemon = None
        assert (nsfs.state / "nsfsd.lock").read_text() == "", "a cleanly ended nsfsd left its pid behind"
    finally:
        if daemon is not None and pid_alive(daemon):
            os.kill(daemon, signal.SIGKILL)
        if fuse_mounted(nsfs.mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(nsfs.mnt)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    nsfs.launch()


def test_graceful_restart_keeps_sandboxes_and_jobs(nsfs, world):
    """INTERFACE §0/§6: on SIGTERM nsfsd unmounts cleanly; sandboxes and
    jobs keep running and their output keeps being kept; a new nsfsd on the
    same state dir shows every sandbox (config, state), job (id, pid, cmd,
    status, output) as it is, with the same processes behind them."""
    before = capture(nsfs, world)
    # What is compared below is really there.
    assert sorted(before["web"]["ns"]) == sorted(NS_TYPES) and sorted(before["box"]["ns"]) == ["ipc", "mnt", "pid", "uts"]
    assert before["box"]["config"]["rootfs"] != "\n" and before["idle"]["status"].startswith("state created\n")
    assert [j["status"] for j in before["web"]["jobs"].values()] == ["running\n", "running\n", "exited 3\n"]
    assert before["web"]["jobs"][3]["stdout"] == "done\n" and before["web"]["jobs"][3]["stderr"] == "err\n"
    procs = live_processes(before, nsfs)
    assert len(procs) == 8  # 3 supervisors, 2 inits, 3 running jobs
    ticker_file = state_file(nsfs, "web", "jobs", "1", "stdout")
    seen_down = {}

    def while_down():
        assert not fuse_mounted(nsfs.mnt)
        assert_same_processes(procs, "while nsfsd was down")
        # Output keeps being written with nobody serving the mount.
        n0 = ticks(ticker_file.read_text())
        time.sleep(1.2)
        seen_down["text"] = ticker_file.read_text()
        assert ticks(seen_down["text"]) >= n0 + 3, "the job's output stopped while nsfsd was down"
        assert_same_processes(procs, "while nsfsd was down")

    nsfs.restart("term", while_down=while_down)

    after = assert_world_back(nsfs, before, growing={("web", 1)})
    assert after["web"]["jobs"][1]["stdout"].startswith(seen_down["text"]), \
        "output written while nsfsd was down is missing"
    ticks(after["web"]["jobs"][1]["stdout"])
    assert_same_processes(procs, "after the restart")
    assert fuse_mounted(nsfs.mnt) and resources.fuse_mount_count(nsfs.mnt) == 1
    check_adopted_world_works(nsfs, world, before, {"web": 4, "box": 2})


# ---------------------------------------------------------------- crash


def test_crash_restart_keeps_sandboxes_jobs_and_exits(nsfs, world):
    """INTERFACE §6: after SIGKILL of nsfsd, sandboxes and jobs carry on;
    jobs that end while it is down leave their exit records (`exited N`,
    `signaled N`); the stale FUSE mount is detached by the next nsfsd,
    which shows everything as it is."""
    web = world["web"]
    trigger = nsfs.base / "exit-trigger"
    # Ends with 7 once the trigger file appears (the sandbox sees the host's
    # files: no rootfs).
    assert nsfs.exec(web, f"sh -c 'while [ ! -e {trigger} ]; do sleep 0.05; done; echo bye; exit 7'") == 4
    assert nsfs.exec(web, "sleep 1001") == 5
    pid_exits, pid_signaled = job_pid(nsfs, web, 4), job_pid(nsfs, web, 5)
    before = capture(nsfs, world)
    procs = live_processes(before, nsfs)
    ticker_file = state_file(nsfs, "web", "jobs", "1", "stdout")
    seen_down = {}

    def while_down():
        # The mount is stale: still there, every access fails.
        assert fuse_mounted(nsfs.mnt), "no stale mount after SIGKILL of nsfsd"
        expect_errno(errno.ENOTCONN, os.statvfs, nsfs.mnt)
        assert_same_processes(procs, "after SIGKILL of nsfsd")
        trigger.touch()
        os.kill(pid_signaled, signal.SIGUSR1)
        wait_until(lambda: not pid_alive(pid_exits) and not pid_alive(pid_signaled),
                   what="the two jobs to end while nsfsd is down")
        # The supervisor keeps the records (it outlives nsfsd).
        wait_until(lambda: state_file(nsfs, "web", "jobs", "5", "status").exists()
                   and state_file(nsfs, "web", "jobs", "4", "status").exists(),
                   what="the exit records written while nsfsd is down")
        n0 = ticks(ticker_file.read_text())
        time.sleep(1.0)
        seen_down["text"] = ticker_file.read_text()
        assert ticks(seen_down["text"]) >= n0 + 3, "the job's output stopped while nsfsd was down"

    nsfs.restart("kill", while_down=while_down)

    # The stale mount is gone, not stacked under the new one.
    assert resources.fuse_mount_count(nsfs.mnt) == 1, resources.mounts()
    assert "web" in timed(os.listdir, nsfs.mnt)

    # The jobs that ended during the outage: their exit records right away.
    job4, job5 = nsfs.job(web, 4), nsfs.job(web, 5)
    assert nsfs.read(job4 / "status") == "exited 7\n"
    assert nsfs.read(job4 / "wait") == "exited 7\n"
    assert nsfs.read(job4 / "stdout") == "bye\n"
    assert nsfs.read(job5 / "status") == "signaled 10\n"
    assert nsfs.read(job5 / "wait") == "signaled 10\n"
    # Apart from those two, everything is as it was.
    for rec in (before["web"]["jobs"][4], before["web"]["jobs"][5]):
        rec["start"] = None
    before["web"]["jobs"][4].update(status="exited 7\n", stdout="bye\n")
    before["web"]["jobs"][5]["status"] = "signaled 10\n"
    procs = {(p, s) for p, s in procs if p not in (pid_exits, pid_signaled)}
    after = assert_world_back(nsfs, before, growing={("web", 1)})
    assert after["web"]["jobs"][1]["stdout"].startswith(seen_down["text"])
    ticks(after["web"]["jobs"][1]["stdout"])
    assert_same_processes(procs, "after the restart")
    check_adopted_world_works(nsfs, world, before, {"web": 6, "box": 2})


def test_crash_restart_twice_in_a_row(nsfs):
    """A killed nsfsd's successor may be killed too: each start detaches the
    stale mount, and the sandbox and its job survive both."""
    web = nsfs.sandbox("web")
    jid = nsfs.exec(web, "sleep 1000")
    pid = job_pid(nsfs, web, jid)
    start = start_time(pid)
    for _ in range(2):
        nsfs.restart("kill")
        assert resources.fuse_mount_count(nsfs.mnt) == 1
        assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"
        assert start_time(pid) == start
    nsfs.restart("term")
    assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"
    assert nsfs.run(web, "echo ok")[:2] == ("exited 0", "ok\n")


# ---------------------------------------------------------------- a lost supervisor


def test_supervisor_killed(nsfs):
    """design.md, failure handling: a supervisor killed outright takes its
    init and jobs with it (PDEATHSIG); nsfsd marks the sandbox `stopped`
    with a line in `error`, its jobs `signaled 9`; other sandboxes carry on;
    the next exec spawns a new supervisor."""
    a, b = nsfs.sandbox("a"), nsfs.sandbox("b")
    ja1 = nsfs.exec(a, "sleep 1000")
    ja2 = nsfs.exec(a, TICKER)
    ja3 = nsfs.exec(a, "true")
    assert nsfs.wait(a, ja3) == "exited 0"
    jb = nsfs.exec(b, "sleep 1000")
    init_a, init_b = int(nsfs.status(a)["pid"]), int(nsfs.status(b)["pid"])
    a_pids = [init_a, job_pid(nsfs, a, ja1), job_pid(nsfs, a, ja2)]
    b_procs = {(p, start_time(p)) for p in (init_b, job_pid(nsfs, b, jb), supervisor_pid(nsfs, "b"))}
    sup_a = supervisor_pid(nsfs, "a")
    a_family = resources.descendants([sup_a])
    assert set(a_pids) <= a_family
    waiter = Background(nsfs.read, nsfs.job(a, ja1) / "wait")
    time.sleep(0.3)
    assert not waiter.done()

    os.kill(sup_a, signal.SIGKILL)

    assert waiter.result() == "signaled 9\n", "a reader blocked in wait did not learn the job's end"
    wait_until(lambda: nsfs.status(a)["state"] == "stopped", what="sandbox a to become stopped")
    # A lost supervisor's end is on record, for whoever investigates it.
    wait_until(lambda: f"supervisor {sup_a} ended: signaled 9" in nsfs.log_text(),
               what="nsfsd to log how the supervisor ended")
    st = nsfs.status(a)
    assert "pid" not in st
    err = nsfs.error(a)
    assert err.endswith("\n") and err.count("\n") == 1 and "supervisor" in err, f"error reads {err!r}"
    for jid in (ja1, ja2):
        assert nsfs.read(nsfs.job(a, jid) / "status") == "signaled 9\n"
        assert nsfs.read(nsfs.job(a, jid) / "wait") == "signaled 9\n"
    assert nsfs.read(nsfs.job(a, ja3) / "status") == "exited 0\n", "an earlier exit record was overwritten"
    wait_until(lambda: not any(pid_alive(p) for p in a_family),
               what=f"sandbox a's processes {sorted(p for p in a_family if pid_alive(p))} to die")
    assert timed(os.listdir, a / "ns") == []
    assert not os.path.lexists(a / "root")

    # The other sandbox carries on.
    assert_same_processes(b_procs, "after another sandbox's supervisor died")
    assert nsfs.status(b) == {"state": "running", "pid": str(init_b), "ns": " ".join(NS_TYPES)}
    assert nsfs.read(nsfs.job(b, jb) / "status") == "running\n"
    assert nsfs.run(b, "echo b")[:2] == ("exited 0", "b\n")

    # A new exec in the lost sandbox works again, with a new supervisor.
    assert nsfs.run(a, "echo again")[:2] == ("exited 0", "again\n")
    new_sup = supervisor_pid(nsfs, "a")
    assert new_sup != sup_a and pid_alive(new_sup)
    st = nsfs.status(a)
    assert st["state"] == "running" and int(st["pid"]) not in a_pids
    assert sorted(int(j) for j in timed(os.listdir, a / "jobs")) == [1, 2, 3, 4]

    # And the lost sandbox survives a restart of nsfsd in its new life.
    nsfs.restart("term")
    assert nsfs.status(a)["state"] == "running"
    assert nsfs.read(nsfs.job(a, ja1) / "status") == "signaled 9\n"


def test_supervisor_killed_while_nsfsd_down(nsfs):
    """A supervisor that dies while nsfsd is down: the next nsfsd finds no
    supervisor, shows the sandbox stopped and its unrecorded jobs
    `signaled 9`, keeps recorded exits, and a new exec works."""
    sb = nsfs.sandbox("web")
    j1 = nsfs.exec(sb, "sleep 1000")
    j2 = nsfs.exec(sb, "sh -c 'exit 4'")
    assert nsfs.wait(sb, j2) == "exited 4"
    sup = supervisor_pid(nsfs, "web")
    family = resources.descendants([sup])

    def while_down():
        os.kill(sup, signal.SIGKILL)
        wait_until(lambda: not any(pid_alive(p) for p in family), what="the sandbox's processes to die")

    nsfs.restart("term", while_down=while_down)
    assert nsfs.status(sb)["state"] == "stopped"
    assert nsfs.read(nsfs.job(sb, j1) / "status") == "signaled 9\n"
    assert nsfs.read(nsfs.job(sb, j1) / "wait") == "signaled 9\n"
    assert nsfs.read(nsfs.job(sb, j2) / "status") == "exited 4\n"
    assert nsfs.exec(sb, "echo new") == 3
    assert nsfs.wait(sb, 3) == "exited 0"
    assert supervisor_pid(nsfs, "web") != sup


def copy_build(nsfs, dest):
    """Copy the nsfsd and supervisor binaries into DEST/nsfsd/ and
    DEST/backend/ (another build's layout); the copied nsfsd's path."""
    env = nsfs.env()
    sup = env.get("NSFS_SUPERVISOR") or str(os.path.join(os.path.dirname(nsfs.binary), "..", "backend",
                                                         "nsfs-supervisor"))
    (dest / "nsfsd").mkdir(parents=True)
    (dest / "backend").mkdir()
    shutil.copy2(nsfs.binary, dest / "nsfsd" / "nsfsd")
    shutil.copy2(sup, dest / "backend" / "nsfs-supervisor")
    return str(dest / "nsfsd" / "nsfsd")


def runs_binary(pid, binary):
    """PID runs BINARY (directly, or under a wrapper such as valgrind)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    want = os.path.realpath(binary)
    return os.path.realpath(f"/proc/{pid}/exe") == want or any(os.path.realpath(a) == want for a in argv)


def test_upgrade_adopts_sandboxes_of_another_build(nsfs):
    """design.md: nsfsd adopts every sandbox in the state dir, also those
    started by another build's nsfsd and supervisor (an upgrade): config,
    jobs and their processes, and they keep working."""
    old = copy_build(nsfs, nsfs.base / "old-build")
    old_sup = os.path.realpath(nsfs.base / "old-build" / "backend" / "nsfs-supervisor")
    nsfs.restart("term", binary=old)
    assert runs_binary(nsfs.pid, old)

    web = nsfs.sandbox("web")
    nsfs.write(web / "hostname", "old1")
    assert nsfs.exec(web, TICKER) == 1
    assert nsfs.exec(web, "sh -c 'echo from the old build; exit 2'") == 2
    assert nsfs.wait(web, 2) == "exited 2"
    idle = nsfs.sandbox("idle")
    nsfs.ctl(idle, "ns user uts")
    sup = supervisor_pid(nsfs, "web")
    assert os.path.realpath(f"/proc/{sup}/exe") == old_sup, "the old nsfsd did not use its own supervisor"
    wait_until(lambda: ticks(nsfs.read(web / "jobs/1/stdout")) >= 2, what="output")
    before = capture(nsfs, ["web", "idle"])
    procs = live_processes(before, nsfs)

    # The current build takes over.
    nsfs.restart("term", down=0.5)
    assert runs_binary(nsfs.pid, nsfs.binary)
    assert_world_back(nsfs, before, growing={("web", 1)})
    assert_same_processes(procs, "after the upgrade")
    # The adopted (old) supervisor serves the new nsfsd.
    assert nsfs.exec(web, "hostname") == 3
    assert nsfs.wait(web, 3) == "exited 0"
    assert nsfs.read(web / "jobs/3/stdout") == "old1\n"
    nsfs.write(web / "hostname", "new1")
    assert nsfs.run(web, "hostname")[:2] == ("exited 0", "new1\n")
    nsfs.ctl(web, "kill TERM")
    assert nsfs.wait(web, 1) == "signaled 15"
    assert nsfs.run(idle, "hostname")[:2] == ("exited 0", "idle\n")
    # New sandboxes get the current build's supervisor.
    nsfs.sandbox("fresh")
    assert os.path.realpath(f"/proc/{supervisor_pid(nsfs, 'fresh')}/exe") != old_sup


def test_refuses_state_dir_of_unknown_version(nsfs):
    """design.md, state directory: `version` is the state dir's format; an
    nsfsd that cannot read it refuses to start, saying why on stderr, with
    a non-zero exit, and touches nothing."""
    web = nsfs.sandbox("web")
    jid = nsfs.exec(web, "sleep 1000")
    pid = job_pid(nsfs, web, jid)
    start = start_time(pid)
    version = nsfs.state / "version"
    assert version.read_text().strip() == "1"
    nsfs.stop_daemon("term")

    version.write_text("99\n")
    files_before = sorted(str(p) for p in nsfs.state.rglob("*"))
    r = nsfs.launch_expect_failure()
    assert r.returncode != 0, f"nsfsd started on a state dir of version 99:\n{r.stderr}"
    assert "99" in r.stderr and ("format" in r.stderr or "version" in r.stderr), \
        f"stderr does not say why: {r.stderr!r}"
    assert str(nsfs.state) in r.stderr or "state dir" in r.stderr, f"stderr does not name the state dir: {r.stderr!r}"
    assert not fuse_mounted(nsfs.mnt), "nsfsd mounted although it refused the state dir"
    assert version.read_text() == "99\n", "nsfsd rewrote the version it cannot read"
    assert sorted(str(p) for p in nsfs.state.rglob("*")) == files_before
    assert start_time(pid) == start

    # Back to a readable version: everything is there.
    version.write_text("1\n")
    nsfs.launch()
    assert nsfs.read(nsfs.job(web, jid) / "status") == "running\n"
    assert start_time(pid) == start


def test_sandbox_of_unknown_config_format_is_not_adopted(nsfs):
    """design.md: a sandbox whose config has a format this build cannot
    read is not adopted; nsfsd says why in its log, keeps running, serves
    the other sandboxes, and leaves the unreadable one's state alone."""
    good = nsfs.sandbox("good")
    jg = nsfs.exec(good, "sleep 1000")
    future = nsfs.sandbox("future")
    jf = nsfs.exec(future, "sleep 1000")
    pf = job_pid(nsfs, future, jf)
    nsfs.stop_daemon("term")

    cfg = state_file(nsfs, "future", "config")
    text = cfg.read_text()
    assert re.search(r"^format=1$", text, re.M), text
    future_text = re.sub(r"^format=1$", "format=99", text, flags=re.M)
    cfg.write_text(future_text)
    files_before = sorted(str(p) for p in state_file(nsfs, "future").rglob("*"))

    nsfs.launch()
    assert sorted(timed(os.listdir, nsfs.mnt)) == ["good"]
    log = nsfs.log_since_launch()
    lines = [line for line in log.splitlines() if "future" in line]
    assert any("99" in line and "format" in line for line in lines), \
        f"nsfsd does not log why it skipped sandbox future:\n{log}"
    assert nsfs.proc.poll() is None
    assert nsfs.read(nsfs.job(good, jg) / "status") == "running\n"
    assert nsfs.run(good, "echo ok")[:2] == ("exited 0", "ok\n")
    # Its state is left alone, its processes too; the name stays taken.
    assert pid_alive(pf)
    try:
        timed(os.mkdir, nsfs.mnt / "future")
        created = True
    except OSError:
        created = False
    assert not created, "mkdir of the unreadable sandbox's name succeeded"
    assert cfg.read_text() == future_text
    assert sorted(str(p) for p in state_file(nsfs, "future").rglob("*")) == files_before

    # A build that reads it again adopts it.
    cfg.write_text(text)
    nsfs.restart("term")
    assert sorted(timed(os.listdir, nsfs.mnt)) == ["future", "good"]
    assert nsfs.read(nsfs.job(future, jf) / "status") == "running\n"


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("how", ["term", "kill"])
def test_config_of_created_sandbox_survives_restart(nsfs, busybox_rootfs, how):
    """INTERFACE §6: the state dir holds each sandbox's configuration; what
    was written to a created, never started sandbox is there after a
    graceful restart or a crash, and is what it starts with."""
    sb = nsfs.sandbox("cfg")
    nsfs.ctl(sb, "ns mnt pid user uts")
    nsfs.write(sb / "uid_map", "0 0 1\n1 100000 1000")
    nsfs.write(sb / "gid_map", "0 0 1\n1 200000 1000")
    nsfs.write(sb / "hostname", "cfg1")
    nsfs.write(sb / "rootfs", str(busybox_rootfs))
    before = {f: nsfs.read(sb / f) for f in CONFIG_FILES}
    assert before["ctl"] == "ns mnt pid user uts\n"
    status = nsfs.read(sb / "status")
    assert status.startswith("state created\n")

    nsfs.restart(how)
    assert {f: nsfs.read(sb / f) for f in CONFIG_FILES} == before
    assert nsfs.read(sb / "status") == status
    nsfs.restart(how)
    assert {f: nsfs.read(sb / f) for f in CONFIG_FILES} == before

    status, out, err = nsfs.run(sb, "sh -c 'hostname; cat /etc/nsfs-rootfs-marker /proc/self/uid_map /proc/self/gid_map'")
    assert status == "exited 0", err
    lines = out.splitlines()
    assert lines[:2] == ["cfg1", "nsfs busybox test rootfs"]
    assert [line.split() for line in lines[2:]] == [["0", "0", "1"], ["1", "100000", "1000"],
                                                    ["0", "0", "1"], ["1", "200000", "1000"]]
    assert nsfs.status(sb)["ns"] == "mnt pid user uts"


def _big_map(base, lines):
    return "\n".join(f"{i * 10} {base + i * 10} 10" for i in range(lines))


def parse_config(text):
    """A state-dir config (GKeyFile: one [sandbox] group of key=value lines)
    as a dict with values unescaped; AssertionError if it does not parse."""
    lines = text.split("\n")
    assert lines[0] == "[sandbox]" and lines[-1] == "", f"not a whole config file: {text[:200]!r}...{text[-100:]!r}"
    out = {}
    for line in lines[1:-1]:
        key, sep, value = line.partition("=")
        assert sep and key and key not in out, f"bad config line {line!r}"
        out[key] = value.replace("\\n", "\n").replace("\\\\", "\\")
    assert out.get("format") == "1" and out.get("name") == "web", out
    return out


def test_state_files_are_replaced_atomically(nsfs):
    """design.md, state directory: records are written to a temporary file
    and renamed, so a crash leaves the old or the new contents, never a torn
    one.  A thread writes uid_map and hostname in a loop while another reads
    the config file in the state dir (which must always be whole), and
    nsfsd is killed in the middle of the loop; the config then parses and
    holds the last acknowledged value or the one in flight."""
    sb = nsfs.sandbox("web")
    # Under the kernel's 4096-byte limit for a map, so nsfsd takes each.
    maps = [_big_map(100000, 250), _big_map(500000, 120), _big_map(900000, 7)]
    assert all(len(m) < 3900 for m in maps)
    hostnames = [f"h{i}-" + "x" * (i % 50) for i in range(200)]
    cfg_path = state_file(nsfs, "web", "config")

    def check_file(text, acknowledged=None):
        cfg = parse_config(text)
        assert cfg.get("uid_map") in {None, *(m + "\n" for m in maps)}, "a torn uid_map in the config file"
        assert cfg.get("hostname") in {None, *hostnames}, f"a torn hostname in the config file: {cfg.get('hostname')!r}"
        return cfg

    for rnd in range(6):
        stop = threading.Event()
        track = {"uid_map": [None, None], "hostname": [None, None], "writes": 0, "reads": 0, "bad": [],
                 "error": None}

        def writer():
            i = 0
            while not stop.is_set():
                i += 1
                for name, value in (("uid_map", maps[i % 3]), ("hostname", hostnames[i % 200])):
                    track[name][1] = value  # in flight
                    try:
                        fd = os.open(sb / name, os.O_WRONLY | os.O_TRUNC)
                        try:
                            os.write(fd, value.encode())
                        finally:
                            os.close(fd)
                    except OSError as e:
                        track["error"] = e  # nsfsd is gone (checked below)
                        return
                    track[name][0] = value  # acknowledged
                    track["writes"] += 1

        def reader():
            # Straight from the state dir, racing the writer: a file that is
            # rewritten in place shows up here empty or cut short.
            while not stop.is_set():
                try:
                    check_file(cfg_path.read_text())
                    track["reads"] += 1
                    time.sleep(0.001)  # leave the writer its share of the GIL
                except AssertionError as e:
                    track["bad"].append(str(e))
                    return

        threads = [threading.Thread(target=f, daemon=True) for f in (writer, reader)]
        for t in threads:
            t.start()
        wait_until(lambda: track["writes"] >= 30 or track["error"], what="30 config writes")
        assert track["error"] is None, f"round {rnd}: a config write failed before the crash: {track['error']}"
        time.sleep(0.05 * rnd)
        nsfs.stop_daemon("kill")
        stop.set()
        for t in threads:
            t.join(TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a config write hung after nsfsd was killed"
        assert track["bad"] == [], f"round {rnd}: a reader saw a partial config file: {track['bad']}"
        # EIO too: when the kill lands while a worker is copying the request
        # out of /dev/fuse, the copy fails and the kernel ends that request
        # with EIO (fs/fuse/dev.c, fuse_dev_do_read), not ECONNABORTED.
        assert track["error"] is None or track["error"].errno in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO), \
            f"round {rnd}: a config write failed with {track['error']} when nsfsd was killed"
        assert track["reads"] > 10, f"round {rnd}: only {track['reads']} reads of the config file"

        # What the crash left: a whole file, holding the last acknowledged
        # value or the one in flight.
        allowed_hosts = {v for v in track["hostname"] if v is not None}
        allowed_maps = {v + "\n" for v in track["uid_map"] if v is not None}
        cfg = check_file(cfg_path.read_text())
        assert cfg.get("hostname") in allowed_hosts, f"round {rnd}: hostname {cfg.get('hostname')!r}"
        assert cfg.get("uid_map") in allowed_maps, f"round {rnd}: uid_map is neither the old nor the new value"
        # And the same through the new mount.
        nsfs.launch()
        assert timed(os.listdir, nsfs.mnt) == ["web"], f"round {rnd}: the sandbox was not adopted"
        assert nsfs.read(sb / "hostname") == cfg["hostname"] + "\n"
        assert nsfs.read(sb / "uid_map") == cfg["uid_map"]
        print(f"round {rnd}: {track['writes']} writes acknowledged, {track['reads']} whole reads before the crash")
    # Still a working sandbox (with a map its owner can run under).
    nsfs.write(sb / "uid_map", "0 0 1")
    assert nsfs.run(sb, "true")[0] == "exited 0"


# ---------------------------------------------------------------- exit status


def test_exit_status_never_lost(nsfs):
    """INTERFACE §4/§6: every job's end is recorded, `exited <code>` or
    `signaled <signo>`: ending while nsfsd runs, while it is down (graceful
    and crash), and when the whole sandbox is stopped; the records survive
    restarts."""
    sb = nsfs.sandbox("web")
    expected = {}

    # While nsfsd runs.
    jid = nsfs.exec(sb, "sh -c 'exit 5'")
    expected[jid] = "exited 5"
    jid = nsfs.exec(sb, "sh -c 'kill -USR1 $$'")
    expected[jid] = "signaled 10"
    jid = nsfs.exec(sb, "sleep 1000")
    os.kill(job_pid(nsfs, sb, jid), signal.SIGKILL)
    expected[jid] = "signaled 9"
    for jid, st in expected.items():
        assert nsfs.wait(sb, jid) == st

    # While nsfsd is down: gracefully, then killed.
    for how, code, sig in (("term", 6, signal.SIGINT), ("kill", 8, signal.SIGHUP)):
        gate = nsfs.base / f"gate-{how}"
        j_exit = nsfs.exec(sb, f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done; exit {code}'")
        j_sig = nsfs.exec(sb, "sleep 1000")
        pids = [job_pid(nsfs, sb, j_exit), job_pid(nsfs, sb, j_sig)]
        expected[j_exit] = f"exited {code}"
        expected[j_sig] = f"signaled {int(sig)}"

        def while_down(gate=gate, pids=pids, sig=sig):
            gate.touch()
            os.kill(pids[1], sig)
            wait_until(lambda: not any(pid_alive(p) for p in pids), what="the jobs to end")

        nsfs.restart(how, while_down=while_down)
        for jid, st in expected.items():
            assert nsfs.read(nsfs.job(sb, jid) / "status") == st + "\n", f"job {jid} after restart ({how})"
            assert nsfs.wait(sb, jid) == st

    # The whole sandbox stopped: SIGTERM, SIGKILL for those that ignore it.
    j_term = nsfs.exec(sb, "sleep 1000")
    j_stubborn = nsfs.exec(sb, "sh -c 'trap \"\" TERM; echo ready; while :; do sleep 0.1; done'")
    wait_until(lambda: nsfs.read(nsfs.job(sb, j_stubborn) / "stdout") == "ready\n", what="the trap")
    r = nsfs.sh(f"echo stop > {sb}/ctl")
    assert r.returncode == 0, r.stderr
    expected[j_term] = "signaled 15"
    expected[j_stubborn] = "signaled 9"
    assert nsfs.status(sb)["state"] == "stopped"
    for jid, st in expected.items():
        assert nsfs.wait(sb, jid) == st, f"job {jid}"

    # Recorded is recorded: after another restart, all of them still.
    nsfs.restart("kill")
    for jid, st in expected.items():
        assert nsfs.read(nsfs.job(sb, jid) / "status") == st + "\n", f"job {jid}"
    assert sorted(int(j) for j in timed(os.listdir, sb / "jobs")) == sorted(expected)


def test_init_death_while_nsfsd_down_is_recorded(nsfs):
    """The init dying while nsfsd is down (killed from outside): the next
    nsfsd shows the sandbox stopped and its jobs' exits."""
    sb = nsfs.sandbox("web")
    jid = nsfs.exec(sb, "sleep 1000")
    init = int(nsfs.status(sb)["pid"])

    def while_down():
        os.kill(init, signal.SIGKILL)
        wait_until(lambda: state_file(nsfs, "web", "jobs", str(jid), "status").exists(),
                   what="the job's exit record")

    nsfs.restart("kill", while_down=while_down)
    assert nsfs.status(sb)["state"] == "stopped"
    assert nsfs.read(nsfs.job(sb, jid) / "status") == "signaled 9\n"
    # The job's exit record, which while_down waits for, may be written
    # before the init's: they are reaped in either order.
    err = wait_until(lambda: nsfs.error(sb), fail=False, what="the sandbox's error")
    assert "init" in err and "signaled 9" in err, f"error does not say why the sandbox stopped: {err!r}"
    assert nsfs.run(sb, "true")[0] == "exited 0"


# ---------------------------------------------------------------- pin / unpin


def ns_mounts(nsfs):
    return sorted(mp for mp, _ in resources.mounts_under(nsfs.state))


def test_pin_outlives_stop_and_restart(nsfs):
    """reference.md, ctl `pin`: the namespaces are bind-mounted into the
    state dir and outlive `stop`, the init and nsfsd; ns/<type> then points
    at the pinned file, usable by nsenter; `unpin` releases them; `pin`
    needs a running sandbox (EBUSY)."""
    sb = nsfs.sandbox("web")
    nsfs.write(sb / "hostname", "pinned1")
    expect_errno(errno.EBUSY, nsfs.ctl, sb, "pin")
    assert "pin" in nsfs.error(sb)
    init = nsfs.start(sb)
    assert ns_mounts(nsfs) == []
    nsfs.ctl(sb, "pin")
    st = nsfs.status(sb)
    assert "pinned" in st, f"no pinned line in status: {st}"
    pinned = st["pinned"].split()
    assert pinned == sorted(pinned) and set(pinned) >= {"net", "uts", "ipc"}, pinned
    assert set(pinned) <= set(st["ns"].split())
    inos = {t: os.stat(f"/proc/{init}/ns/{t}").st_ino for t in pinned}
    assert {t: os.stat(sb / "ns" / t).st_ino for t in pinned} == inos
    assert len(ns_mounts(nsfs)) == len(pinned), ns_mounts(nsfs)

    nsfs.ctl(sb, "stop")
    wait_until(lambda: not pid_alive(init), what="the init to end")
    st = nsfs.status(sb)
    assert st["state"] == "stopped" and st.get("pinned") == " ".join(pinned), st

    def check_pins():
        assert sorted(timed(os.listdir, sb / "ns")) == pinned
        for t in pinned:
            link = sb / "ns" / t
            target = os.readlink(link)
            assert target.startswith(str(nsfs.state)), f"ns/{t} -> {target}"
            assert os.stat(link).st_ino == inos[t], f"ns/{t} no longer is the pinned namespace"
        r = subprocess.run(["nsenter", f"--net={sb}/ns/net", "true"], capture_output=True, text=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["nsenter", f"--uts={sb}/ns/uts", "hostname"], capture_output=True, text=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        assert (r.returncode, r.stdout) == (0, "pinned1\n"), r.stderr

    check_pins()
    expect_errno(errno.EBUSY, nsfs.ctl, sb, "pin")

    # Pins outlive nsfsd too.
    nsfs.restart("term")
    assert nsfs.status(sb).get("pinned") == " ".join(pinned)
    check_pins()
    nsfs.restart("kill")
    assert nsfs.status(sb).get("pinned") == " ".join(pinned)
    check_pins()

    nsfs.ctl(sb, "unpin")
    st = nsfs.status(sb)
    assert "pinned" not in st, st
    assert timed(os.listdir, sb / "ns") == []
    assert ns_mounts(nsfs) == []
    assert not state_file(nsfs, "web", "pinned").exists() or \
        list(state_file(nsfs, "web", "pinned").iterdir()) == []


def test_pins_show_after_a_restart_before_the_supervisor_answers(nsfs):
    """A restarted nsfsd showed `pinned` only once the adopted supervisor
    answered its hello: a status read first (under valgrind, often) had
    none.  Pins are records: they show from the start."""
    sb = nsfs.sandbox("web")
    nsfs.start(sb)
    nsfs.ctl(sb, "pin")
    pinned = nsfs.status(sb)["pinned"]
    nsfs.ctl(sb, "stop")
    sup = supervisor_pid(nsfs, "web")
    nsfs.stop_daemon("term")
    os.kill(sup, signal.SIGSTOP)
    try:
        nsfs.launch()
        st = nsfs.status(sb)
        assert st.get("pinned") == pinned, st
    finally:
        os.kill(sup, signal.SIGCONT)
    wait_until(lambda: "hello" not in nsfs.error(sb) and nsfs.status(sb).get("pinned") == pinned,
               what="the supervisor's answer")
    nsfs.ctl(sb, "unpin")
    assert "pinned" not in nsfs.status(sb)


@pytest.mark.parametrize("when", ["running", "stopped", "supervisor-lost"])
def test_rmdir_of_pinned_sandbox_leaves_nothing(nsfs, when):
    """INTERFACE §2: rmdir of a sandbox in any state releases everything it
    holds: no mount (pinned namespace) under the state dir, no state file,
    no process; also when its supervisor was lost."""
    before = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    sb = nsfs.sandbox("web")
    nsfs.exec(sb, "sleep 1000")
    nsfs.ctl(sb, "pin")
    assert "pinned" in nsfs.status(sb)
    assert ns_mounts(nsfs) != []
    if when == "stopped":
        nsfs.ctl(sb, "stop")
    elif when == "supervisor-lost":
        sup = supervisor_pid(nsfs, "web")
        os.kill(sup, signal.SIGKILL)
        wait_until(lambda: nsfs.status(sb)["state"] == "stopped", what="state stopped")
        assert ns_mounts(nsfs) != [], "the pins went with the supervisor"
        assert "pinned" in nsfs.status(sb)
    timed(os.rmdir, sb)
    assert ns_mounts(nsfs) == [], f"mounts left under the state dir: {ns_mounts(nsfs)}"
    assert not state_file(nsfs, "web").exists(), \
        f"state files left: {sorted(str(p) for p in state_file(nsfs, 'web').rglob('*'))}"
    # nsfsd's RSS is its own only outside valgrind, whose translations grow
    # with every code path run for the first time (here: the warning about
    # the lost supervisor).
    leaks = resources.settled_leaks(before, nsfs.pid, nsfs.state, paths=[nsfs.mnt], fd_slack=2,
                                    rss_slack_kb=resources.rss_slack_kb(nsfs, 8192))
    assert leaks == {}, f"{before} -> {resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])}"


def test_start_of_pinned_stopped_sandbox_pins_the_new_namespaces(nsfs):
    """reference.md, `pin`: a later `start` pins its fresh namespaces in
    place of the old."""
    sb = nsfs.sandbox("web")
    nsfs.start(sb)
    nsfs.ctl(sb, "pin")
    old = os.stat(sb / "ns" / "net").st_ino
    held = os.open(sb / "ns" / "net", os.O_RDONLY)  # keeps the inode number from being reused
    try:
        nsfs.ctl(sb, "stop")
        init = nsfs.start(sb)
        new = os.stat(f"/proc/{init}/ns/net").st_ino
        assert new != old
        nsfs.ctl(sb, "stop")
        assert os.stat(sb / "ns" / "net").st_ino == new
    finally:
        os.close(held)
    assert len(ns_mounts(nsfs)) == len(nsfs.status(sb)["pinned"].split())
