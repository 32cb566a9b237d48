"""Hostile input (docs/security.md, "Hostile input"; INTERFACE §5).

Malformed and oversized writes to every file of the tree, writes at odd
offsets, concurrent writers mixing valid and invalid values, and other
users at every file.  After each attack:

  - nsfsd is alive and its mount answers;
  - bystander sandboxes (one of root's, one of another user's, each with
    a running job) read back exactly as before and their jobs still run;
  - every value of the attacked sandbox reads back as its old value or as
    a valid value that was written (never a torn or invalid one): a write
    that fails leaves the value as it was, a write that succeeds leaves a
    valid value, and a failed exec uses no job id.

The number of attack cases is printed at the end of the module.
"""

from __future__ import annotations

import errno
import os
import random
import re
import stat
import threading

import pytest

from nsfs_util import TIMEOUT, needs_root, pid_alive, timed
from users import as_user, exec_job, read_file, spawn_as, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root

SEED = int(os.environ.get("NSFS_HOSTILE_SEED", "20240601"))
WRITABLE = ("ctl", "uid_map", "gid_map", "hostname", "rootfs", "caps", "mounts", "net", "ports", "memory.max", "pids.max", "cpu.max", "env", "cwd", "user", "stdin")
NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
# What a rejected write may fail with (INTERFACE §5), plus what the kernel
# says of a program or path that cannot be (a name over 255 bytes, a
# component that is not a directory, a link loop).
ERRNOS = {errno.EINVAL, errno.EPERM, errno.EACCES, errno.EBUSY, errno.ENOENT, errno.E2BIG, errno.EFBIG,
          errno.EDQUOT, errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP, errno.EADDRINUSE, errno.EOPNOTSUPP}

ATTACKS = {"count": 0}


def counted(n=1):
    ATTACKS["count"] += n


@pytest.fixture(scope="module", autouse=True)
def report_attack_count(request):
    yield
    msg = f"test_hostile: {ATTACKS['count']} attack cases (seed {SEED})"
    # After the summary, past the output capture: in every run's log.
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        request.config.add_cleanup(lambda: tr.write_line(msg))
    else:
        print(msg)


# --------------------------------------------------------------------------
# What a valid value looks like


MAP_LINE = re.compile(r"^(\d+) (\d+) (\d+)$")


def valid_map(text: str) -> bool:
    if not text.endswith("\n"):
        return False
    lines = text[:-1].split("\n")
    if not 1 <= len(lines) <= 340:
        return False
    for line in lines:
        m = MAP_LINE.match(line)
        if not m:
            return False
        inside, outside, count = (int(x) for x in m.groups())
        if count < 1 or inside + count > 4294967295 or outside + count > 4294967295:
            return False
    return True


def valid_ctl(text: str) -> bool:
    m = re.fullmatch(r"ns((?: [a-z]+)+)\n", text)
    if not m:
        return False
    types = m.group(1).split()
    return all(t in NS_TYPES for t in types) and types == sorted(set(types))


