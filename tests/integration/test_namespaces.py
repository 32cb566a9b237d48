"""Namespaces as jobs and host tools see them (INTERFACE §1-§4)."""

import os
import shutil
import subprocess

import pytest

from nsfs_util import TIMEOUT, needs_root

NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")


def host_ino(t):
    return os.stat(f"/proc/self/ns/{t}").st_ino


def run_ok(nsfs, sb, cmd):
    status, out, err = nsfs.run(sb, cmd)
    assert status == "exited 0", f"{cmd!r}: {status}; stderr {err!r}"
    return out


def test_user_session(nsfs):
    """mkdir, set the hostname, run a few commands: the whole first session."""
    web = nsfs.sandbox("web")
    nsfs.write(web / "hostname", "web1")
    assert run_ok(nsfs, web, "hostname") == "web1\n"
    assert run_ok(nsfs, web, "id -u") == "0\n"
    assert run_ok(nsfs, web, "id -g") == "0\n"
    pid = int(run_ok(nsfs, web, "sh -c 'echo $$'"))
    assert 1 <= pid < 50, f"$$ is {pid}: not a fresh pid namespace"
    st = nsfs.status(web)
    assert st["state"] == "running"
    assert st["ns"] == " ".join(NS_TYPES)


@pytest.mark.parametrize("t", NS_TYPES)
def test_ns_link(nsfs, web, t):
    init = nsfs.start(web)
    link = web / "ns" / t
    assert os.readlink(link) == f"/proc/{init}/ns/{t}"
    ino = os.stat(link).st_ino
    assert ino == os.stat(f"/proc/{init}/ns/{t}").st_ino
    assert ino != host_ino(t), f"{t}: the sandbox shares the host's namespace"


def test_jobs_run_in_the_sandbox_namespaces(nsfs, web):
    init = nsfs.start(web)
    script = "for t in " + " ".join(NS_TYPES) + "; do readlink /proc/self/ns/$t; done"
    out = run_ok(nsfs, web, f"sh -c '{script}'").splitlines()
    assert out == [os.readlink(f"/proc/{init}/ns/{t}") for t in NS_TYPES]


def test_namespaces_persist_between_jobs(nsfs, web):
    first = run_ok(nsfs, web, "readlink /proc/self/ns/uts /proc/self/ns/net /proc/self/ns/ipc")
    second = run_ok(nsfs, web, "readlink /proc/self/ns/uts /proc/self/ns/net /proc/self/ns/ipc")
    assert first == second
    if shutil.which("ipcmk"):
        host_before = _host_queues()
        run_ok(nsfs, web, "ipcmk -Q")
        inside = [line for line in run_ok(nsfs, web, "ipcs -q").splitlines() if line.startswith("0x")]
        assert len(inside) == 1, "the queue made by one job is not seen by the next"
        assert _host_queues() == host_before, "the sandbox's queue shows up on the host"


def _host_queues():
    r = subprocess.run(["ipcs", "-q"], capture_output=True, text=True, timeout=TIMEOUT)
    return sorted(line for line in r.stdout.splitlines() if line.startswith("0x"))


def test_restart_makes_fresh_namespaces(nsfs, web):
    init = nsfs.start(web)
    types = ("uts", "net", "pid", "ipc")
    # Hold the old namespaces open: a freed namespace's inode number is
    # handed out again at once.
    held = {t: os.open(f"/proc/{init}/ns/{t}", os.O_RDONLY) for t in types}
    try:
        before = {t: os.fstat(fd).st_ino for t, fd in held.items()}
        nsfs.ctl(web, "stop")
        nsfs.start(web)
        after = {t: os.stat(web / "ns" / t).st_ino for t in types}
    finally:
        for fd in held.values():
            os.close(fd)
    for t in types:
        assert before[t] != after[t], f"{t} namespace reused after stop/start"


@needs_root
def test_nsenter_uts(nsfs, web):
    nsfs.write(web / "hostname", "web1")
    nsfs.start(web)
    r = subprocess.run(["nsenter", f"--uts={web}/ns/uts", "hostname"], capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout) == (0, "web1\n"), r.stderr


@needs_root
def test_nsenter_net(nsfs, web):
    if not shutil.which("ip"):
        pytest.skip("iproute2 is not installed")
    nsfs.start(web)
    r = subprocess.run(["nsenter", f"--net={web}/ns/net", "ip", "-o", "link", "show"], capture_output=True,
                       text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[1].strip() for line in r.stdout.splitlines()] == ["lo"]


@needs_root
def test_ns_subset(nsfs, web):
    nsfs.write(web / "ctl", "ns uts pid")
    nsfs.write(web / "hostname", "sub1")
    init = nsfs.start(web)
    for t in NS_TYPES:
        ino = os.stat(f"/proc/{init}/ns/{t}").st_ino
        if t in ("uts", "pid"):
            assert ino != host_ino(t), f"{t} was not created"
            assert os.stat(web / "ns" / t).st_ino == ino
        else:
            assert ino == host_ino(t), f"{t} was created though not in the set"
    assert run_ok(nsfs, web, "hostname") == "sub1\n"
    assert run_ok(nsfs, web, "id -u") == f"{os.getuid()}\n"
    assert int(run_ok(nsfs, web, "sh -c 'echo $$'")) < 50
    assert nsfs.status(web)["ns"] == "pid uts"


