"""The tree (INTERFACE §1): names, listings, modes, refused operations, and
tools walking the mount."""

import errno
import os
import re
import signal
import stat
import subprocess
import textwrap
import time

import pytest

import resources
from resources import fuse_mounted
from nsfs_util import TIMEOUT, expect_errno, needs_root, timed, wait_until

CONFIG_FILES = ("ctl", "uid_map", "gid_map", "hostname", "rootfs", "caps", "mounts", "net", "ports", "memory.max", "pids.max", "cpu.max", "env", "cwd", "user", "stdin")
BASE_ENTRIES = {"ctl", "uid_map", "gid_map", "hostname", "rootfs", "caps", "mounts", "net", "ports", "memory.max", "pids.max", "cpu.max", "stats", "events", "stdin", "env", "cwd", "user", "exec", "status", "error", "ns", "jobs"}
JOB_ENTRIES = {"cmd", "pid", "status", "wait", "stdout", "stderr"}
NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")


def listdir(path):
    return set(timed(os.listdir, path))


# ---------------------------------------------------------------- mkdir / rmdir


def test_mkdir_rmdir(nsfs):
    assert listdir(nsfs.mnt) == set()
    sb = nsfs.sandbox("web")
    st = os.stat(sb)
    assert stat.S_ISDIR(st.st_mode)
    assert listdir(nsfs.mnt) == {"web"}
    timed(os.rmdir, sb)
    assert listdir(nsfs.mnt) == set()
    expect_errno(errno.ENOENT, os.stat, sb)
    # The name is free again.
    nsfs.sandbox("web")
    assert listdir(nsfs.mnt) == {"web"}


def test_several_sandboxes_are_listed(nsfs):
    names = {"a", "b.c", "d-e", "F_9"}
    for n in names:
        nsfs.sandbox(n)
    assert listdir(nsfs.mnt) == names
    timed(os.rmdir, nsfs.mnt / "b.c")
    assert listdir(nsfs.mnt) == names - {"b.c"}


def test_a_listing_in_many_requests_is_whole_in_order_and_stable(nsfs):
    """The root is read in replies of 32 KiB (about 200 entries with their
    attributes), each from its offset: every sandbox once, oldest first,
    and one removed while the listing is halfway through is simply gone
    from its rest."""
    names = [f"s{i:03d}" for i in range(400)]
    for name in names:
        os.mkdir(nsfs.mnt / name)
    with os.scandir(nsfs.mnt) as it:
        listed = [e.name for e in it]
    assert listed == names
    with os.scandir(nsfs.mnt) as it:
        first = [next(it).name for _ in range(10)]
        timed(os.rmdir, nsfs.mnt / names[5])
        timed(os.rmdir, nsfs.mnt / names[390])
        rest = [e.name for e in it]
    assert first == names[:10]
    seen = first + rest
    assert len(seen) == len(set(seen))
    assert seen == [n for n in names if n != names[390]]


def test_mkdir_rmdir_cycles_release_everything(nsfs):
    """rmdir releases everything the sandbox held, nsfsd's own fds and
    memory included (INTERFACE §2: nothing lingers)."""
    def cycle(name):
        sb = nsfs.sandbox(name)
        assert nsfs.run(sb, "sh -c 'echo hi'")[:2] == ("exited 0", "hi\n")
        timed(os.rmdir, sb)

    cycle("warmup")  # lazily created threads, pipes and caches
    before = resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])
    for i in range(10):
        cycle(f"web{i}")
    leaks = resources.settled_leaks(before, nsfs.pid, nsfs.state, paths=[nsfs.mnt], fd_slack=2,
                                    rss_slack_kb=resources.rss_slack_kb(nsfs, 8192))
    assert leaks == {}, f"before {before}\nafter  {resources.snapshot(nsfs.pid, nsfs.state, paths=[nsfs.mnt])}"


@pytest.mark.parametrize("name", ["a", "0", "web", "A-b_c.d", "a.", "a-", "a_", "x" * 64])
def test_valid_names(nsfs, name):
    sb = nsfs.sandbox(name)
    assert name in listdir(nsfs.mnt)
    assert "ctl" in listdir(sb)


