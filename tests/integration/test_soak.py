"""Soak: many create / run / remove cycles leave nothing behind (INTERFACE
§2: "rmdir ... releases its namespaces and everything it holds ... Nothing
lingers: no process, mount, pinned namespace or state file"), and nsfsd's
own descriptors and memory stay flat.

Each test runs a warm-up (lazily created threads, caches, allocator arenas),
takes a resource snapshot, runs SOAK_CYCLES cycles (sequentially, then from
8 threads at once), and compares.  Every fourth cycle also starts and pins
the sandbox, so leaked pins (nsfs bind mounts in the state dir) show up.

Figures are printed (pytest -s, or the log of a failing test):
    soak <kind>: <cycles> cycles in <s> s (<ms>/cycle); leaks {...}
NSFS_SOAK_CYCLES overrides the number of cycles (default 1000).
"""

import os
import signal
import threading
import time

import pytest

import resources
from nsfs_util import timed, wait_until

pytestmark = pytest.mark.soak

CYCLES = int(os.environ.get("NSFS_SOAK_CYCLES", "1000"))
WARMUP = 50
THREADS = 8
# nsfsd's RSS may move this much (allocator noise); a leak of even a few
# hundred bytes a cycle exceeds it over 1000 cycles.
RSS_SLACK_KB = 4096


def cycle(nsfs, name, i):
    """mkdir, (every fourth: start and pin), run a job, check it, rmdir."""
    sb = nsfs.mnt / name
    timed(os.mkdir, sb, what=f"mkdir {name}")
    if i % 4 == 3 and os.geteuid() == 0:
        nsfs.ctl(sb, "start")
        nsfs.ctl(sb, "pin")
    cmd = "true" if i % 2 else "sh -c 'echo x'"
    jid = nsfs.exec(sb, cmd)
    assert jid == 1, f"{name}: first job got id {jid}"
    status = nsfs.wait(sb, jid)
    assert status == "exited 0", f"{name}: {cmd} ended {status}"
    if cmd != "true":
        assert nsfs.read(nsfs.job(sb, jid) / "stdout") == "x\n"
    timed(os.rmdir, sb, what=f"rmdir {name}")


def measure_rss_stable(nsfs):
    """Let FUSE releases settle before the baseline."""
    time.sleep(0.5)
    return resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])


def report(kind, cycles, seconds, before, after, leaks):
    lines = [
        f"soak {kind}: {cycles} cycles in {seconds:.1f} s ({1000 * seconds / max(cycles, 1):.1f} ms/cycle); "
        f"leaks {leaks}",
        f"  before: procs {before.sandbox_procs} zombies {before.zombies} mounts {before.mounts} "
        f"state files {before.state_files} nsfsd fds {before.nsfsd_fds} rss {before.nsfsd_rss_kb} KiB",
        f"  after:  procs {after.sandbox_procs} zombies {after.zombies} mounts {after.mounts} "
        f"state files {after.state_files} nsfsd fds {after.nsfsd_fds} rss {after.nsfsd_rss_kb} KiB "
        f"(rss delta {after.nsfsd_rss_kb - before.nsfsd_rss_kb:+d} KiB; pids left {list(after.pids)[:20]})",
    ]
    print("\n" + "\n".join(lines))
    resources.soak_reports.extend(lines)


def check(nsfs, kind, cycles, seconds, before):
    leaks = resources.settled_leaks(before, nsfs.pid, nsfs.state, paths=[nsfs.mnt], timeout=10,
                                    rss_slack_kb=resources.rss_slack_kb(nsfs, RSS_SLACK_KB))
    after = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    report(kind, cycles, seconds, before, after, leaks)
    assert timed(os.listdir, nsfs.mnt) == []
    assert leaks == {}, f"soak {kind} leaked {leaks}\nbefore {before}\nafter  {after}"
    # Nothing of any sandbox is left at all, not just "no more than before".
    assert after.sandbox_procs == 0 and after.zombies == 0, after
    assert resources.mounts_under(nsfs.state) == [], resources.mounts_under(nsfs.state)
    assert os.listdir(nsfs.state / "sandboxes") == []
    assert nsfs.proc.poll() is None


def test_soak_sequential(nsfs):
    """1,000 create / run / remove cycles one after the other."""
    for i in range(WARMUP):
        cycle(nsfs, f"warm{i}", i)
    before = measure_rss_stable(nsfs)
    t0 = time.monotonic()
    for i in range(CYCLES):
        cycle(nsfs, f"seq{i}", i)
    check(nsfs, "sequential", CYCLES, time.monotonic() - t0, before)


def test_soak_concurrent(nsfs):
    """1,000 cycles from 8 threads at once (125 each)."""
    def run_threads(prefix, total):
        per = total // THREADS
        errors = []

        def worker(t):
            try:
                for i in range(per):
                    cycle(nsfs, f"{prefix}{t}-{i}", i + t)
            except BaseException as e:  # noqa: B902 - reported below
                errors.append(f"thread {t}: {type(e).__name__}: {e}")

        threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(600)
        assert not any(th.is_alive() for th in threads), "a soak thread hung"
        assert errors == [], "\n".join(errors)
        return per * THREADS

    run_threads("warm", WARMUP if WARMUP >= THREADS else THREADS)
    before = measure_rss_stable(nsfs)
    t0 = time.monotonic()
    done = run_threads("par", CYCLES)
    check(nsfs, "concurrent", done, time.monotonic() - t0, before)


IDLE = 40


def test_one_descriptor_per_started_sandbox(nsfs):
    """nsfsd holds one descriptor per sandbox, its supervisor's socket, so
    that its descriptor limit is not what bounds the number of sandboxes
    (issue 22: with three each, the 6,664th mkdir failed).  A supervisor's
    end is still seen: one killed from outside is reaped, and rmdir waits
    for each."""
    before = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    names = [f"idle{i}" for i in range(IDLE)]
    for name in names:
        os.mkdir(nsfs.mnt / name)
        nsfs.ctl(nsfs.mnt / name, "start")
    for name in names:
        assert nsfs.read(nsfs.mnt / name / "status").splitlines()[0] == "state running"
    held = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    assert held.nsfsd_fds - before.nsfsd_fds == IDLE, (before, held)

    # Killed behind nsfsd's back: seen through its socket, and reaped.
    sups = resources.supervisor_pids(nsfs.state)
    assert len(sups) == IDLE, sups
    victim = min(sups)
    born = resources.start_time(victim)
    os.kill(victim, signal.SIGKILL)

    def reaped():
        # Gone from /proc, not a zombie; or its pid is another process's.
        try:
            with open(f"/proc/{victim}/stat") as f:
                stat = f.read()
        except FileNotFoundError:
            return True
        return int(stat[stat.rfind(")") + 2:].split()[19]) != born

    wait_until(reaped, timeout=10, what=f"supervisor {victim} reaped")

    for name in names:
        os.rmdir(nsfs.mnt / name)
    check_clean = resources.settled_leaks(before, nsfs.pid, nsfs.state, paths=[nsfs.mnt], timeout=10,
                                          rss_slack_kb=resources.rss_slack_kb(nsfs, RSS_SLACK_KB))
    assert check_clean == {}, check_clean
