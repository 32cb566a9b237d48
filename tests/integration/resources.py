"""Resource snapshots of one nsfsd instance and the sandboxes it started.

Soak and leak tests take a snapshot before and after some work and compare
them:

    before = snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    ... create and destroy sandboxes, run jobs ...
    after = snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    assert after.leaks(before) == {}

Everything is read from /proc and the file system; nothing here talks to
nsfsd, so a snapshot works (and reports) even when nsfsd is hung or gone.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

# nsfs: a namespace file bind-mounted somewhere (a pinned namespace).
# Lines the soak tests report; conftest prints them in the terminal summary.
soak_reports: List[str] = []

MOUNT_TYPES = ("fuse", "proc", "tmpfs", "nsfs")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    # Processes descended from (and including) this state dir's supervisors.
    sandbox_procs: int
    # Zombies among nsfsd, the supervisors and all their descendants.
    zombies: int
    # fuse*, proc, tmpfs and nsfs (pinned namespace) mounts, in our mount
    # namespace, under the paths.
    mounts: int
    # Files, directories and links under the state dir.
    state_files: int
    # Open file descriptors of nsfsd (-1 if it is gone).
    nsfsd_fds: int
    # Resident set size of nsfsd in KiB (-1 if it is gone).
    nsfsd_rss_kb: int
    # The pids behind sandbox_procs, for messages.
    pids: tuple = dataclasses.field(default=(), compare=False)

    def diff(self, before: "Snapshot") -> Dict[str, int]:
        """Counters that changed since BEFORE, as {name: after - before}."""
        out = {}
        for f in ("sandbox_procs", "zombies", "mounts", "state_files", "nsfsd_fds", "nsfsd_rss_kb"):
            d = getattr(self, f) - getattr(before, f)
            if d:
                out[f] = d
        return out

    def leaks(self, before: "Snapshot", rss_slack_kb: int = 8192, fd_slack: int = 0) -> Dict[str, int]:
        """Counters that grew beyond the slack allowed (RSS moves a little
        with the allocator; everything else must come back exactly)."""
        out = {}
        for name, d in self.diff(before).items():
            if name == "nsfsd_rss_kb" and d <= rss_slack_kb:
                continue
            if name == "nsfsd_fds" and d <= fd_slack:
                continue
            if d > 0:
                out[name] = d
        return out


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _proc_table() -> Dict[int, tuple]:
    """pid -> (ppid, state letter) for every process visible now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if not stat:
            continue
        # comm may hold spaces and parentheses: split after the last ')'.
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) < 2:
            continue
        table[int(entry)] = (int(rest[1]), rest[0])
    return table


