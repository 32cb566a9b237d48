#!/usr/bin/python3
"""nsfs benchmark: every case timed side by side with its anchor in one run.

Each iteration runs the case and its anchor back to back, in random order,
so both see the same machine.  Reported: min, median, p99 and max per
series, the ratio of medians (or of throughputs), and the target from
issue 6.  Raw numbers go to JSON, distributions to a PNG chart.

Run it through bench/run, which builds what it needs and passes the paths.
"""
import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

UNSHARE = ["unshare", "-Urfpimnu", "-C", "-T", "--mount-proc", "true"]


def now():
    return time.perf_counter_ns()


def spawn_wait(argv, stdout=None):
    """posix_spawn + wait: the cheapest way to run an anchor command."""
    out = os.open(os.devnull, os.O_WRONLY) if stdout is None else stdout
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, out, 1)])
    finally:
        if stdout is None:
            os.close(out)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: {status}")


def write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data.encode() if isinstance(data, str) else data)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def stats(ns):
    s = sorted(ns)
    p99 = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
    return {"min": s[0], "median": statistics.median(s), "p99": p99, "max": s[-1], "n": len(s)}


class Bench:
    def __init__(self, args):
        self.args = args
        self.mnt = Path(args.mnt)
        self.results = {}
        self.counter = 0

    def name(self, prefix):
        self.counter += 1
        return f"{prefix}{os.getpid()}-{self.counter}"

    # -- primitives ------------------------------------------------------

    def start_job(self, sb, cmd="true"):
        fd = os.open(sb / "exec", os.O_RDWR)
        try:
            os.write(fd, cmd.encode())
            return int(os.read(fd, 32))
        finally:
            os.close(fd)

    def cold_nsfs(self, rootfs=None, mounts=None, net=None, limits=None, mnt=None):
        sb = (mnt or self.mnt) / self.name("c")
        os.mkdir(sb)
        for f, v in (limits or {}).items():
            write(sb / f, v)
        if rootfs:
            write(sb / "rootfs", rootfs)
        if mounts:
            write(sb / "mounts", mounts)
        if net:
            write(sb / "net", net)
        write(sb / "exec", "true")
        status = read(sb / "last" / "wait")
        os.rmdir(sb)
        if status != b"exited 0\n":
            raise RuntimeError(f"cold job ended {status!r}")

    def side_by_side(self, key, case, anchor, runs=None, warmup=None, gap=0.0):
        """GAP seconds of rest before each timed run, untimed."""
        runs = runs or self.args.runs
        warmup = self.args.warmup if warmup is None else warmup
        a, b = [], []
        for i in range(warmup + runs):
            order = [(case, a), (anchor, b)]
            random.shuffle(order)
            for fn, sink in order:
                if gap:
                    time.sleep(gap)
                t = now()
                fn()
                dt = now() - t
                if i >= warmup:
                    sink.append(dt)
        self.results[key] = {"nsfs": a, "anchor": b}
        return a, b

    # -- the cases -------------------------------------------------------

    def case_cold(self):
        self.side_by_side("cold sandbox", self.cold_nsfs, lambda: spawn_wait(UNSHARE))

    def case_cold_idle(self):
        """The cold sandbox after the machine rested 0.2 s, as one typed by
        hand is: back to back, some starts find the kernel's cgroup
        migration lock still fast from the start before (docs/performance.md,
        "a cold start after a rest")."""
        self.side_by_side("cold sandbox after a rest", self.cold_nsfs, lambda: spawn_wait(UNSHARE),
                          runs=min(self.args.runs, 40), warmup=min(self.args.warmup, 3), gap=0.2)

    def case_cold_disk(self):
        """The cold sandbox on a second nsfsd whose state dir is on a disk
        file system (/var/tmp), side by side with this run's (tmpfs)."""
        disk = Path(tempfile.mkdtemp(prefix="nsfs-bench-disk.", dir="/var/tmp"))
        mnt = disk / "mnt"
        mnt.mkdir()
        log = open(disk / "nsfsd.log", "w")
        proc = subprocess.Popen([self.args.nsfsd, "-f", "--state-dir", str(disk / "state"), str(mnt)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if os.path.ismount(mnt):
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the disk nsfsd did not mount")
            self.side_by_side("cold sandbox, state dir on disk", lambda: self.cold_nsfs(mnt=mnt), self.cold_nsfs)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if os.path.ismount(mnt):
                subprocess.run(["fusermount3", "-u", "-z", str(mnt)])
            for pidfile in (disk / "state" / "sandboxes").glob("*/supervisor.pid"):
                try:
                    os.kill(int(pidfile.read_text()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            log.close()
            shutil.rmtree(disk, ignore_errors=True)

    def case_cold_shell(self):
        m = self.mnt
        line = (f"mkdir {m}/s$$ && echo true > {m}/s$$/exec && cat {m}/s$$/last/wait >/dev/null"
                f" && rmdir {m}/s$$")
        self.side_by_side("cold sandbox, shell", lambda: spawn_wait(["sh", "-c", line]),
                          lambda: spawn_wait(["sh", "-c", " ".join(UNSHARE)]))

    def warm_sandbox(self):
        sb = self.mnt / self.name("w")
        os.mkdir(sb)
        write(sb / "ctl", "start")
        pid = int(dict(l.split(" ", 1) for l in read(sb / "status").decode().splitlines())["pid"])
        return sb, pid

    def job_nsfs(self, sb):
        jid = self.start_job(sb)
        if read(sb / "jobs" / str(jid) / "wait") != b"exited 0\n":
            raise RuntimeError("job failed")

    def case_job(self):
        sb, pid = self.warm_sandbox()
        self.side_by_side("job in a running sandbox", lambda: self.job_nsfs(sb),
                          lambda: spawn_wait(["nsenter", "-t", str(pid), "-a", "true"]))
        os.rmdir(sb)

    def case_job_idle(self):
        """A job after the machine rested 0.2 s, as one typed by hand is:
        back to back (case_job), some of what a job start costs is paid
        once for many (docs/performance.md, "a job after a rest")."""
        sb, pid = self.warm_sandbox()
        self.side_by_side("job after a rest", lambda: self.job_nsfs(sb),
                          lambda: spawn_wait(["nsenter", "-t", str(pid), "-a", "true"]),
                          runs=min(self.args.runs, 40), warmup=min(self.args.warmup, 3), gap=0.2)
        os.rmdir(sb)

    def case_floor(self):
        sb, pid = self.warm_sandbox()
        true = shutil.which("true")
        batch = 10
        a, b = [], []
        for i in range(self.args.warmup + self.args.runs // batch + 1):
            nsfs = []
            for _ in range(batch):
                t = now()
                self.job_nsfs(sb)
                nsfs.append(now() - t)
            out = subprocess.run([self.args.floor, str(pid), str(batch), true], capture_output=True, text=True,
                                 check=True).stdout.split()
            if i >= self.args.warmup:
                a += nsfs
                b += [int(x) for x in out]
        self.results["job start floor"] = {"nsfs": a, "anchor": b}
        os.rmdir(sb)

    def case_rootfs(self):
        root = self.args.rootfs
        self.side_by_side("rootfs sandbox", lambda: self.cold_nsfs(rootfs=root),
                          lambda: spawn_wait(["bwrap", "--unshare-all", "--ro-bind", root, "/", "--proc", "/proc",
                                              "--dev", "/dev", "/bin/true"]))

    def case_overlay(self):
        """bubblewrap 0.8 (Debian 12) has no --overlay: the anchor is its
        read-only rootfs, which does less (no writable layer)."""
        root = self.args.rootfs
        self.side_by_side("overlay sandbox", lambda: self.cold_nsfs(rootfs=root, mounts="overlay\n"),
                          lambda: spawn_wait(["bwrap", "--unshare-all", "--ro-bind", root, "/", "--proc", "/proc",
                                              "--dev", "/dev", "/bin/true"]))

    def case_binds(self):
        """16 binds of directories onto themselves (destinations every
        sandbox has) against the same sandbox without them."""
        top = Path(self.args.tmpfs) / "binds"
        top.mkdir(exist_ok=True)
        lines = []
        for i in range(16):
            (top / f"b{i}").mkdir(exist_ok=True)
            lines.append(f"bind {top}/b{i} {top}/b{i}\n")
        self.side_by_side("16 binds", lambda: self.cold_nsfs(mounts="".join(lines)), self.cold_nsfs)

    def case_limits(self):
        limits = {"memory.max": "512m\n", "pids.max": "256\n", "cpu.max": "50000 100000\n"}
        self.side_by_side("limits sandbox", lambda: self.cold_nsfs(limits=limits), self.cold_nsfs)

    def case_stats(self):
        sb, pid = self.warm_sandbox()
        self.side_by_side("stats vs status", lambda: read(sb / "stats"), lambda: read(sb / "status"),
                          runs=self.args.runs * 5)
        os.rmdir(sb)

    def case_stdin(self):
        """Bytes through jobs/<id>/stdin into `cat > /dev/null`, against a
        pipe into the same cat."""
        size = max(self.args.output_bytes // 4, 1 << 20)
        sb = self.mnt / self.name("i")
        os.mkdir(sb)
        write(sb / "stdin", "pipe\n")
        chunk = b"x" * (1 << 20)
        a, b = [], []
        for _ in range(max(3, self.args.runs // 20)):
            jid = self.start_job(sb, "sh -c 'cat > /dev/null'")
            t = now()
            fd = os.open(sb / "jobs" / str(jid) / "stdin", os.O_WRONLY)
            for _ in range(size >> 20):
                os.write(fd, chunk)
            os.close(fd)
            read(sb / "jobs" / str(jid) / "wait")
            a.append(now() - t)
            t = now()
            p = subprocess.Popen(["sh", "-c", "cat > /dev/null"], stdin=subprocess.PIPE)
            for _ in range(size >> 20):
                p.stdin.write(chunk)
            p.stdin.close()
            p.wait()
            b.append(now() - t)
        os.rmdir(sb)
        self.results["stdin throughput"] = {"nsfs": a, "anchor": b, "bytes": size}

    def case_tty(self):
        """`yes | head -c N` on a tty job, its stdout read back, against
        the same through `script -q` (a terminal and a typescript file)."""
        size = max(self.args.output_bytes // 64, 1 << 20)  # a terminal moves ~5 MB/s here: 16 MiB by default
        sb = self.mnt / self.name("t")
        os.mkdir(sb)
        write(sb / "stdin", "tty\n")
        typescript = Path(self.args.tmpfs) / "typescript"
        a, b = [], []
        for _ in range(max(3, self.args.runs // 20)):
            t = now()
            jid = self.start_job(sb, f"sh -c 'yes | head -c {size}'")
            read(sb / "jobs" / str(jid) / "wait")
            with open(sb / "jobs" / str(jid) / "stdout", "rb") as f:
                while f.read(1 << 20):
                    pass
            a.append(now() - t)
            t = now()
            subprocess.run(["script", "-q", "-c", f"yes | head -c {size}", str(typescript)],
                           stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
            b.append(now() - t)
        os.rmdir(sb)
        self.results["tty output"] = {"nsfs": a, "anchor": b, "bytes": size}

    def case_event_latency(self):
        """From an exec of `true` to a blocked `events` reader seeing its
        end, against the same to a blocked `wait` reader (the job start is
        in both)."""
        sb, pid = self.warm_sandbox()
        a, b = [], []
        for i in range(max(10, self.args.runs // 2)):
            fd = os.open(sb / "events", os.O_RDONLY)
            t = now()
            self.start_job(sb, "true")
            while b"exited" not in os.read(fd, 4096):
                pass
            a.append(now() - t)
            os.close(fd)
            t = now()
            jid = self.start_job(sb, "true")
            read(sb / "jobs" / str(jid) / "wait")
            b.append(now() - t)
        os.rmdir(sb)
        self.results["event latency"] = {"nsfs": a, "anchor": b}

    def veth_nsfs(self):
        self.cold_nsfs(net="veth\n")

    def case_veth(self):
        self.side_by_side("veth sandbox", self.veth_nsfs, self.cold_nsfs)

    def by_hand(self):
        """The classic recipe, as a script: a named namespace, a veth pair,
        an address, a route, a command in it."""
        n = self.name("h")
        script = (f"ip netns add {n} && ip link add {n}a type veth peer name {n}b && "
                  f"ip link set {n}b netns {n} && ip -n {n} addr add 10.214.0.2/24 dev {n}b && "
                  f"ip -n {n} link set {n}b up && ip -n {n} link set lo up && "
                  f"ip addr add 10.214.0.1/24 dev {n}a && ip link set {n}a up && "
                  f"ip -n {n} route add default via 10.214.0.1 && ip netns exec {n} true; "
                  f"ip link del {n}a; ip netns del {n}")
        spawn_wait(["sh", "-c", script])

    def case_veth_by_hand(self):
        self.side_by_side("veth vs by hand", self.veth_nsfs, self.by_hand)

    def case_veth_growth(self):
        """50 cold veth sandboxes in a row, each with a forward, all kept
        running: the last ten starts against the first ten."""
        n = 50 if self.args.runs >= 50 else 20
        times, boxes = [], []
        try:
            for i in range(n):
                sb = self.mnt / self.name("g")
                t = now()
                os.mkdir(sb)
                boxes.append(sb)
                write(sb / "net", "veth\n")
                write(sb / "ports", f"tcp {20000 + i} 80\n")
                write(sb / "exec", "true")
                if read(sb / "last" / "wait") != b"exited 0\n":
                    raise RuntimeError("veth job failed")
                times.append(now() - t)
        finally:
            for sb in boxes:
                os.rmdir(sb)
        k = n // 5
        self.results["veth starts, last vs first"] = {"nsfs": times[-k:], "anchor": times[:k]}

    def case_veth_throughput(self):
        """TCP from one veth sandbox to another over the bridge, against
        the same between two namespaces joined by a plain veth pair."""
        size = max(self.args.output_bytes // 4, 1 << 20)
        # One line each (an exec line is one line): Python's own "\\n" in exec().
        recv = ("python3 -c 'import socket; s = socket.socket(); "
                "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 5001)); s.listen(); "
                "c = s.accept()[0]; print(sum(iter(lambda: len(c.recv(1 << 20)), 0)))'")
        send = ("python3 -c 'import socket, sys, time; b = bytes(1 << 20); s = None; "
                "exec(\"for i in range(200):\\n try:\\n  s = socket.create_connection((sys.argv[1], 5001)); break\\n"
                " except OSError: time.sleep(0.02)\"); "
                "[s.sendall(b) for i in range(int(sys.argv[2]) >> 20)]; s.close()' {addr} {size}")
        a, b = self.mnt / self.name("ta"), self.mnt / self.name("tb")
        for sb in (a, b):
            os.mkdir(sb)
            write(sb / "net", "veth\n")
            write(sb / "ctl", "start")
        addr = read(a / "net").decode().split()[1].split("/")[0]
        n = self.name("tn")
        for cmd in (f"ip netns add {n}x", f"ip netns add {n}y",
                    f"ip link add {n}a netns {n}x type veth peer name {n}b netns {n}y",
                    f"ip -n {n}x addr add 10.215.0.1/24 dev {n}a", f"ip -n {n}y addr add 10.215.0.2/24 dev {n}b",
                    f"ip -n {n}x link set {n}a up", f"ip -n {n}y link set {n}b up"):
            subprocess.run(cmd.split(), check=True)
        runs = max(3, self.args.runs // 20)
        ta, tb = [], []
        try:
            for _ in range(runs):
                t = now()
                r = self.start_job(a, recv)
                s = self.start_job(b, send.format(addr=addr, size=size))
                read(a / "jobs" / str(r) / "wait")
                read(b / "jobs" / str(s) / "wait")
                ta.append(now() - t)
                t = now()
                rp = subprocess.Popen(["ip", "netns", "exec", f"{n}x", "sh", "-c", recv])
                subprocess.run(["ip", "netns", "exec", f"{n}y", "sh", "-c", send.format(addr="10.215.0.1", size=size)],
                               check=True)
                rp.wait()
                tb.append(now() - t)
        finally:
            subprocess.run(["ip", "netns", "del", f"{n}x"])
            subprocess.run(["ip", "netns", "del", f"{n}y"])
            for sb in (a, b):
                os.rmdir(sb)
        self.results["veth throughput"] = {"nsfs": ta, "anchor": tb, "bytes": size}

    def case_output(self):
        size = self.args.output_bytes
        sb = self.mnt / self.name("o")
        os.mkdir(sb)
        jid = self.start_job(sb, f"head -c {size} /dev/zero")
        if read(sb / "jobs" / str(jid) / "wait") != b"exited 0\n":
            raise RuntimeError("output job failed")
        out = sb / "jobs" / str(jid) / "stdout"
        tmpfs = Path(self.args.tmpfs) / "output-copy"
        shutil.copyfile(out, tmpfs)
        assert os.path.getsize(tmpfs) == size
        runs = max(3, self.args.runs // 40)
        a, b = self.side_by_side("output", lambda: spawn_wait(["cat", str(out)]),
                                 lambda: spawn_wait(["cat", str(tmpfs)]), runs=runs, warmup=1)
        self.results["output"]["bytes"] = size
        os.unlink(tmpfs)
        os.rmdir(sb)
        # The runs above read an ended job's output from the page cache
        # (the copy and the warm-up put it there); a first read of fresh
        # output comes from nsfsd.  Time a few of those as well, one
        # sandbox at a time (the state dir's tmpfs holds only so much).
        first = []
        for _ in range(3):
            sb = self.mnt / self.name("o")
            os.mkdir(sb)
            jid = self.start_job(sb, f"head -c {size} /dev/zero")
            if read(sb / "jobs" / str(jid) / "wait") != b"exited 0\n":
                raise RuntimeError("output job failed")
            t = now()
            spawn_wait(["cat", str(sb / "jobs" / str(jid) / "stdout")])
            first.append(now() - t)
            os.rmdir(sb)
        self.results["output"]["first_read"] = first
        self.results["output, first read"] = {"nsfs": first, "anchor": b, "bytes": size}

    def pss_kb(self, pids):
        total = 0
        for pid in pids:
            try:
                for line in open(f"/proc/{pid}/smaps_rollup"):
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def sandbox_pids(self):
        """Every process that belongs to some sandbox: supervisors and
        their descendants."""
        state = Path(self.args.state)
        sups = set()
        for f in state.glob("sandboxes/*/supervisor.pid"):
            try:
                sups.add(int(f.read_text()))
            except (OSError, ValueError):
                pass
        children = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(d))
        out, todo = set(), list(sups)
        while todo:
            p = todo.pop()
            if p not in out:
                out.add(p)
                todo += children.get(p, [])
        return out

    def timed_runs(self, fn, runs=None):
        out = []
        for i in range(self.args.warmup + (runs or max(3, self.args.runs // 4))):
            t = now()
            fn()
            if i >= self.args.warmup:
                out.append(now() - t)
        return out

    def cold_and_job(self, runs):
        """Cold sandboxes and jobs in a running one, alternating."""
        sb, _ = self.warm_sandbox()
        cold, job = [], []
        for i in range(self.args.warmup + runs):
            for fn, sink in random.sample([(self.cold_nsfs, cold), (lambda: self.job_nsfs(sb), job)], 2):
                t = now()
                fn()
                if i >= self.args.warmup:
                    sink.append(now() - t)
        os.rmdir(sb)
        return cold, job

    def case_rest(self):
        """N started idle sandboxes: `ls -l` of them against `ls -l` of N
        directories on a tmpfs, their memory, and what they cost a cold
        sandbox and a job started beside them: measured alone, beside them,
        and alone again (half the runs each time), so that the machine's
        drift over the case falls on both sides."""
        n = self.args.rest_count
        half = max(2, self.args.runs // 4)
        dirs = Path(self.args.tmpfs) / "ls-anchor"
        dirs.mkdir()
        for i in range(n):
            (dirs / f"rest{i:04d}").mkdir()
        cold_alone, job_alone = self.cold_and_job(half)
        nsfsd_before = self.pss_kb([self.args.nsfsd_pid])
        names = []
        for i in range(n):
            sb = self.mnt / f"rest{i:04d}"
            os.mkdir(sb)
            write(sb / "ctl", "start")
            names.append(sb)
        pids = self.sandbox_pids()
        pss = self.pss_kb(pids) + self.pss_kb([self.args.nsfsd_pid]) - nsfsd_before
        full, anchor = [], []
        for i in range(self.args.warmup + max(3, self.args.runs // 4)):
            for argv, sink in random.sample([(["ls", "-l", str(self.mnt)], full), (["ls", "-l", str(dirs)], anchor)], 2):
                t = now()
                spawn_wait(argv)
                if i >= self.args.warmup:
                    sink.append(now() - t)
        cold_busy, job_busy = self.cold_and_job(2 * half)
        for sb in names:
            os.rmdir(sb)
        shutil.rmtree(dirs)
        cold_after, job_after = self.cold_and_job(half)
        cold_alone += cold_after
        job_alone += job_after
        self.results["at rest"] = {"nsfs": full, "anchor": anchor, "sandboxes": n, "processes": len(pids),
                                   "pss_kb_total": pss, "pss_kb_per_sandbox": pss / n}
        self.results[f"cold sandbox beside {n} running"] = {"nsfs": cold_busy, "anchor": cold_alone}
        self.results[f"job beside {n} running"] = {"nsfs": job_busy, "anchor": job_alone}

    def case_idle(self):
        """--idle-count started idle sandboxes (10,000 by default): they all
        start, and what each costs in memory (PSS of its processes and of
        nsfsd's growth)."""
        n = self.args.idle_count
        nsfsd_before = self.pss_kb([self.args.nsfsd_pid])
        names, failure = [], None
        try:
            for i in range(n):
                sb = self.mnt / f"idle{i:05d}"
                try:
                    os.mkdir(sb)
                except OSError as e:
                    # Reported, not raised: how many this machine holds is
                    # the finding (nsfsd's descriptor limit, docs/performance.md).
                    failure = f"mkdir of the {i + 1}th failed: {e.strerror}"
                    break
                names.append(sb)
                write(sb / "ctl", "start")
            pids = self.sandbox_pids()
            pss = self.pss_kb(pids) + self.pss_kb([self.args.nsfsd_pid]) - nsfsd_before
        finally:
            for sb in names:
                os.rmdir(sb)
        started = len(names)
        self.results["idle sandboxes"] = {"nsfs": [pss / started], "anchor": [128.0], "sandboxes": started,
                                          "wanted": n, "failure": failure, "processes": len(pids),
                                          "pss_kb_per_sandbox": pss / started}

    def case_load(self):
        seconds = self.args.load_seconds
        sb = self.mnt / self.name("r")
        os.mkdir(sb)
        status = sb / "status"

        def reader():
            sink, deadline = [], time.monotonic() + seconds
            while time.monotonic() < deadline:
                t = now()
                read(status)
                sink.append(now() - t)
            return sink

        # The clients are processes, as users' would be: as threads of this
        # interpreter they would make the reader wait for the GIL (a 5 ms
        # switch interval), and the p99 would measure Python, not nsfs.
        idle = reader()
        ctx = multiprocessing.get_context("fork")
        stop, results = ctx.Event(), ctx.Queue()
        clients = [ctx.Process(target=load_client, args=(self, stop, results)) for _ in range(8)]
        for c in clients:
            c.start()
        loaded = reader()
        stop.set()
        ops, failures = 0, []
        for _ in clients:
            n, failed = results.get(timeout=120)
            ops += n
            failures += failed
        for c in clients:
            c.join()
        os.rmdir(sb)
        self.results["under load"] = {"nsfs": loaded, "anchor": idle, "failed_operations": len(failures),
                                      "failures": failures[:10], "load_operations": ops, "seconds": seconds}


    def case_wedged(self):
        """Issue 16: one owner keeps 80 writes in flight on 20 sandboxes
        whose supervisors stand still (SIGSTOP, as one stuck in a hung
        file system would); another sandbox's status reads and job starts,
        against the same figures with nothing wedged."""
        sb, _ = self.warm_sandbox()
        status = sb / "status"
        runs = self.args.runs

        def measure():
            reads, jobs = [], []
            for _ in range(self.args.warmup):
                read(status)
                self.job_nsfs(sb)
            for _ in range(runs):
                t = now()
                read(status)
                reads.append(now() - t)
                t = now()
                self.job_nsfs(sb)
                jobs.append(now() - t)
            return reads, jobs

        idle_reads, idle_jobs = measure()
        wedged, stopped = [], []
        for _ in range(20):
            w = self.mnt / self.name("x")
            os.mkdir(w)
            write(w / "ctl", "start")
            pid = int((Path(self.args.state) / "sandboxes" / w.name / "supervisor.pid").read_text())
            os.kill(pid, signal.SIGSTOP)
            wedged.append(w)
            stopped.append(pid)
        # Four files each: the kernel lets one write at a time into a file.
        writes = [(w / f, v) for w in wedged for f, v in
                  (("exec", "true"), ("hostname", "h"), ("caps", "none"), ("ctl", "kill"))]
        writers = [threading.Thread(target=write_quietly, args=wv, daemon=True) for wv in writes]
        for t in writers:
            t.start()
        time.sleep(0.5)
        in_flight = sum(t.is_alive() for t in writers)
        loaded_reads, loaded_jobs = measure()
        removers = [threading.Thread(target=os.rmdir, args=(w,), daemon=True) for w in wedged]
        for t in removers:
            t.start()
        for t in removers + writers:
            t.join(60)
        os.rmdir(sb)
        self.results["status beside wedged"] = {"nsfs": loaded_reads, "anchor": idle_reads, "in_flight": in_flight}
        self.results["job beside wedged"] = {"nsfs": loaded_jobs, "anchor": idle_jobs, "in_flight": in_flight}


def write_quietly(path, data):
    """A write whose failure (ETIMEDOUT, ENOENT once removed) is expected."""
    try:
        write(path, data)
    except OSError:
        pass


def load_client(bench, stop, results):
    """One load client (a process of its own): cold sandboxes until STOP;
    puts (operations, failures) on RESULTS."""
    ops, failures = 0, []
    while not stop.is_set():
        try:
            bench.cold_nsfs()
            ops += 1
        except Exception as e:  # noqa: BLE001 - counted, reported
            failures.append(repr(e))
    results.put((ops, failures))


TARGETS = {
    "cold sandbox": ("<=", 1.0, "median time vs unshare"),
    "cold sandbox, shell": ("<=", 1.2, "median time vs the unshare line under sh -c"),
    "job in a running sandbox": ("<=", 0.5, "median time vs nsenter -a"),
    "cold sandbox after a rest": ("<=", 1.0, "median time vs unshare, each after 0.2 s of rest"),
    "job after a rest": ("<=", 0.5, "median time vs nsenter -a, each after 0.2 s of rest"),
    "job start floor": ("<=", 1.2, "median time vs a C fork/setns/fork/exec loop"),
    "rootfs sandbox": ("<=", 0.6, "median time vs bwrap"),
    "overlay sandbox": ("<=", 0.8, "median time vs bwrap --ro-bind (0.8 has no --overlay)"),
    "16 binds": ("<=", 1.2, "median time vs the same cold sandbox without mounts"),
    "veth sandbox": ("<=", 1.3, "median time vs the same cold sandbox without veth"),
    "limits sandbox": ("<=", 1.1, "median time, memory.max + pids.max + cpu.max set vs none"),
    "stats vs status": ("<=", 1.5, "median read time of stats vs status of a running sandbox"),
    "stdin throughput": (">=", 0.5, "bytes through jobs/<id>/stdin into cat vs a pipe into cat"),
    "tty output": (">=", 0.5, "yes | head -c N on a tty job, stdout read, vs the same through script -q"),
    "event latency": ("<=", 1.5, "a job's end to a blocked events reader vs to a blocked wait reader"),
    "veth vs by hand": ("<=", 0.5, "median time vs ip netns add/link/addr/route/exec as a script"),
    "veth starts, last vs first": ("<=", 1.2, "median of the last 10 of 50 cold veth starts vs the first 10"),
    "veth throughput": (">=", 0.9, "TCP sandbox to sandbox over the bridge vs two netns on a plain veth pair"),
    "output": (">=", 0.5, "throughput of an ended job's output read again (page cache) vs cat of a tmpfs file"),
    "output, first read": (">=", 0.5, "throughput of the first read of a fresh job's output vs cat of a tmpfs file"),
    "idle sandboxes": ("<=", 1.0, "PSS per started idle sandbox vs 128 KiB"),
    "at rest": ("<=", 1.0, "ls -l of N started sandboxes vs of N directories on a tmpfs; PSS per sandbox <= 128 KiB"),
    "cold sandbox beside N running": ("<=", 1.1, "median cold sandbox with N sandboxes running vs none"),
    "job beside N running": ("<=", 1.1, "median job start with N sandboxes running vs none"),
    "cold sandbox, state dir on disk": ("<=", 1.2, "median cold sandbox with the state dir on a disk vs on a tmpfs"),
    "under load": ("<=", 5.0, "status p99 under load vs unloaded; no failed operation"),
    "status beside wedged": ("<=", 2.0, "status p99 with 80 writes wedged on 20 sandboxes vs none"),
    "job beside wedged": ("<=", 2.0, "job start median with 80 writes wedged on 20 sandboxes vs none"),
}


def summarize(results):
    rows = []
    for key, r in results.items():
        a, b = stats(r["nsfs"]), stats(r["anchor"])
        op, target, what = TARGETS[re.sub(r"beside \d+ running", "beside N running", key)]
        if key in ("output", "output, first read", "veth throughput", "stdin throughput", "tty output"):
            ratio = b["median"] / a["median"]  # throughput ratio = inverse time ratio
        elif key in ("under load", "status beside wedged"):
            ratio = a["p99"] / b["p99"]
        else:
            ratio = a["median"] / b["median"]
        met = ratio <= target if op == "<=" else ratio >= target
        extra = ""
        if key == "idle sandboxes":
            met = met and not r["failure"]
            extra = f"{r['sandboxes']} sandboxes, {r['processes']} processes, PSS {r['pss_kb_per_sandbox']:.0f} KiB each"
            if r["failure"]:
                extra += f"; {r['failure']}"
        if key == "at rest":
            met = met and r["pss_kb_per_sandbox"] <= 128
            extra = f"PSS {r['pss_kb_per_sandbox']:.0f} KiB/sandbox"
        if key == "under load":
            met = met and r["failed_operations"] == 0
            # The columns show medians; this ratio is of p99s.
            extra = (f"p99 {a['p99'] / 1e6:.2f} vs {b['p99'] / 1e6:.2f} ms; "
                     f"{r['failed_operations']} failed of {r['load_operations']}")
        if key.endswith("beside wedged"):
            extra = f"p99 {a['p99'] / 1e6:.2f} vs {b['p99'] / 1e6:.2f} ms; {r['in_flight']} writes in flight"
        if key == "veth throughput":
            mb = r["bytes"] / 1e6
            extra = f"{mb / (a['median'] / 1e9):.0f} vs {mb / (b['median'] / 1e9):.0f} MB/s (with python's start)"
        if key in ("output", "output, first read"):
            mb = r["bytes"] / 1e6
            extra = f"{mb / (a['median'] / 1e9):.0f} vs {mb / (b['median'] / 1e9):.0f} MB/s"
            if r.get("first_read"):
                extra += f"; first read {mb / (statistics.median(r['first_read']) / 1e9):.0f} MB/s"
        rows.append({"case": key, "nsfs": a, "anchor": b, "ratio": ratio, "target": f"{op} {target}",
                     "met": met, "what": what, "extra": extra})
    return rows


def print_table(rows, file=sys.stdout):
    print(f"{'case':34} {'nsfs median':>12} {'anchor median':>14} {'ratio':>7} {'target':>8}  met  notes", file=file)
    for r in rows:
        print(f"{r['case']:34} {r['nsfs']['median'] / 1e6:10.2f}ms {r['anchor']['median'] / 1e6:12.2f}ms "
              f"{r['ratio']:7.2f} {r['target']:>8}  {'yes' if r['met'] else 'NO ':3}  {r['extra']}", file=file)


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(results)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 4.5))
    if len(keys) == 1:
        axes = [axes]
    for ax, key in zip(axes, keys):
        data = [[x / 1e6 for x in results[key]["nsfs"]], [x / 1e6 for x in results[key]["anchor"]]]
        ax.boxplot(data, labels=["nsfs", "anchor"], showfliers=True, whis=(1, 99))
        ax.set_title(key, fontsize=9)
        ax.set_ylabel("ms")
        ax.set_yscale("log")
    fig.suptitle("nsfs vs anchors: latency distributions (whiskers p1-p99)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mnt", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--tmpfs", required=True)
    p.add_argument("--nsfsd-pid", type=int, required=True)
    p.add_argument("--floor", required=True)
    p.add_argument("--nsfsd", required=True)
    p.add_argument("--rootfs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--output-bytes", type=int, default=1 << 30)
    p.add_argument("--rest-count", type=int, default=1000)
    p.add_argument("--idle-count", type=int, default=10000)
    p.add_argument("--load-seconds", type=float, default=60)
    p.add_argument("--cases", default="cold,cold_idle,cold_disk,cold_shell,job,job_idle,floor,rootfs,overlay,binds,veth,veth_by_hand,veth_growth,veth_throughput,limits,stats,stdin,tty,event_latency,"
                   "output,rest,idle,load,wedged")
    args = p.parse_args()
    cases = args.cases.split(",")
    unknown = [c for c in cases if not hasattr(Bench, "case_" + c)]
    if unknown:
        p.error(f"unknown case {', '.join(unknown)}; the cases: {p.get_default('cases')}")

    b = Bench(args)
    for case in cases:
        t = time.monotonic()
        getattr(b, "case_" + case)()
        print(f"# {case}: {time.monotonic() - t:.1f}s", file=sys.stderr)
    rows = summarize(b.results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = {"kernel": os.uname().release, "cpus": os.cpu_count(),
               "model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
                             "?")}
    with open(out / "results.json", "w") as f:
        json.dump({"machine": machine, "args": vars(args), "summary": rows, "raw": b.results}, f, indent=1)
    chart(b.results, out / "latency.png")
    print_table(rows)
    with open(out / "table.txt", "w") as f:
        print_table(rows, file=f)
    print(f"raw numbers: {out / 'results.json'}; chart: {out / 'latency.png'}")


if __name__ == "__main__":
    main()