@pytest.mark.parametrize("name", [
    "x" * 65,
    ".hidden",
    "-dash",
    "with space",
    " lead",
    "trail ",
    "tab\tx",
    "new\nline",
    "a:b",
    "a*b",
    "a\\b",
    "caf\u00e9",
    "a@b",
])
def test_invalid_names(nsfs, name):
    expect_errno(errno.EINVAL, os.mkdir, nsfs.mnt / name)
    assert listdir(nsfs.mnt) == set()


def test_slash_in_name(nsfs):
    # A '/' never reaches nsfsd: it makes a nested path.  Under a missing
    # name that is ENOENT, under a sandbox it is a refused mkdir.
    expect_errno(errno.ENOENT, os.mkdir, nsfs.mnt / "no/such")
    sb = nsfs.sandbox("web")
    expect_errno(errno.EPERM, os.mkdir, sb / "sub")
    expect_errno(errno.EPERM, os.mkdir, sb / "jobs" / "1")
    expect_errno(errno.EPERM, os.mkdir, sb / "ns" / "x")
    assert listdir(nsfs.mnt) == {"web"}


def test_existing_name(nsfs):
    nsfs.sandbox("web")
    expect_errno(errno.EEXIST, os.mkdir, nsfs.mnt / "web")
    assert listdir(nsfs.mnt) == {"web"}


def test_mkdir_via_shell_tools(nsfs):
    r = nsfs.sh(f"mkdir {nsfs.mnt}/web && ls {nsfs.mnt} && rmdir {nsfs.mnt}/web && ls {nsfs.mnt}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "web\n"


# ---------------------------------------------------------------- listings


def test_listing_of_created_sandbox(nsfs, web):
    assert listdir(web) == BASE_ENTRIES
    assert listdir(web / "jobs") == set()
    assert listdir(web / "ns") == set()
    expect_errno(errno.ENOENT, os.lstat, web / "root")
    expect_errno(errno.ENOENT, os.lstat, web / "last")


def test_listing_follows_state(nsfs, web):
    nsfs.start(web)
    # Running: root appears; no job yet, so no last.
    assert listdir(web) == BASE_ENTRIES | {"root"}
    assert listdir(web / "ns") == set(NS_TYPES)
    jid = nsfs.exec(web, "true")
    assert listdir(web) == BASE_ENTRIES | {"root", "last"}
    assert listdir(web / "jobs") == {str(jid)}
    assert listdir(web / "jobs" / str(jid)) == JOB_ENTRIES
    nsfs.wait(web, jid)
    nsfs.ctl(web, "stop")
    # Stopped: root and ns/* are gone, the job and last stay.
    assert listdir(web) == BASE_ENTRIES | {"last"}
    assert listdir(web / "ns") == set()
    expect_errno(errno.ENOENT, os.lstat, web / "root")
    expect_errno(errno.ENOENT, os.lstat, web / "ns" / "uts")
    assert listdir(web / "jobs") == {str(jid)}


def test_ns_listing_matches_ns_set(nsfs, web):
    nsfs.ctl(web, "ns uts pid")
    nsfs.start(web)
    assert listdir(web / "ns") == {"pid", "uts"}


def test_missing_entries(nsfs, web):
    expect_errno(errno.ENOENT, os.stat, web / "nosuch")
    expect_errno(errno.ENOENT, os.stat, web / "jobs" / "1")
    expect_errno(errno.ENOENT, os.stat, web / "jobs" / "abc")
    expect_errno(errno.ENOENT, os.stat, web / "ns" / "bogus")
    expect_errno(errno.ENOENT, os.stat, nsfs.mnt / "nosuch")


# ---------------------------------------------------------------- modes, owners


def _walk(root):
    """Every path under ROOT (not following links), ROOT included."""
    out = [root]
    for dirpath, dirs, files in timed(lambda: list(os.walk(root))):
        out += [os.path.join(dirpath, n) for n in dirs + files]
    return out


def test_modes(nsfs, web):
    for name in CONFIG_FILES:
        st = os.stat(web / name)
        assert stat.S_ISREG(st.st_mode), name
        assert stat.S_IMODE(st.st_mode) == 0o644, f"{name}: {oct(st.st_mode)}"
    st = os.stat(web / "exec")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    for name in ("status", "error"):
        st = os.stat(web / name)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444, f"{name}: {oct(st.st_mode)}"
    for name in ("ns", "jobs"):
        assert stat.S_ISDIR(os.stat(web / name).st_mode)

    jid = nsfs.exec(web, "true")
    nsfs.wait(web, jid)
    job = nsfs.job(web, jid)
    for name in ("stdout", "stderr"):
        st = os.stat(job / name)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o400, f"{name}: {oct(st.st_mode)}"
    for name in ("cmd", "pid", "status", "wait"):
        st = os.stat(job / name)
        assert stat.S_ISREG(st.st_mode), name
        assert not st.st_mode & 0o222, f"{name} is writable: {oct(st.st_mode)}"
    assert stat.S_ISLNK(os.lstat(web / "last").st_mode)
    assert stat.S_ISLNK(os.lstat(web / "root").st_mode)
    for t in NS_TYPES:
        assert stat.S_ISLNK(os.lstat(web / "ns" / t).st_mode), t


def test_ownership_is_creator(nsfs, web):
    jid = nsfs.exec(web, "true")
    nsfs.wait(web, jid)
    for path in _walk(str(web)):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), f"{path}: {st.st_uid}:{st.st_gid}"