VALID = {
    "hostname": lambda t: re.fullmatch(r"[A-Za-z0-9.-]{1,64}\n", t) is not None,
    "uid_map": valid_map,
    "gid_map": valid_map,
    "ctl": valid_ctl,
    "rootfs": lambda t: t == "" or (t.startswith("/") and t.endswith("\n") and t.count("\n") == 1
                                    and "\0" not in t and len(t) <= 4097),
    "caps": lambda t: t in ("all\n", "none\n") or re.fullmatch(r"[a-z_,]+[=+][eip]+(?: [a-z_,]+[=+-][eip]+)*\n",
                                                             t) is not None,
    "mounts": lambda t: t.count("\n") <= 64 and all(
        re.fullmatch(r"overlay|bind /\S* /\S+( ro)?|tmpfs /\S+( size=[0-9]+)? mode=0[0-7]+", line)
        for line in t.splitlines()) and (t == "" or t.endswith("\n")),
    "net": lambda t: re.fullmatch(r"none\n|veth\n|veth 10\.213\.\d+\.\d+/16\n", t) is not None,
    "memory.max": lambda t: re.fullmatch(r"max\n|\d+\n", t) is not None,
    "pids.max": lambda t: re.fullmatch(r"max\n|\d+\n", t) is not None,
    "cpu.max": lambda t: re.fullmatch(r"(max|\d+) \d+\n", t) is not None,
    "env": lambda t: t.count("\n") <= 256 and all(
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", line) for line in t.splitlines()) and (t == "" or t.endswith("\n")),
    "cwd": lambda t: t.startswith("/") and t.endswith("\n") and t.count("\n") == 1,
    "user": lambda t: re.fullmatch(r"(\d+(:\d+)?\n)?", t) is not None,
    "stdin": lambda t: t in ("null\n", "pipe\n") or re.fullmatch(r"tty \d+ \d+\n", t) is not None,
    "ports": lambda t: t.count("\n") <= 64 and all(
        re.fullmatch(r"(tcp|udp) \d+ \d+", line) for line in t.splitlines()) and (t == "" or t.endswith("\n")),
}


def decode(b: bytes):
    try:
        return b.decode()
    except UnicodeDecodeError:
        return None


CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def check_error_file(text: bytes, where: str, strict: bool = False):
    """`error` after a failed write: one line, no NUL.  STRICT: one line of
    text "in words" -- valid UTF-8 without control characters, whatever
    bytes the write carried (root reading a user's `error` must not get
    that user's terminal escapes)."""
    assert text.endswith(b"\n") and text.count(b"\n") == 1, f"{where}: error is not one line: {text[:300]!r}"
    assert b"\0" not in text, f"{where}: error holds a NUL: {text[:300]!r}"
    if strict:
        assert decode(text) is not None, f"{where}: error is not UTF-8 text: {text[:300]!r}"
        bad = CONTROL.search(text[:-1])
        assert not bad, f"{where}: error holds the control character {bad.group()!r}: {text[:300]!r}"


# --------------------------------------------------------------------------
# Payloads


def payloads(rng: random.Random, owner_uid: int):
    """(label, bytes) of malformed, oversized and odd values."""
    out = [
        ("nul", b"\0"),
        ("nuls", b"\0" * 100),
        ("newline", b"\n"),
        ("newlines", b"\n" * 1000),
        ("blank", b" \t\r\n"),
        ("crlf", b"web\r\n"),
        ("nul-inside", b"web\0evil"),
        ("nul-after-map", f"0 {owner_uid} 1\0 0 0 1".encode()),
        ("trailing-nul", b"all\0"),
        ("two-newlines", b"web\n\n"),
        ("invalid-utf8", b"\xff\xfe\xfd"),
        ("overlong-utf8", b"\xc0\x80\xc0\xaf"),
        ("surrogate-utf8", b"\xed\xa0\x80"),
        ("truncated-utf8", b"caf\xc3"),
        ("rtl-unicode", "web\u202eexe".encode()),
        ("emoji", "\U0001f4a3".encode()),
        ("terminal-escapes", b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred"),
        ("carriage-return", b"abc\rdef"),
        ("backspaces", b"ok\x08\x08\x08\x08"),
        ("format", b"%s%n%x%p" * 50),
        ("shell", b"$(touch /tmp/nsfs-pwned) `id` ; rm -rf / | cat &"),
        ("traversal", b"../../../../etc/passwd"),
        ("proc-root", b"/proc/1/root/etc"),
        ("negative", b"-1"),
        ("big-number", b"4294967296 4294967296 4294967296"),
        ("huge-number", b"9" * 1000),
        ("many-map-lines", b"0 0 1\n" * 10000),
        ("many-directives", b"start\n" * 5000),
        ("ns-repeated", b"ns " + b"user " * 2000),
        ("huge-line", b"a" * 65536),
        ("over-64k", b"a" * 65537),
        ("one-mib", b"\0" * (1 << 20)),
        ("one-mib-random", rng.randbytes(1 << 20)),
        ("ctl-kill-bogus", b"kill SIGBOGUS"),
        ("ctl-kill-huge", b"kill 99999999999999999999"),
        ("caps-junk", b"cap_sys_admin=ep cap_=+-"),
        ("map-spaces", b"     0      0     1    "),
        ("map-tabs", b"0\t0\t1"),
        ("map-hex", b"0x0 0x0 0x1"),
        ("map-plus", b"+0 +0 +1"),
    ]
    for n in (1, 3, 17, 100, 4096, 65536):
        out.append((f"random-{n}", rng.randbytes(n)))
    for n in (5, 50, 500):
        out.append((f"printable-{n}", bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 _-./\n\t")
                                            for _ in range(n))))
    return out


# --------------------------------------------------------------------------
# Bystanders


class Arena:
    """The attacked sandboxes' neighbours: checked to be untouched."""

    def __init__(self, nsfs, users):
        self.nsfs = nsfs
        self.users = users
        mnt = nsfs.mnt
        self.root_sb = mnt / "by-root"
        os.mkdir(self.root_sb)
        nsfs.write(self.root_sb / "hostname", "bystander")
        nsfs.write(self.root_sb / "uid_map", "0 0 1\n1 100000 1000")
        nsfs.write(self.root_sb / "caps", "cap_kill,cap_chown=ep")
        nsfs.exec(self.root_sb, "sleep 600")
        b = users.b
        self.b_sb = mnt / "by-b"
        as_user(b, user_mkdir, self.b_sb)
        as_user(b, write_file, self.b_sb / "hostname", "bee")
        as_user(b, exec_job, self.b_sb, "sleep 600")
        self.before = {sb: self.snapshot(sb) for sb in (self.root_sb, self.b_sb)}
        for sb, snap in self.before.items():
            assert snap["status"].startswith(b"state running\n"), snap
            assert snap["job"] == b"running\n"

    def snapshot(self, sb):
        nsfs = self.nsfs
        snap = {n: nsfs.read_bytes(sb / n) for n in WRITABLE + ("status", "error")}
        snap["job"] = nsfs.read_bytes(sb / "jobs" / "1" / "status")
        snap["job_pid"] = nsfs.read_bytes(sb / "jobs" / "1" / "pid")
        snap["jobs"] = sorted(os.listdir(sb / "jobs"))
        return snap

    def check(self):
        nsfs = self.nsfs
        assert nsfs.proc.poll() is None and pid_alive(nsfs.pid), f"nsfsd died (exit {nsfs.proc.poll()})"
        names = timed(os.listdir, nsfs.mnt, what="listdir of the mount")
        assert {"by-root", "by-b"} <= set(names), names
        for sb, before in self.before.items():
            after = self.snapshot(sb)
            for key in before:
                assert after[key] == before[key], f"{sb.name}/{key} changed: {before[key]!r} -> {after[key]!r}"
            pid = int(after["job_pid"])
            assert pid_alive(pid), f"{sb.name}'s job (pid {pid}) is gone"


@pytest.fixture
def arena(nsfs, test_users):
    return Arena(nsfs, test_users)


# --------------------------------------------------------------------------
# Attacks, run in the attacker's process (root, or a user's forked child)


def attack_batch(sb: str, cases):
    """For each (file, label, data, offset): read the file, write DATA in
    one write(2) (pwrite at OFFSET if not None), read it again and the
    error file.  Returns [(file, label, errno or None, old, new, error,
    jobs_before, jobs_after)]."""
    results = []
    for name, label, data, offset in cases:
        path = os.path.join(sb, name)
        old = read_file(path) if name != "exec" else None
        jobs_before = sorted(os.listdir(os.path.join(sb, "jobs")), key=int)
        err = None
        try:
            fd = os.open(path, os.O_WRONLY | (os.O_TRUNC if offset is None else 0))
            try:
                if offset is None:
                    n = os.write(fd, data)
                else:
                    n = os.pwrite(fd, data, offset)
                if n != len(data):
                    err = -n  # a short write: reported as such
            finally:
                os.close(fd)
        except OSError as e:
            err = e.errno
        new = read_file(path) if name != "exec" else None
        error = read_file(os.path.join(sb, "error"))
        jobs_after = sorted(os.listdir(os.path.join(sb, "jobs")), key=int)
        results.append((name, label, err, old, new, error, jobs_before, jobs_after))
    return results


def judge(results, who: str, problems: list):
    """Check attack_batch's RESULTS, appending what is wrong to PROBLEMS
    (so one run reports every kind of failure); returns how many writes
    succeeded."""
    accepted = 0
    for name, label, err, old, new, error, jobs_before, jobs_after in results:
        where = f"{who}: {name} <- {label}"
        counted()
        if err is not None and err < 0:
            problems.append(f"{where}: short write of {-err} bytes")
            continue
        if err is not None:
            if err not in ERRNOS:
                problems.append(f"{where}: failed with {errno.errorcode.get(err, err)} "
                                f"(error {error[:120]!r})")
            if name != "exec" and new != old:
                problems.append(f"{where}: failed ({errno.errorcode[err]}) but changed {old!r} -> {new[:200]!r}")
            if jobs_after != jobs_before:
                problems.append(f"{where}: a failed write started a job ({jobs_before} -> {jobs_after})")
            if err != errno.EACCES:  # the kernel's refusal never reaches nsfsd
                try:
                    check_error_file(error, where)
                except AssertionError as e:
                    problems.append(str(e).splitlines()[0])
            continue
        accepted += 1
        if name == "exec":
            if len(jobs_after) != len(jobs_before) + 1:
                problems.append(f"{where}: accepted but jobs {jobs_before} -> {jobs_after}")
            continue
        text = decode(new)
        if text is None or not VALID[name](text):
            problems.append(f"{where}: accepted, now reads {new[:300]!r}")
    return accepted


def assert_no_problems(problems):
    if problems:
        pytest.fail(f"{len(problems)} problems:\n" + "\n".join(problems[:40]), pytrace=False)


def cases_for(files, rng, owner_uid, offsets=(None,)):
    out = []
    for name in files:
        for label, data in payloads(rng, owner_uid):
            for off in offsets:
                out.append((name, label, data, off))
    return out


# ==========================================================================


def test_malformed_writes_to_every_file(nsfs, arena, test_users):
    """Every payload to every writable file: root on its sandbox, a (the
    owner) on a's."""
    rng = random.Random(SEED)
    a = test_users.a
    root_sb = nsfs.mnt / "target-root"
    os.mkdir(root_sb)
    a_sb = nsfs.mnt / "target-a"
    as_user(a, user_mkdir, a_sb)
    files = WRITABLE + ("exec",)

    problems = []
    results = timed(attack_batch, str(root_sb), cases_for(files, rng, 0), timeout=120, what="root's attacks")
    judge(results, "root", problems)
    arena.check()
    results = as_user(a, attack_batch, str(a_sb), cases_for(files, rng, a.uid), timeout=120)
    judge(results, "a", problems)
    arena.check()

    # Both still work after all that (from a sane configuration).
    for sb in (root_sb, a_sb):
        nsfs.write(sb / "ctl", "stop")
        nsfs.write(sb / "ctl", "ns " + " ".join(NS_TYPES))
        nsfs.write(sb / "rootfs", "\n")
        nsfs.write(sb / "caps", "all")
    assert nsfs.run(root_sb, "echo alive")[:2] == ("exited 0", "alive\n")
    jid = as_user(a, exec_job, a_sb, "echo alive")
    assert nsfs.wait(a_sb, jid) == "exited 0"
    assert_no_problems(problems)


def test_read_only_files_refuse_writes(nsfs, arena, test_users):
    """status, error and every job file: opening for writing fails
    (EACCES), for the owner and for root alike; directories with EISDIR."""
    a = test_users.a
    a_sb = nsfs.mnt / "target-a"
    as_user(a, user_mkdir, a_sb)
    jid = as_user(a, exec_job, a_sb, "sh -c 'echo out; sleep 600'")
    job = a_sb / "jobs" / str(jid)
    files = [a_sb / "status", a_sb / "error"] + [job / n for n in ("cmd", "pid", "status", "wait", "stdout",
                                                                      "stderr")]
    dirs = [nsfs.mnt, a_sb, a_sb / "jobs", job, a_sb / "ns"]

    def try_all(paths, dirs):
        out = []
        for p in paths:
            for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND):
                try:
                    os.close(os.open(p, flags))
                    out.append((str(p), flags, None))
                except OSError as e:
                    out.append((str(p), flags, e.errno))
            try:
                os.truncate(p, 0)
                out.append((str(p), "truncate", None))
            except OSError as e:
                out.append((str(p), "truncate", e.errno))
        for d in dirs:
            try:
                os.close(os.open(d, os.O_WRONLY))
                out.append((str(d), "dir", None))
            except OSError as e:
                out.append((str(d), "dir", e.errno))
        return out

    before = {p: nsfs.read_bytes(p) for p in files if p.name != "wait"}
    for who, res in (("root", timed(try_all, files, dirs)), ("a", as_user(a, try_all, files, dirs))):
        for path, how, err in res:
            counted()
            if how == "dir":
                assert err == errno.EISDIR, f"{who}: open({path}, O_WRONLY) -> {err and errno.errorcode[err]}"
            else:
                assert err in (errno.EACCES, errno.EPERM), (
                    f"{who}: {how} on read-only {path} -> {err and errno.errorcode[err]}")
    assert {p: nsfs.read_bytes(p) for p in before} == before
    assert nsfs.read(job / "status") == "running\n"
    arena.check()
    nsfs.ctl(a_sb, "kill")


