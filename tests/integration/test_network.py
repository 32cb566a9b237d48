"""Network: veth, a bridge, NAT and port forwards (INTERFACE §9, issue 18).

The nsfsd under test runs in a network namespace of its own ("the host"
here), so nothing touches the machine's own interfaces, routes or
firewall, and no traffic leaves the namespaces the test made.  Where a
test needs a machine on the LAN, an "outside" namespace is linked to the
host namespace by a veth pair.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from nsfs_util import TIMEOUT, expect_errno, needs_root, supervisor_pid, wait_until
from users import as_user, errno_as, exec_job, read_file, user_mkdir, write_file
from users import test_users  # noqa: F401 - the fixture

pytestmark = needs_root

CLONE_NEWNET = 0x40000000
POOL = "10.213.0."
BRIDGE = "nsfs0"


def _unshare_net():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")


def _setns(fd: int):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


class HostNet:
    """nsfsd's network namespace, seen from the test."""

    def __init__(self, nsfs):
        self.nsfs = nsfs

    @property
    def path(self) -> str:
        return f"/proc/{self.nsfs.pid}/ns/net"

    def run(self, argv, check=True, timeout=TIMEOUT, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", f"--net={self.path}", "--", *argv], capture_output=True, text=True,
                              check=check, timeout=timeout, **kw)

    def links(self) -> dict:
        out = json.loads(self.run(["ip", "-j", "link", "show"]).stdout)
        return {l["ifname"]: l for l in out}

    def nft_table(self) -> str:
        r = self.run(["nft", "list", "table", "ip", "nsfs"], check=False)
        return r.stdout if r.returncode == 0 else ""


@pytest.fixture
def hostnet(nsfs):
    """Relaunch the test's nsfsd in a fresh network namespace, loopback up."""
    nsfs.stop_daemon("term")
    nsfs.launch(preexec_fn=_unshare_net)
    net = HostNet(nsfs)
    net.run(["ip", "link", "set", "lo", "up"])
    return net