NOBODY = 65534


def _as_nobody(nsfs, code):
    """Run python CODE as uid/gid 65534; its stdout."""
    r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                        "/usr/bin/python3", "-c", textwrap.dedent(code)],
                       capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


ERRNO_PROBE = """
import errno, os, sys
def probe(fn, *a):
    try:
        fn(*a)
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
def write(p, t):
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, t.encode())
    finally:
        os.close(fd)
def read(p):
    with open(p, "rb") as f:
        return f.read()
"""


@needs_root
def test_other_users(nsfs, web):
    """Another user may create its own sandbox (owned by it) but may not
    configure, run in, read job output of, or remove someone else's."""
    jid = nsfs.exec(web, "echo secret")
    nsfs.wait(web, jid)
    mnt = nsfs.mnt
    out = _as_nobody(nsfs, ERRNO_PROBE + f"""
print(probe(os.mkdir, "{mnt}/theirs"))
print(probe(write, "{web}/hostname", "pwned"))
print(probe(write, "{web}/ctl", "stop"))
print(probe(write, "{web}/exec", "true"))
print(probe(read, "{web}/jobs/{jid}/stdout"))
print(probe(os.rmdir, "{web}"))
""").split()
    assert out[0] == "ok", "another user cannot create a sandbox"
    assert out[1] in ("EACCES", "EPERM"), f"hostname write by another user: {out[1]}"
    assert out[2] in ("EACCES", "EPERM"), f"ctl write by another user: {out[2]}"
    assert out[3] in ("EACCES", "EPERM"), f"exec write by another user: {out[3]}"
    assert out[4] in ("EACCES", "EPERM"), f"job output read by another user: {out[4]}"
    assert out[5] in ("EACCES", "EPERM"), f"rmdir by another user: {out[5]}"
    assert nsfs.read(web / "hostname") == "web\n"
    assert "web" in listdir(mnt)

    theirs = mnt / "theirs"
    for path in _walk(str(theirs)):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), f"{path}: {st.st_uid}:{st.st_gid}"
    # Root may remove anyone's sandbox.
    timed(os.rmdir, theirs)
    assert listdir(mnt) == {"web"}


# ---------------------------------------------------------------- refused operations


def _targets(nsfs, web):
    jid = nsfs.exec(web, "true")
    nsfs.wait(web, jid)
    job = nsfs.job(web, jid)
    return jid, job