def test_writes_at_odd_offsets(nsfs, arena, test_users):
    """pwrite at offsets 1, 4095 and 1<<40: each write is one whole value,
    whatever its offset; a valid one is taken, an invalid one changes
    nothing."""
    a = test_users.a
    sb = nsfs.mnt / "target-a"
    as_user(a, user_mkdir, sb)
    valid = {
        "hostname": ["odd1", "odd-2.example"],
        "uid_map": [f"0 {a.uid} 1", f"1000 {a.uid} 1\n"],
        "gid_map": [f"0 {a.gid} 1", f"7 {a.gid} 1"],
        "ctl": ["ns user uts pid", "ns cgroup ipc mnt net pid time user uts\n"],
        "rootfs": ["/", "/tmp"],
        "caps": ["cap_kill=ep", "none", "all"],
        "mounts": ["tmpfs /tmp mode=0755", "bind /tmp /mnt ro\n"],
        "net": ["none", "none\n"],  # veth would make a bridge on the host: test_network.py
        "ports": ["tcp 8080 80", "udp 5353 5353\n"],
        "memory.max": ["1073741824", "max\n"],
        "pids.max": ["100", "200\n"],
        "cpu.max": ["50000 100000", "max 100000\n"],
        "env": ["LANG=C", "A=1\nB=2\n"],
        "cwd": ["/tmp", "/var\n"],
        "stdin": ["pipe", "null\n"],
    }
    invalid = [b"\0", b"not valid at all", b"\xff\xfe", b"0 0 0 0", b"a" * 65537]
    offsets = (1, 4095, 1 << 40)
    cases = []
    expect = {}  # label -> the value a valid write must read back as
    # exec first: the configuration written below need not start.
    for off in offsets:
        cases.append(("exec", f"valid exec true at {off}", b"true", off))
        cases.append(("exec", f"invalid exec empty at {off}", b"\n", off))
    cases.append(("ctl", "stop (maps change only when stopped)", b"stop", None))
    for name, values in valid.items():
        for off in offsets:
            for v in values:
                label = f"valid {v!r} at {off}"
                expect[label] = v if v.endswith("\n") else v + "\n"
                cases.append((name, label, v.encode(), off))
            for v in invalid:
                cases.append((name, f"invalid {v[:20]!r} at {off}", v, off))
    results = as_user(a, attack_batch, str(sb), cases, timeout=120)
    problems = []
    judge(results, "a", problems)
    for name, label, err, old, new, error, _, _ in results:
        if label.startswith("valid"):
            if err is not None:
                problems.append(f"{name} <- {label}: {errno.errorcode[err]}; error {error!r}")
            elif label in expect and name != "ctl" and new.decode() != expect[label]:
                # ctl reads back normalised (judged by VALID)
                problems.append(f"{name} <- {label}: reads {new!r}")
    assert_no_problems(problems)
    # writev: one write(2) from two buffers is still one value.
    counted()

    def writev(path, parts):
        fd = os.open(path, os.O_WRONLY)
        try:
            return os.writev(fd, parts)
        finally:
            os.close(fd)

    assert as_user(a, writev, sb / "hostname", [b"two-", b"parts"]) == 9
    assert nsfs.read(sb / "hostname") == "two-parts\n"
    arena.check()


