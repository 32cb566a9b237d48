"""The scripts in examples/ run as documented, as root and as a non-root
user (issue 21): the POSIX sh, Python and Node.js clients each create a
sandbox, configure it, run two jobs, read their output and exit codes,
handle a refused write through `error`, and clean up, with the same
output; walkthrough.sh runs to its end; mkrootfs-busybox.sh makes a rootfs
a sandbox starts in."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from nsfs_util import TIMEOUT, needs_root
from users import run_as, test_users  # noqa: F401 (fixture)

pytestmark = needs_root

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPECTED = """created {name}
job 1: exited 0
stdout: hello from demo
job 2: exited 3
stderr: oops
refused: exec: no-such-program: No such file or directory
"""
# Interpreters from Debian, whatever python3 or node is first on PATH.
INTERPRETERS = {"sandbox.sh": ["/bin/sh"], "sandbox.py": ["/usr/bin/python3"], "sandbox.js": ["/usr/bin/node"]}


def run_example(nsfs, user, argv, timeout=TIMEOUT):
    if user is None:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return run_as(user, argv, timeout=timeout)


@pytest.mark.parametrize("who", ["root", "user"])
@pytest.mark.parametrize("script", sorted(INTERPRETERS))
def test_client_example(nsfs, test_users, script, who):
    user = test_users.a if who == "user" else None
    r = run_example(nsfs, user, INTERPRETERS[script] + [str(EXAMPLES / script), str(nsfs.mnt)])
    assert r.returncode == 0, f"{script} as {who}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    m = re.match(r"created ((sh|py|js)-\d+)\n", r.stdout)
    assert m, r.stdout
    assert r.stdout == EXPECTED.format(name=m.group(1)), r.stdout
    assert r.stderr == "", r.stderr
    assert os.listdir(nsfs.mnt) == [], "the example left its sandbox behind"


@pytest.mark.parametrize("who", ["root", "user"])
def test_walkthrough(nsfs, test_users, who):
    user = test_users.a if who == "user" else None
    r = run_example(nsfs, user, ["env", f"MNT={nsfs.mnt}", "/bin/sh", str(EXAMPLES / "walkthrough.sh")],
                    timeout=TIMEOUT * 2)
    assert r.returncode == 0, f"walkthrough.sh as {who}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    lines = r.stdout.splitlines()
    assert "job 1: exited 0" in lines and "tick 3" in lines, r.stdout
    # nsenter into the running sandbox's UTS namespace printed its hostname.
    assert "demo" in lines, r.stdout
    assert lines[-1].startswith("refused: uid_map: "), r.stdout
    assert os.listdir(nsfs.mnt) == []


@pytest.mark.parametrize("who", ["root", "user"])
def test_mkrootfs_busybox_makes_a_rootfs_a_sandbox_runs_in(nsfs, test_users, user_dir, who):
    user = test_users.a if who == "user" else None
    os.chmod(user_dir, 0o777)
    rootfs = user_dir / "rootfs"
    r = run_example(nsfs, user, ["/bin/sh", str(EXAMPLES / "mkrootfs-busybox.sh"), str(rootfs)])
    assert r.returncode == 0 and r.stdout == f"a busybox rootfs in {rootfs}\n", r.stdout + r.stderr
    box = nsfs.mnt / f"mkrootfs-{who}"
    script = (f"mkdir {box} && echo {rootfs} > {box}/rootfs && "
              f"echo 'sh -c \"id -u; touch /root/written && ls /root; ls -ld /proc/1 >/dev/null && echo proc\"' "
              f"> {box}/exec && cat {box}/last/wait {box}/last/stdout; rmdir {box}")
    r = run_example(nsfs, user, ["/bin/sh", "-c", script])
    # Root inside, and the rootfs (the user's own files) writable there.
    assert r.stdout == "exited 0\n0\nwritten\nproc\n", r.stdout + r.stderr