def test_create_is_refused_everywhere(nsfs, web):
    _, job = _targets(nsfs, web)
    for d in (nsfs.mnt, web, web / "jobs", web / "ns", job):
        expect_errno(errno.EPERM, os.open, d / "newfile", os.O_CREAT | os.O_WRONLY, 0o644)
        expect_errno(errno.EPERM, os.open, d / "newfile", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    r = nsfs.sh(f"echo x > {web}/newfile")
    assert r.returncode != 0
    assert "newfile" not in listdir(web)


@needs_root
def test_owner_is_refused_with_eperm_everywhere(nsfs):
    """INTERFACE §1: create, unlink, link, symlink, rename, mknod (and
    rmdir of anything but a sandbox) are EPERM anywhere, for the owner too.
    With jobs/, jobs/<id>/ and ns/ at 0555 the kernel refused the owner
    there with EACCES before nsfsd was asked."""
    mnt = nsfs.mnt
    out = _as_nobody(nsfs, ERRNO_PROBE + f"""
os.mkdir("{mnt}/mine")
write("{mnt}/mine/ctl", "start")
write("{mnt}/mine/exec", "true")
sb = "{mnt}/mine"
for d in (sb, sb + "/jobs", sb + "/jobs/1", sb + "/ns"):
    print(probe(os.open, d + "/new", os.O_CREAT | os.O_WRONLY, 0o644))
    print(probe(os.mkdir, d + "/new"))
    print(probe(os.symlink, "/etc", d + "/new"))
    print(probe(os.mknod, d + "/new"))
    print(probe(os.link, sb + "/ctl", d + "/new"))
print(probe(os.unlink, sb + "/jobs/1/stdout"))
print(probe(os.unlink, sb + "/ns/uts"))
print(probe(os.rename, sb + "/ns/net", sb + "/ns/net2"))
print(probe(os.rename, sb + "/jobs/1/cmd", sb + "/jobs/1/cmd2"))
print(probe(os.rmdir, sb + "/jobs/1"))
print(probe(os.rmdir, sb + "/jobs"))
print(probe(os.rmdir, sb + "/ns"))
""").split()
    assert len(out) == 27, out
    assert set(out) == {"EPERM"}, out
    assert listdir(mnt / "mine" / "jobs") == {"1"}
    timed(os.rmdir, mnt / "mine")


def test_unlink_is_refused(nsfs, web):
    nsfs.start(web)
    _, job = _targets(nsfs, web)
    for p in [web / n for n in CONFIG_FILES + ("exec", "status", "error", "last", "root")] + \
             [web / "ns" / "uts", job / "stdout", job / "wait"]:
        expect_errno(errno.EPERM, os.unlink, p)
    assert listdir(web) >= BASE_ENTRIES | {"last", "root"}


def test_link_is_refused(nsfs, web):
    _, job = _targets(nsfs, web)
    expect_errno(errno.EPERM, os.link, web / "ctl", web / "ctl2")
    expect_errno(errno.EPERM, os.link, job / "stdout", web / "out")
    expect_errno(errno.EPERM, os.link, web / "hostname", nsfs.mnt / "h")


def test_symlink_is_refused(nsfs, web):
    _, job = _targets(nsfs, web)
    for d in (nsfs.mnt, web, web / "jobs", web / "ns", job):
        expect_errno(errno.EPERM, os.symlink, "/etc", d / "link")


def test_rename_is_refused(nsfs, web):
    _, job = _targets(nsfs, web)
    nsfs.sandbox("other")
    expect_errno(errno.EPERM, os.rename, web / "ctl", web / "ctl2")
    expect_errno(errno.EPERM, os.rename, web / "hostname", web / "rootfs")
    expect_errno(errno.EPERM, os.rename, web, nsfs.mnt / "web2")
    expect_errno(errno.EPERM, os.rename, web, nsfs.mnt / "other")
    expect_errno(errno.EPERM, os.rename, job, web / "jobs" / "99")
    assert listdir(nsfs.mnt) == {"web", "other"}
    assert listdir(web) >= BASE_ENTRIES


def test_mknod_is_refused(nsfs, web):
    for d in (nsfs.mnt, web, web / "jobs"):
        expect_errno(errno.EPERM, os.mkfifo, d / "fifo")
        expect_errno(errno.EPERM, os.mknod, d / "node", stat.S_IFREG | 0o600)
        expect_errno(errno.EPERM, os.mknod, d / "chr", stat.S_IFCHR | 0o600, os.makedev(1, 3))


def test_rmdir_of_non_sandbox_is_refused(nsfs, web):
    nsfs.start(web)
    _, job = _targets(nsfs, web)
    for d in (web / "jobs", web / "ns", job):
        expect_errno(errno.EPERM, os.rmdir, d)
    expect_errno((errno.ENOTDIR, errno.EPERM), os.rmdir, web / "ctl")
    assert listdir(web / "jobs") == {"1"}


# ---------------------------------------------------------------- tools walking the tree


@pytest.fixture
def busy_tree(nsfs):
    """A tree with a created, a running (with a running and an ended job)
    and a stopped sandbox."""
    nsfs.sandbox("idle")
    run = nsfs.sandbox("run")
    done = nsfs.exec(run, "sh -c 'echo done; echo oops >&2'")
    nsfs.wait(run, done)
    nsfs.exec(run, "sleep 60")
    stopped = nsfs.sandbox("stopped")
    nsfs.wait(stopped, nsfs.exec(stopped, "true"))
    nsfs.ctl(stopped, "stop")
    return nsfs


def _tool(nsfs, cmd):
    r = nsfs.sh(cmd)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stderr}"
    assert r.stderr == "", f"{cmd}: {r.stderr}"
    return r.stdout