def concurrent_worker(sb: str, seed: int, rounds: int, valid: dict, invalid: dict):
    """One of the hammering writers: RNG-chosen files and values; returns
    [(file, value, errno or None)]."""
    rng = random.Random(seed)
    names = list(valid)
    log = []
    for _ in range(rounds):
        name = rng.choice(names)
        pool = valid[name] if rng.random() < 0.6 else invalid[name]
        value = rng.choice(pool)
        path = os.path.join(sb, name)
        try:
            fd = os.open(path, os.O_RDWR if name == "exec" else os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, value)
            finally:
                os.close(fd)
            log.append((name, value, None))
        except OSError as e:
            log.append((name, value, e.errno))
    return log


def test_concurrent_writers(nsfs, arena, test_users):
    """8 writers hammer uid_map, hostname, ctl and exec of one of a's
    sandboxes with valid and invalid values while root reads them back:
    every value read is the old one or a valid one written."""
    a = test_users.a
    sb = nsfs.mnt / "target-a"
    as_user(a, user_mkdir, sb)
    valid = {
        "hostname": [f"h{i}".encode() for i in range(8)],
        "uid_map": [f"0 {a.uid} 1".encode(), f"0 {a.uid} 1\n1 300000 1000".encode(), f"1000 {a.uid} 1".encode()],
        "ctl": [b"ns user uts pid", b"ns cgroup ipc mnt net pid time user uts", b"ns mnt pid user uts", b"start",
                b"stop", b"kill TERM"],
        "exec": [b"true", b"sleep 0.2", b"sh -c 'echo hi'"],
    }
    invalid = {
        "hostname": [b"bad_host", b"h" * 65, b"\0", b"a b", b"\xff"],
        "uid_map": [b"0 0 1", f"0 {a.uid} 0".encode(), f"0 {a.uid} 1\n0 300000 1".encode(), b"x", b"\0"],
        "ctl": [b"ns uts", b"ns bogus", b"kill SIGBOGUS", b"frobnicate", b"\0"],
        "exec": [b"\n", b"'unbalanced", b"/nonexistent/program", b"\0"],
    }
    readable = {
        "hostname": {b"target-a\n"} | {v + b"\n" for v in valid["hostname"]},
        "uid_map": {f"0 {a.uid} 1\n".encode()} | {v + b"\n" for v in valid["uid_map"]},
    }
    stop = threading.Event()
    reads = {"n": 0}
    bad = []

    def reader():
        while not stop.is_set():
            for name, allowed in readable.items():
                v = read_file(sb / name)
                reads["n"] += 1
                if v not in allowed:
                    bad.append((name, v))
            ctl = read_file(sb / "ctl").decode(errors="replace")
            if not valid_ctl(ctl) or "user" not in ctl.split():
                bad.append(("ctl", ctl))
            status = read_file(sb / "status").decode(errors="replace")
            if not re.match(r"state (created|running|stopped)\n", status):
                bad.append(("status", status))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    rounds = 40
    try:
        workers = [spawn_as(a, concurrent_worker, str(sb), SEED + i, rounds, valid, invalid) for i in range(8)]
        logs = [w.result(timeout=90) for w in workers]
    finally:
        stop.set()
        t.join(TIMEOUT)
    assert not t.is_alive(), "the reader hung"
    assert not bad, f"torn or invalid values read while writers ran: {bad[:5]}"
    assert reads["n"] > 0

    ok_exec = 0
    tally = {}
    for log in logs:
        for name, value, err in log:
            counted()
            key = (name, value in valid[name], err is None)
            tally[key] = tally.get(key, 0) + 1
            if err is None:
                assert value in valid[name], f"{name} took the invalid {value!r}"
                ok_exec += name == "exec"
            else:
                assert err in ERRNOS, f"{name} <- {value!r}: {errno.errorcode.get(err, err)}"
                if value in valid[name]:
                    # A valid value fails only for the state: a map or the
                    # namespace set of a running sandbox, or a job racing a
                    # stop.
                    assert err in (errno.EBUSY, errno.ESRCH, errno.EINVAL, errno.ENOENT, errno.EPERM,
                                   errno.EAGAIN, errno.EINTR) and name in ("uid_map", "ctl", "exec"), (
                        f"valid {name} <- {value!r} failed with {errno.errorcode[err]}")
    # The mix did happen: valid values taken and invalid ones refused, for
    # each file.
    for name in valid:
        assert tally.get((name, True, True)), f"no valid {name} write was accepted: {tally}"
        assert tally.get((name, False, False)), f"no invalid {name} write was refused: {tally}"
    # Every accepted exec is one job, ids 1..n without gaps.
    jobs = sorted(int(j) for j in os.listdir(sb / "jobs"))
    assert jobs == list(range(1, ok_exec + 1)), f"{ok_exec} execs accepted, jobs {jobs}"
    for j in jobs:
        cmd = nsfs.read_bytes(sb / "jobs" / str(j) / "cmd")
        assert cmd.rstrip(b"\n") in valid["exec"], f"job {j} cmd {cmd!r}"
    for name, allowed in readable.items():
        assert nsfs.read_bytes(sb / name) in allowed
    check_error_file(nsfs.read_bytes(sb / "error"), "after the writers")
    arena.check()
    nsfs.ctl(sb, "stop")
    assert nsfs.status(sb)["state"] == "stopped"