def _exe_name(pid: int) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def _holds_a_file_under(pid: int, prefix: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                return True
        except OSError:
            continue
    return False


def supervisor_pids(state_dir, table: Optional[Dict[int, tuple]] = None) -> Set[int]:
    """Live supervisors of STATE_DIR: the pids recorded in its
    supervisor.pid files, and any nsfs-supervisor process holding a
    descriptor of a directory inside it (a supervisor whose record was
    already removed: its title names only its sandbox)."""
    state_dir = os.path.realpath(str(state_dir))
    if table is None:
        table = _proc_table()
    pids = set()
    needle = state_dir + "/"
    for pidfile in Path(state_dir).glob("sandboxes/*/supervisor.pid"):
        text = _read(str(pidfile))
        if text and text.strip().isdigit():
            pid = int(text.strip())
            # A stale record may name a pid reused by something unrelated:
            # take it only if it still is a supervisor.
            if pid in table and _exe_name(pid).startswith("nsfs-supervisor"):
                pids.add(pid)
    for pid in table:
        if _exe_name(pid).startswith("nsfs-supervisor") and _holds_a_file_under(pid, needle):
            pids.add(pid)
    return pids


def descendants(roots: Iterable[int], table: Optional[Dict[int, tuple]] = None) -> Set[int]:
    """ROOTS and every process whose ancestry includes one of them."""
    if table is None:
        table = _proc_table()
    roots = {p for p in roots if p in table}
    children: Dict[int, List[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.add(pid)
        todo.extend(children.get(pid, ()))
    return out


def _unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts(pid: str = "self") -> List[tuple]:
    """(mount point, fstype) of every mount in PID's mount namespace."""
    text = _read(f"/proc/{pid}/mountinfo") or ""
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        if len(fields) < 5:
            continue
        out.append((_unescape_mountinfo(fields[4]), right.split()[0]))
    return out


def fuse_mounted(mnt) -> bool:
    """True if MNT is a FUSE mount point in our mount namespace."""
    mnt = os.path.realpath(str(mnt))
    return any(mp == mnt and fstype.startswith("fuse") for mp, fstype in mounts())


def _under(path: str, roots: List[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def count_mounts(paths: Iterable, types=MOUNT_TYPES) -> int:
    roots = [os.path.realpath(str(p)) for p in paths]
    return sum(1 for mp, fstype in mounts()
               if _under(mp, roots) and fstype.split(".")[0] in types)


def mounts_under(root) -> List[tuple]:
    """(mount point, fstype) of every mount strictly below ROOT."""
    root = os.path.realpath(str(root))
    return [(mp, fstype) for mp, fstype in mounts() if mp.startswith(root.rstrip("/") + "/")]


def fuse_mount_count(mnt) -> int:
    """How many FUSE mounts sit on MNT (more than one: stacked mounts)."""
    mnt = os.path.realpath(str(mnt))
    return sum(1 for mp, fstype in mounts() if mp == mnt and fstype.startswith("fuse"))


def start_time(pid: int) -> Optional[int]:
    """PID's start time (clock ticks after boot, /proc/PID/stat field 22),
    or None if it is gone or a zombie: with the pid, it names one process."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    rest = stat[stat.rfind(")") + 2:].split()
    if rest[0] == "Z":
        return None
    return int(rest[19])


def count_files(root) -> int:
    n = 0
    for _, dirs, files in os.walk(str(root)):
        n += len(dirs) + len(files)
    return n


def _fd_count(pid: Optional[int]) -> int:
    if not pid:
        return -1
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def _rss_kb(pid: Optional[int]) -> int:
    if not pid:
        return -1
    for line in (_read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def snapshot(nsfsd_pid: Optional[int], state_dir, paths: Iterable = ()) -> Snapshot:
    """Count what nsfsd (NSFSD_PID) and the sandboxes of STATE_DIR hold.

    Mounts are counted under STATE_DIR's parent (the test's temporary
    directory, which holds the mount point too) and under PATHS."""
    table = _proc_table()
    sups = supervisor_pids(state_dir, table)
    family = descendants(sups, table)
    watched = family | descendants([nsfsd_pid] if nsfsd_pid else [], table)
    zombies = sum(1 for pid in watched if table[pid][1] == "Z")
    mount_roots = [Path(state_dir).parent, *paths]
    return Snapshot(
        sandbox_procs=len(family),
        zombies=zombies,
        mounts=count_mounts(mount_roots),
        state_files=_settled_state_files(state_dir),
        nsfsd_fds=_fd_count(nsfsd_pid),
        nsfsd_rss_kb=_rss_kb(nsfsd_pid),
        pids=tuple(sorted(family)),
    )


def _settled_state_files(state_dir) -> int:
    """Files under the state dir once nsfsd's trash thread is done with
    what rmdir moved there (it deletes in the background, briefly)."""
    trash = os.path.join(state_dir, "trash")
    deadline = time.monotonic() + 5
    while os.path.isdir(trash) and os.listdir(trash) and time.monotonic() < deadline:
        time.sleep(0.01)
    return count_files(state_dir)


def settled_leaks(before: Snapshot, nsfsd_pid: Optional[int], state_dir, paths: Iterable = (),
                  timeout: float = 5.0, **slack) -> Dict[str, int]:
    """What still leaks once the system had TIMEOUT seconds to settle.

    FUSE sends `release` after close(2) has returned, so a file a test just
    closed may hold nsfsd resources for a moment; a real leak never goes
    away.  Returns {} as soon as nothing leaks, else the last leaks seen."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        leaks = snapshot(nsfsd_pid, state_dir, paths).leaks(before, **slack)
        if not leaks or time.monotonic() > deadline:
            return leaks
        time.sleep(0.05)


RSS_UNCHECKED_KB = 1 << 40


def rss_slack_kb(nsfs, slack_kb: int) -> int:
    """SLACK_KB where nsfsd's RSS is its own, else a bound never reached.
    RSS is nsfsd's own only without a wrapper (valgrind) and without
    sanitizers (whose quarantine holds freed memory); those report leaks
    themselves."""
    if nsfs.wrapped or os.environ.get("ASAN_OPTIONS") is not None:
        return RSS_UNCHECKED_KB
    try:
        with open(nsfs.binary, "rb") as f:
            return RSS_UNCHECKED_KB if b"__asan_init" in f.read() else slack_kb
    except OSError:
        return slack_kb