def test_ls_lR(busy_tree):
    out = _tool(busy_tree, f"ls -lR {busy_tree.mnt}")
    assert "wait" in out and "stdout" in out and "ctl" in out


def test_find(busy_tree):
    out = _tool(busy_tree, f"find {busy_tree.mnt}")
    paths = set(out.split())
    assert f"{busy_tree.mnt}/run/jobs/2/wait" in paths
    assert f"{busy_tree.mnt}/stopped/jobs/1/stdout" in paths
    # find -type and -size stat everything too.
    _tool(busy_tree, f"find {busy_tree.mnt} -type f -size +0 -printf '%s %p\\n'")
    _tool(busy_tree, f"find {busy_tree.mnt} -exec stat {{}} +")
    _tool(busy_tree, f"find -L {busy_tree.mnt} -maxdepth 2 -name ctl")


def test_tar(busy_tree, tmp_path):
    _tool(busy_tree, f"tar cf /dev/null -C {busy_tree.mnt} .")
    # /dev/null lets GNU tar skip the contents: write a real archive too.
    archive = tmp_path / "tree.tar"
    _tool(busy_tree, f"tar cf {archive} -C {busy_tree.mnt} .")
    listing = _tool(busy_tree, f"tar tf {archive}")
    assert "./run/jobs/2/wait" in listing.split()
    out = _tool(busy_tree, f"tar xOf {archive} ./run/jobs/1/stdout")
    assert out == "done\n"


def test_cat_every_file_but_wait(busy_tree):
    _tool(busy_tree, f"find {busy_tree.mnt} -type f ! -name wait ! -name events -exec cat {{}} + > /dev/null")
    _tool(busy_tree, f"find {busy_tree.mnt} -type f ! -name wait ! -name events -exec head -c 1 {{}} + > /dev/null")
    _tool(busy_tree, f"du -a {busy_tree.mnt} > /dev/null")


def _ls_columns(nsfs, path):
    """`ls -lan PATH` as {name: (mode, links, uid, gid, size)}."""
    out = _tool(nsfs, f"ls -lan --time-style=+ {path}")
    cols = {}
    for line in out.splitlines()[1:]:
        mode, links, uid, gid, size, *rest = line.split()
        cols[rest[0]] = (mode, int(links), int(uid), int(gid), int(size))
    return cols


def _stat_columns(path):
    st = os.lstat(path)
    return (stat.filemode(st.st_mode), st.st_nlink, st.st_uid, st.st_gid, st.st_size)


def test_listing_attributes_match_stat(busy_tree):
    """`ls -l` takes attributes from the listing itself (READDIRPLUS):
    they must be what a stat of each entry says."""
    mnt = busy_tree.mnt
    for d in (mnt, mnt / "run", mnt / "run" / "jobs", mnt / "run" / "jobs" / "1", mnt / "run" / "ns",
              mnt / "stopped", mnt / "idle"):
        listed = _ls_columns(busy_tree, d)
        names = set(os.listdir(d))
        assert set(listed) == names | {".", ".."}, d
        for name in names:
            assert listed[name] == _stat_columns(d / name), f"{d / name}"


def test_long_listing_needs_no_lookup_per_entry(nsfs, monkeypatch):
    """`ls -l` of many sandboxes is answered by the listing: the kernel
    gets names and attributes together and looks none of them up."""
    names = [f"many{i}" for i in range(24)]
    for name in names:
        nsfs.sandbox(name)
    # -d makes nsfsd log every request (trace.c); the restart also empties
    # the kernel's dentry cache for the mount.
    monkeypatch.setenv("NSFSD_DEBUG", "1")
    nsfs.restart()
    listed = _ls_columns(nsfs, nsfs.mnt)
    assert set(names) <= set(listed)
    log = nsfs.log_since_launch()
    assert ": readdirplus /: ok" in log, "the kernel did not use READDIRPLUS"
    lookups = len(re.findall(r": lookup /many\d+: ", log))
    assert lookups < len(names) // 2, f"{lookups} lookups for a listing of {len(names)} sandboxes"
    # The sandboxes' directory attributes came with the listing and stay
    # cached; only the root (never cached) is asked again.
    entry_getattrs = re.findall(r": getattr (/many\d+): ", log)
    assert len(entry_getattrs) < len(names) // 2, \
        f"{len(entry_getattrs)} getattrs of entries for a listing of {len(names)} sandboxes"