def other_user_attacks(paths, dirs, payloads):
    """Everything a stranger might try on PATHS (files and links) and
    DIRS: [(what, path, errno or None)]."""
    out = []

    def attempt(what, path, fn, *args):
        try:
            fn(*args)
            out.append((what, str(path), None))
        except OSError as e:
            out.append((what, str(path), e.errno))

    for p in paths:
        for label, data in payloads:
            attempt(f"write {label}", p, write_file, p, data)
        attempt("open rw", p, lambda q: os.close(os.open(q, os.O_RDWR)), p)
        attempt("truncate", p, os.truncate, p, 0)
        if not os.path.islink(p):
            attempt("chmod", p, os.chmod, p, 0o777)
        attempt("chown", p, os.lchown, p, os.getuid(), os.getgid())
        attempt("utime", p, lambda q: os.utime(q, (0, 0), follow_symlinks=False), p)
        attempt("unlink", p, os.unlink, p)
        attempt("rename", p, os.rename, p, str(p) + ".x")
        attempt("link", p, lambda q: os.link(q, str(q) + ".l", follow_symlinks=False), p)
        attempt("setxattr", p, lambda q: os.setxattr(q, "user.x", b"1", follow_symlinks=False), p)
    for d in dirs:
        attempt("rmdir", d, os.rmdir, d)
        attempt("mkdir in", d, os.mkdir, os.path.join(d, "x"))
        attempt("create in", d, lambda q: os.close(os.open(q, os.O_CREAT | os.O_WRONLY, 0o644)),
                os.path.join(d, "x"))
        attempt("symlink in", d, os.symlink, "/", os.path.join(d, "x"))
        attempt("mknod in", d, os.mknod, os.path.join(d, "x"), 0o600 | stat.S_IFIFO)
        attempt("chmod", d, os.chmod, d, 0o777)
        attempt("rename", d, os.rename, d, str(d) + ".x")
    return out