@needs_root
def test_hostname_changes_live(nsfs, web):
    nsfs.write(web / "hostname", "web1")
    assert run_ok(nsfs, web, "hostname") == "web1\n"
    nsfs.write(web / "hostname", "web2")
    assert nsfs.status(web)["state"] == "running"
    assert run_ok(nsfs, web, "hostname") == "web2\n"
    r = subprocess.run(["nsenter", f"--uts={web}/ns/uts", "hostname"], capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.stdout == "web2\n"
    # And the host's hostname is untouched.
    assert os.uname().nodename not in ("web1", "web2")


def test_hostname_default_seen_by_job(nsfs):
    sb = nsfs.sandbox("my_box")
    assert run_ok(nsfs, sb, "hostname") == nsfs.read(sb / "hostname")


def test_loopback_is_up(nsfs, web):
    if shutil.which("ip"):
        out = run_ok(nsfs, web, "ip -o link show")
        lines = out.splitlines()
        assert len(lines) == 1, f"more than lo in a fresh net namespace: {out}"
        name, flags = lines[0].split(":")[1].strip(), lines[0].split("<")[1].split(">")[0].split(",")
        assert name == "lo" and "UP" in flags, out
        assert "127.0.0.1" in run_ok(nsfs, web, "ip -o addr show lo")
    devs = run_ok(nsfs, web, "cat /proc/net/dev").splitlines()[2:]
    assert [line.split(":")[0].strip() for line in devs] == ["lo"]


def test_time_namespace(nsfs, web):
    init = nsfs.start(web)
    assert os.readlink(web / "ns" / "time") == f"/proc/{init}/ns/time"
    assert os.stat(web / "ns" / "time").st_ino != host_ino("time")
    inside = run_ok(nsfs, web, "readlink /proc/self/ns/time").strip()
    assert inside == os.readlink(f"/proc/{init}/ns/time")


def test_supervisor_steps_back_out_after_starting_jobs(nsfs, web):
    """The supervisor enters the sandbox's pid and time namespaces for
    each job start and must step back: later jobs, and the init of the
    next start, are made from where it stands."""
    nsfs.start(web)
    for _ in range(3):
        run_ok(nsfs, web, "true")
    with open(nsfs.state / "sandboxes" / "web" / "supervisor.pid") as f:
        sup = int(f.read())
    for t in ("pid", "pid_for_children", "time", "time_for_children"):
        assert os.stat(f"/proc/{sup}/ns/{t}").st_ino == host_ino(t.split("_")[0]), t
    nsfs.ctl(web, "stop")
    init = nsfs.start(web)
    inside = run_ok(nsfs, web, "readlink /proc/self/ns/time /proc/self/ns/pid").split()
    assert inside == [os.readlink(f"/proc/{init}/ns/time"), os.readlink(f"/proc/{init}/ns/pid")]


def test_mounts_stay_inside(nsfs, web):
    out = run_ok(nsfs, web, "sh -c 'mount -t tmpfs nsfs-it-tmpfs /mnt && grep -c nsfs-it-tmpfs /proc/self/mountinfo'")
    assert out == "1\n"
    with open("/proc/self/mountinfo") as f:
        assert "nsfs-it-tmpfs" not in f.read()


def _map_lines(text):
    return [line.split() for line in text.splitlines()]


def test_uid_map_seen_by_job(nsfs, web):
    nsfs.write(web / "uid_map", "0 0 1\n1 100000 65536")
    nsfs.write(web / "gid_map", "0 0 1\n1 200000 1000")
    assert _map_lines(run_ok(nsfs, web, "cat /proc/self/uid_map")) == [["0", "0", "1"], ["1", "100000", "65536"]]
    assert _map_lines(run_ok(nsfs, web, "cat /proc/self/gid_map")) == [["0", "0", "1"], ["1", "200000", "1000"]]
    assert run_ok(nsfs, web, "id -u") == "0\n"


def test_default_map_seen_by_job(nsfs, web):
    assert _map_lines(run_ok(nsfs, web, "cat /proc/self/uid_map")) == [["0", str(os.getuid()), "1"]]
    assert _map_lines(run_ok(nsfs, web, "cat /proc/self/gid_map")) == [["0", str(os.getgid()), "1"]]


def test_owner_mapped_to_other_id(nsfs, web):
    own_uid, own_gid = os.getuid(), os.getgid()
    nsfs.write(web / "uid_map", f"1000 {own_uid} 1")
    nsfs.write(web / "gid_map", f"2000 {own_gid} 1")
    assert run_ok(nsfs, web, "id -u") == "1000\n"
    assert run_ok(nsfs, web, "id -g") == "2000\n"
    assert _map_lines(run_ok(nsfs, web, "cat /proc/self/uid_map")) == [["1000", str(own_uid), "1"]]