@pytest.fixture
def outside(hostnet):
    """A namespace linked to nsfsd's by a veth pair: 192.0.2.1 (nsfsd's
    side) and 192.0.2.2 (outside), with a default route back."""
    name = f"nsfs-out-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=TIMEOUT)
    try:
        hostnet.run(["ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1"])
        hostnet.run(["ip", "link", "set", "lan1", "netns", f"/run/netns/{name}"])
        hostnet.run(["ip", "addr", "add", "192.0.2.1/24", "dev", "lan0"])
        hostnet.run(["ip", "link", "set", "lan0", "up"])
        ns = ["ip", "netns", "exec", name]
        for cmd in (["ip", "addr", "add", "192.0.2.2/24", "dev", "lan1"], ["ip", "link", "set", "lan1", "up"],
                    ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", "192.0.2.1"]):
            subprocess.run(ns + cmd, check=True, timeout=TIMEOUT, capture_output=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=TIMEOUT)


def run_ok(nsfs, sb, cmd, timeout=TIMEOUT):
    status, out, err = nsfs.run(sb, cmd, timeout=timeout)
    assert status == "exited 0", f"{cmd!r}: {status}; stderr {err!r}"
    return out


def address_of(nsfs, sb) -> str:
    text = nsfs.read(sb / "net")
    assert text.startswith("veth "), text
    return text.split()[1].split("/")[0]


SERVER = ("python3 -c 'import http.server, socketserver, sys; "
          "h = type(\"H\", (http.server.BaseHTTPRequestHandler,), {{\"do_GET\": lambda s: (s.send_response(200), "
          "s.end_headers(), s.wfile.write(b\"hello from {name}\\n\")), \"log_message\": lambda *a: None}}); "
          "socketserver.TCPServer.allow_reuse_address = True; "
          "socketserver.TCPServer((\"0.0.0.0\", {port}), h).serve_forever()'")

FETCH = ("python3 -c 'import urllib.request, sys; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end=\"\")' {url}")


def serve(nsfs, sb, name, port=80) -> int:
    jid = nsfs.exec(sb, SERVER.format(name=name, port=port))
    return jid


def fetch_from(host: HostNet, url: str, ns=None) -> str:
    argv = ["python3", "-c", "import urllib.request, sys; "
            "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode(), end='')", url]
    if ns:
        r = subprocess.run(ns + argv, capture_output=True, text=True, timeout=TIMEOUT)
    else:
        r = host.run(argv, check=False)
    return r.stdout if r.returncode == 0 else f"failed: {r.stderr.strip()[-200:]}"


def wait_serving(host: HostNet, url: str, ns=None):
    wait_until(lambda: fetch_from(host, url, ns).startswith("hello"), timeout=10, what=f"{url} to answer")


# -- the files --------------------------------------------------------------


def test_net_file(nsfs, hostnet, web):
    assert nsfs.read(web / "net") == "none\n"
    nsfs.write(web / "net", "veth")
    assert nsfs.read(web / "net") == "veth\n"
    # Nothing on the host's network until it starts.
    assert BRIDGE not in hostnet.links()
    assert hostnet.nft_table() == ""
    nsfs.start(web)
    addr = address_of(nsfs, web)
    assert addr.startswith(POOL) and nsfs.read(web / "net").endswith("/16\n")
    expect_errno(errno.EBUSY, nsfs.write, web / "net", "none")
    expect_errno(errno.EBUSY, nsfs.write, web / "ports", "tcp 8080 80")
    assert "net" in nsfs.error(web) or "ports" in nsfs.error(web)
    nsfs.ctl(web, "stop")
    assert nsfs.read(web / "net") == "veth\n"
    nsfs.write(web / "net", f"veth {POOL}77/16")
    assert nsfs.read(web / "net") == f"veth {POOL}77/16\n"
    nsfs.start(web)
    assert address_of(nsfs, web) == f"{POOL}77"


def test_net_errors(nsfs, hostnet, web):
    nsfs.write(web / "net", f"veth {POOL}9/16")
    for bad in ("bridge", "veth 10.213.0.9", "veth 10.213.0.9/33", "veth 192.168.1.5/16", "veth 10.213.0.9/24"):
        expect_errno(errno.EINVAL, nsfs.write, web / "net", bad)
        assert nsfs.read(web / "net") == f"veth {POOL}9/16\n"
        assert nsfs.error(web).startswith("net: ")
    db = nsfs.sandbox("db")
    expect_errno(errno.EADDRINUSE, nsfs.write, db / "net", f"veth {POOL}9/16")
    expect_errno(errno.EADDRINUSE, nsfs.write, db / "net", f"veth {POOL}1/16")  # the bridge's
    nsfs.write(db / "net", "veth")
    nsfs.start(db)
    assert address_of(nsfs, db) not in (f"{POOL}9", f"{POOL}1")
    # ports: malformed, taken by another sandbox
    expect_errno(errno.EINVAL, nsfs.write, web / "ports", "tcp 8080 80\nsctp 9")
    assert nsfs.error(web).startswith("ports: line 2")
    nsfs.write(web / "ports", "tcp 8080 80\nudp 5353")
    assert nsfs.read(web / "ports") == "tcp 8080 80\nudp 5353 5353\n"
    nsfs.ctl(db, "stop")
    expect_errno(errno.EADDRINUSE, nsfs.write, db / "ports", "tcp 8080")
    nsfs.write(db / "ports", "udp 8080")


def test_veth_needs_net(nsfs, hostnet, web):
    nsfs.write(web / "net", "veth")
    nsfs.ctl(web, "ns user pid mnt uts ipc")
    expect_errno(errno.EINVAL, nsfs.ctl, web, "start")
    assert "net" in nsfs.error(web)


def test_ports_need_veth(nsfs, hostnet, web):
    nsfs.write(web / "ports", "tcp 8080 80")
    expect_errno(errno.EINVAL, nsfs.ctl, web, "start")
    assert "veth" in nsfs.error(web)


# -- traffic ----------------------------------------------------------------


def test_sandboxes_reach_each_other_and_the_bridge(nsfs, hostnet):
    web, db = nsfs.sandbox("web"), nsfs.sandbox("db")
    for sb in (web, db):
        nsfs.write(sb / "net", "veth")
    serve(nsfs, web, "web")
    addr = address_of(nsfs, web)
    # eth0 inside, with the address, loopback still up, a default route.
    inside = run_ok(nsfs, db, "ip -o -4 addr show")
    assert "eth0" in inside and "lo" in inside and address_of(nsfs, db) in inside
    assert "default via 10.213.0.1" in run_ok(nsfs, db, "ip route")
    wait_until(lambda: fetch_from(hostnet, f"http://{addr}/").startswith("hello"), what="web to serve")
    assert run_ok(nsfs, db, FETCH.format(url=f"http://{addr}/")) == "hello from web\n"
    # And the bridge's address from inside.
    run_ok(nsfs, db, "busybox ping -c 1 -W 2 10.213.0.1")


def test_port_forward_from_the_host_and_the_lan(nsfs, hostnet, outside):
    web = nsfs.sandbox("web")
    nsfs.write(web / "net", "veth")
    nsfs.write(web / "ports", "tcp 8080 80")
    serve(nsfs, web, "web")
    addr = address_of(nsfs, web)
    wait_serving(hostnet, f"http://{addr}/")
    # From the host itself: its own address and loopback (OUTPUT).
    assert fetch_from(hostnet, "http://192.0.2.1:8080/") == "hello from web\n"
    assert fetch_from(hostnet, "http://127.0.0.1:8080/") == "hello from web\n"
    # From the LAN: the forwarded port answers...
    assert fetch_from(hostnet, "http://192.0.2.1:8080/", ns=outside) == "hello from web\n"
    # ...and from another sandbox, through the host's address (hairpin).
    db = nsfs.sandbox("db")
    nsfs.write(db / "net", "veth")
    assert run_ok(nsfs, db, FETCH.format(url="http://192.0.2.1:8080/")) == "hello from web\n"
    # ...but the sandbox's own address does not, even routed to it.
    subprocess.run(outside + ["ip", "route", "add", "10.213.0.0/16", "via", "192.0.2.1"], check=True,
                   timeout=TIMEOUT)
    assert fetch_from(hostnet, f"http://{addr}/", ns=outside).startswith("failed")
    # Outbound traffic is masqueraded: the LAN sees the host's address.
    out = subprocess.Popen(outside + ["python3", "-c", SERVER.split("'")[1].format(name="lan", port=9000)])
    try:
        wait_until(lambda: subprocess.run(outside + ["python3", "-c",
                                                      "import socket; socket.create_connection(('127.0.0.1', 9000), 1)"],
                                          capture_output=True).returncode == 0, what="the LAN server")
        assert run_ok(nsfs, web, FETCH.format(url="http://192.0.2.2:9000/")) == "hello from lan\n"
    finally:
        out.kill()
        out.wait()


def test_stop_and_rmdir_leave_nothing(nsfs, hostnet):
    web, db = nsfs.sandbox("web"), nsfs.sandbox("db")
    for sb in (web, db):
        nsfs.write(sb / "net", "veth")
    nsfs.write(web / "ports", "tcp 8080 80\nudp 5353")
    nsfs.start(web)
    nsfs.start(db)
    veths = [n for n in hostnet.links() if n.startswith("nsv")]
    assert len(veths) == 2
    table = hostnet.nft_table()
    assert "8080" in table and "5353" in table
    nsfs.ctl(web, "stop")
    # The pair goes with the sandbox's network namespace, which the kernel
    # takes down on its own time.
    wait_until(lambda: len([n for n in hostnet.links() if n.startswith("nsv")]) == 1, what="web's veth to go")
    table = hostnet.nft_table()
    assert "8080" not in table and "5353" not in table
    os.rmdir(web)
    assert BRIDGE in hostnet.links()
    os.rmdir(db)
    # The bridge and the table go a second after the last veth sandbox.
    wait_until(lambda: BRIDGE not in hostnet.links() and hostnet.nft_table() == "", timeout=5,
               what="the bridge and the table to go")
    assert not [n for n in hostnet.links() if n.startswith("nsv")]


def test_a_pinned_network_namespace_leaves_the_bridge(nsfs, hostnet, web):
    nsfs.write(web / "net", "veth")
    nsfs.start(web)
    nsfs.ctl(web, "pin")
    assert len([n for n in hostnet.links() if n.startswith("nsv")]) == 1
    nsfs.ctl(web, "stop")
    # eth0 lives on in the pinned namespace, but off nsfsd's bridge.
    assert not [n for n in hostnet.links() if n.startswith("nsv")]


def test_restart_keeps_leases(nsfs, hostnet):
    web = nsfs.sandbox("web")
    nsfs.write(web / "net", "veth")
    nsfs.write(web / "ports", "tcp 8080 80")
    nsfs.start(web)
    addr = address_of(nsfs, web)
    # The new nsfsd joins the namespace the old one's supervisors hold.
    fd = os.open(f"/proc/{supervisor_pid(nsfs, 'web')}/ns/net", os.O_RDONLY)
    try:
        nsfs.stop_daemon("term")
        nsfs.launch(preexec_fn=lambda: _setns(fd))
    finally:
        os.close(fd)
    assert nsfs.read(web / "net") == f"veth {addr}/16\n"
    assert nsfs.read(web / "ports") == "tcp 8080 80\n"
    db = nsfs.sandbox("db")
    nsfs.write(db / "net", "veth")
    nsfs.start(db)
    assert address_of(nsfs, db) != addr


# -- owners -----------------------------------------------------------------


def test_owner_ports_and_caps(nsfs, hostnet, test_users):
    a = test_users.a
    box = nsfs.mnt / "box"
    as_user(a, user_mkdir, box)
    as_user(a, write_file, box / "net", "veth")
    assert errno_as(a, write_file, box / "ports", "tcp 80") == errno.EACCES
    assert b"1024" in as_user(a, read_file, box / "error")
    as_user(a, write_file, box / "ports", "tcp 8081 80")
    jid = as_user(a, exec_job, box, "ip -o -4 addr show eth0")
    wait_until(lambda: read_file(box / "jobs" / str(jid) / "status") != b"running\n", what="the job")
    assert read_file(box / "jobs" / str(jid) / "status") == b"exited 0\n"
    assert POOL.encode() in read_file(box / "jobs" / str(jid) / "stdout")


def test_owner_caps_on_veth_and_forwards(nsfs, hostnet, relaunch, test_users):
    # relaunch keeps nsfsd in a network namespace of its own: the fixture
    # above made it; the relaunch enters the same one.
    fd = os.open(hostnet.path, os.O_RDONLY)
    try:
        nsfs.stop_daemon("term")
        plain = nsfs.argv

        def argv(binary=None):
            a = plain(binary)
            i = a.index("--state-dir")
            return a[:i] + ["--max-veth-per-user", "1", "--max-ports-per-user", "2"] + a[i:]

        nsfs.argv = argv
        nsfs.launch(preexec_fn=lambda: _setns(fd))
    finally:
        os.close(fd)
    a = test_users.a
    one, two = nsfs.mnt / "one", nsfs.mnt / "two"
    as_user(a, user_mkdir, one)
    as_user(a, user_mkdir, two)
    as_user(a, write_file, one / "net", "veth")
    assert errno_as(a, write_file, two / "net", "veth") == errno.EDQUOT
    assert b"--max-veth-per-user" in as_user(a, read_file, two / "error")
    as_user(a, write_file, one / "ports", "tcp 8081\ntcp 8082")
    assert errno_as(a, write_file, two / "ports", "tcp 8083") == errno.EDQUOT
    assert errno_as(a, write_file, one / "ports", "tcp 8081\ntcp 8082\ntcp 8083") == errno.EDQUOT
    assert as_user(a, read_file, one / "ports") == b"tcp 8081 8081\ntcp 8082 8082\n"
    # Root is not capped.
    r1, r2 = nsfs.sandbox("r1"), nsfs.sandbox("r2")
    nsfs.write(r1 / "net", "veth")
    nsfs.write(r2 / "net", "veth")