def tree_of(sb):
    """Files and links (not wait) and directories under SB."""
    files, dirs = [], [str(sb)]
    for dirpath, dnames, fnames in os.walk(sb):
        for n in dnames:
            full = os.path.join(dirpath, n)
            if os.path.islink(full):
                files.append(full)
            else:
                dirs.append(full)
        for n in fnames:
            if n != "wait":
                files.append(os.path.join(dirpath, n))
    return files, dirs


def test_other_users_at_every_file(nsfs, arena, test_users):
    """b and c at every file and directory of a's running sandbox (and a at
    the bystanders): everything fails, nothing changes."""
    a, b, c = test_users.a, test_users.b, test_users.c
    sb = nsfs.mnt / "target-a"
    as_user(a, user_mkdir, sb)
    as_user(a, write_file, sb / "hostname", "victim")
    jid = as_user(a, exec_job, sb, "sh -c 'echo secret; sleep 600'")
    jid2 = as_user(a, exec_job, sb, "echo done")
    nsfs.wait(sb, jid2)
    rng = random.Random(SEED + 100)
    some = [("valid-hostname", b"pwned"), ("valid-map", f"0 {b.uid} 1".encode()), ("stop", b"stop"),
            ("exec", b"touch /tmp/nsfs-pwned"), ("nul", b"\0"), ("random", rng.randbytes(300)),
            ("over-64k", b"x" * 65537)]
    before = {n: nsfs.read_bytes(sb / n) for n in WRITABLE + ("status",)}
    files, dirs = tree_of(sb)
    assert len(files) > 20, files

    allowed = {errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTSUP, errno.EROFS, errno.EXDEV}
    for user in (b, c):
        res = as_user(user, other_user_attacks, files, dirs, some, timeout=120)
        for what, path, err in res:
            counted()
            assert err is not None, f"{user}: {what} {path} succeeded"
            assert err in allowed, f"{user}: {what} {path} -> {errno.errorcode.get(err, err)}"
        # Reading what is not theirs.
        for name in ("stdout", "stderr"):
            counted()
            try:
                as_user(user, read_file, sb / "jobs" / str(jid) / name)
                pytest.fail(f"{user} read a's job {name}")
            except OSError as e:
                assert e.errno == errno.EACCES
    # a at the bystanders.
    for by in (arena.root_sb, arena.b_sb):
        bf, bd = tree_of(by)
        res = as_user(a, other_user_attacks, bf, bd, some, timeout=120)
        for what, path, err in res:
            counted()
            assert err is not None and err in allowed, f"a: {what} {path} -> {err and errno.errorcode.get(err, err)}"

    assert {n: nsfs.read_bytes(sb / n) for n in before} == before
    assert nsfs.read(sb / "jobs" / str(jid) / "status") == "running\n"
    assert sorted(os.listdir(sb / "jobs"), key=int) == [str(jid), str(jid2)]
    assert not os.path.exists("/tmp/nsfs-pwned")
    arena.check()
    nsfs.ctl(sb, "kill")