def test_sandbox_directory_mtime_moves_at_once(nsfs, web):
    """A sandbox's directory attributes are cached by the kernel; every
    change must still show in its mtime on the next stat, whether it came
    from a write or from the supervisor (a job ending)."""
    d = nsfs.mnt / web
    before = os.stat(d).st_mtime_ns
    (d / "hostname").write_text("moved\n")
    after_write = os.stat(d).st_mtime_ns
    assert after_write > before
    jid = nsfs.exec(web, "sleep 0.2")
    after_exec = os.stat(d).st_mtime_ns
    assert after_exec > after_write
    assert nsfs.wait(web, jid) == "exited 0"
    # The end is recorded before `wait` answers, so no retry: a missed
    # invalidation would show the old mtime for the cache's whole second.
    assert os.stat(d).st_mtime_ns > after_exec


def test_output_read_at_any_offset_and_size(nsfs, web):
    """Job output goes out by splice for large reads and by copy for small
    ones; both must give the file's bytes wherever a read starts and ends,
    also across the end of the file."""
    size = 5 * 1024 * 1024 + 123
    jid = nsfs.exec(web, f"head -c {size} /dev/urandom")
    assert nsfs.wait(web, jid) == "exited 0"
    path = nsfs.job(web, jid) / "stdout"
    data = nsfs.read_bytes(path)
    assert len(data) == size

    def reads():
        fd = os.open(path, os.O_RDONLY)
        try:
            got = []
            for off, n in ((0, 1 << 20), (1, 1 << 20), (4095, 3 * 4096 + 7), (size - 10, 1 << 20),
                           (size - (1 << 20) + 1, 1 << 20), (size, 4096), (size + 4096, 1 << 20),
                           (123457, 2 * 4096), (3 << 20, 5)):
                got.append((off, n, os.pread(fd, n, off)))
            return got
        finally:
            os.close(fd)

    for off, n, got in timed(reads):
        assert got == data[off:off + n], f"pread({n}, {off}) gave {len(got)} bytes"
    r = subprocess.run(["cat", str(path)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    assert r.stdout == data


def test_wait_of_running_job_has_size_zero(nsfs, web):
    jid = nsfs.exec(web, "sleep 60")
    assert os.stat(nsfs.job(web, jid) / "wait").st_size == 0


# ---------------------------------------------------------------- sizes and text


def test_stat_shows_real_sizes(nsfs, web):
    nsfs.write(web / "hostname", "web1")
    jid = nsfs.exec(web, "sh -c 'echo some output; echo an error >&2; exit 2'")
    assert nsfs.wait(web, jid) == "exited 2"
    job = nsfs.job(web, jid)
    files = [web / n for n in CONFIG_FILES + ("status", "error")] + [job / n for n in sorted(JOB_ENTRIES)]
    for path in files:
        content = nsfs.read_bytes(path)
        assert os.stat(path).st_size == len(content), f"{path}: st_size {os.stat(path).st_size}, content {content!r}"
    assert nsfs.read(job / "stdout") == "some output\n"


def test_text_files_end_with_newline(nsfs, web):
    nsfs.start(web)
    jid = nsfs.exec(web, "true")
    nsfs.wait(web, jid)
    expect_errno(errno.EINVAL, nsfs.write, web / "hostname", "bad_name")
    job = nsfs.job(web, jid)
    for path in [web / n for n in CONFIG_FILES + ("status", "error")] + \
                [job / n for n in ("cmd", "pid", "status", "wait")]:
        text = nsfs.read(path)
        if text == "":
            continue
        assert text.endswith("\n"), f"{path}: {text!r}"
        assert not text.endswith("\n\n"), f"{path}: {text!r}"
    assert nsfs.read(web / "error") != ""


def test_reads_with_any_buffer_size_and_offset(nsfs, web):
    nsfs.start(web)
    path = web / "status"
    whole = nsfs.read_bytes(path)
    assert len(whole) > 10

    def bytewise():
        fd = os.open(path, os.O_RDONLY)
        try:
            out = b""
            while True:
                b = os.read(fd, 1)
                if not b:
                    return out
                out += b
        finally:
            os.close(fd)

    assert timed(bytewise) == whole

    def at_offsets():
        fd = os.open(path, os.O_RDONLY)
        try:
            return [os.pread(fd, 4, off) for off in (5, 0, len(whole) - 2, len(whole), len(whole) + 100)]
        finally:
            os.close(fd)

    got = timed(at_offsets)
    assert got == [whole[5:9], whole[0:4], whole[-2:], b"", b""]
    r = nsfs.sh(f"head -c 5 {path}; head -n 1 {path}")
    assert r.returncode == 0
    assert r.stdout == whole[:5].decode() + whole.decode().splitlines(True)[0]


def test_open_file_keeps_its_snapshot(nsfs, web):
    """Each open of a generated file reads one consistent snapshot."""
    fd = timed(os.open, web / "status", os.O_RDONLY)
    try:
        first = timed(os.read, fd, 6)
        nsfs.start(web)
        rest = timed(os.read, fd, 65536)
    finally:
        os.close(fd)
    assert (first + rest).decode().startswith("state created\n")
    assert nsfs.read(web / "status").startswith("state running\n")


# ---------------------------------------------------------------- the daemon


def test_sigterm_unmounts_cleanly(nsfs):
    assert fuse_mounted(nsfs.mnt)
    nsfs.expect_exit = True
    nsfs.proc.terminate()
    try:
        rc = nsfs.proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("nsfsd did not exit on SIGTERM")
    assert rc == 0, f"nsfsd exited with {rc} on SIGTERM"
    wait_until(lambda: not fuse_mounted(nsfs.mnt), timeout=5, what="the mount to go away")


def test_fusermount_u_ends_nsfsd_while_sandboxes_run(nsfs):
    """INTERFACE §0: `fusermount3 -u` is a clean unmount, also while
    sandboxes hold mount namespaces: copies of the nsfs mount in them must
    not keep the FUSE connection alive."""
    sb = nsfs.sandbox("web")
    nsfs.exec(sb, "sleep 30")
    nsfs.expect_exit = True
    r = subprocess.run(["fusermount3", "-u", str(nsfs.mnt)], capture_output=True, text=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    try:
        rc = nsfs.proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("nsfsd still runs after fusermount3 -u")
    assert rc == 0
    # The sandbox outlived the unmount (INTERFACE §0, §6); a new nsfsd
    # shows it, and rmdir ends it as usual.
    nsfs.launch()
    assert nsfs.status(sb)["state"] == "running"
    timed(os.rmdir, sb)


def test_jobs_do_not_see_the_control_tree(nsfs):
    """A sandbox's mount namespace starts as a copy of the host's; the
    nsfs mount is detached from it."""
    sb = nsfs.sandbox("web")
    status, out, _ = nsfs.run(sb, "cat /proc/self/mountinfo")
    assert status == "exited 0"
    assert "fuse.nsfsd" not in out
    assert str(nsfs.mnt) not in out


def test_only_the_main_thread_takes_signals(nsfs):
    """libfuse's SIGTERM handler ends the FUSE loop only when it runs on
    the main thread (which waits in sem_wait); a signal delivered to any
    other thread of nsfsd left it running for good.  So every thread but
    the main one blocks SIGTERM, SIGINT and SIGHUP."""
    sb = nsfs.sandbox("web")
    nsfs.run(sb, "true")  # the event thread and FUSE workers exist
    tasks = os.listdir(f"/proc/{nsfs.pid}/task")
    assert len(tasks) > 2
    for tid in tasks:
        status = open(f"/proc/{nsfs.pid}/task/{tid}/status").read()
        blocked = int(next(l.split()[1] for l in status.splitlines() if l.startswith("SigBlk:")), 16)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            bit = bool(blocked & (1 << (sig - 1)))
            if int(tid) == nsfs.pid:
                assert not bit, f"the main thread blocks {sig.name}"
            else:
                assert bit, f"thread {tid} of nsfsd does not block {sig.name}"