def test_many_sandboxes_by_strangers_and_rapid_churn(nsfs, arena, test_users):
    """Bad names, repeated mkdir/rmdir races between users: the daemon
    keeps answering and the bystanders stay."""
    a, b = test_users.a, test_users.b
    bad_names = [".", "..", "...", ".hidden", "-dash", "a" * 65, "a" * 255, "sp ace", "tab\t", "\xff", "\u00e9",
                 "a:b", "a*b", "new\nline", "back\\slash", "sl/ash"]

    def make_bad(mnt, names):
        out = []
        for n in names:
            try:
                os.mkdir(os.path.join(mnt, n))
                out.append((n, None))
            except (OSError, ValueError) as e:
                out.append((n, getattr(e, "errno", "ValueError")))
        return out

    for n, err in as_user(a, make_bad, str(nsfs.mnt), bad_names):
        counted()
        assert err is not None, f"mkdir {n!r} succeeded"

    def churn(mnt, tag, rounds):
        errs = []
        for i in range(rounds):
            p = os.path.join(mnt, f"churn-{tag}-{i % 3}")
            for fn in (os.mkdir, os.rmdir):
                try:
                    fn(p)
                except OSError as e:
                    errs.append(e.errno)
        return errs

    ws = [spawn_as(u, churn, str(nsfs.mnt), f"{u.key}{k}", 15) for u in (a, b) for k in range(2)]
    for w in ws:
        for e in w.result(timeout=90):
            assert e in (errno.EEXIST, errno.ENOENT, errno.EBUSY), errno.errorcode.get(e, e)
    counted(len(ws) * 30)
    # b cannot remove a's (sticky top directory plus nsfsd's check).
    as_user(a, user_mkdir, nsfs.mnt / "mine")
    counted()
    try:
        as_user(b, os.rmdir, nsfs.mnt / "mine")
        pytest.fail("b removed a's sandbox")
    except OSError as e:
        assert e.errno == errno.EPERM
    arena.check()


def test_error_file_stays_plain_text(nsfs, arena, test_users):
    """What a user writes may be quoted in `error`, but the file stays one
    line of UTF-8 text without control characters: root (or a monitoring
    tool) reading a user's `error` must not receive that user's terminal
    escape sequences or undecodable bytes."""
    a = test_users.a
    sb = nsfs.mnt / "target-a"
    as_user(a, user_mkdir, sb)
    nasty = [("terminal-escapes", b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred"), ("invalid-utf8", b"\xff\xfe\xfd"),
             ("backspaces", b"ok\x08\x08\x08\x08"), ("carriage-return", b"abc\rdef"), ("bell", b"\x07\x07"),
             ("truncated-utf8", b"caf\xc3"), ("c1-control", "\u009b31m".encode())]
    cases = [(name, label, data, None) for name in WRITABLE + ("exec",) for label, data in nasty]
    results = as_user(a, attack_batch, str(sb), cases, timeout=60)
    problems = []
    for name, label, err, old, new, error, _, _ in results:
        counted()
        if err is None or err == errno.EACCES:
            continue
        try:
            check_error_file(error, f"{name} <- {label}", strict=True)
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
    arena.check()
    assert_no_problems(problems)
