"""The README's first command, ./scripts/setup, on this machine: it
installs what running needs, builds, installs nsfsd, its supervisor, the
unit and the man pages under /usr/local, starts nsfsd on /mnt/ns and runs
a first sandbox (issue 21).  The test then stops that nsfsd (by the pid
its state dir's lock holds) and checks it left the mount clean."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from nsfs_util import needs_root, pid_alive, wait_until
from resources import fuse_mounted, supervisor_pids

pytestmark = [needs_root, pytest.mark.setup]

REPO = Path(__file__).resolve().parents[2]
MNT = Path("/mnt/ns")
STATE = Path("/run/nsfs")


def test_readme_setup_installs_starts_and_runs_a_first_sandbox():
    if fuse_mounted(MNT):
        pytest.skip("an nsfsd already serves /mnt/ns on this machine; setup would only say so")
    r = subprocess.run(["./scripts/setup"], cwd=REPO, capture_output=True, text=True, timeout=900,
                       stdin=subprocess.DEVNULL)
    try:
        assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
        lines = r.stdout.splitlines()
        assert any(l.startswith("hello from hello-") and l.endswith(", uid 0") for l in lines), r.stdout
        assert "exited 0" in lines and "state running" in lines, r.stdout
        assert fuse_mounted(MNT) and os.listdir(MNT) == [], "setup left no nsfsd on /mnt/ns, or a sandbox"
        for f in ("/usr/local/bin/nsfsd", "/usr/local/libexec/nsfs/nsfs-supervisor",
                  "/usr/local/lib/systemd/system/nsfsd.service", "/usr/local/share/man/man8/nsfsd.8",
                  "/usr/local/share/man/man5/nsfs.5"):
            assert os.path.isfile(f), f"{f} not installed"
        found = subprocess.run(["man", "-w", "5", "nsfs"], capture_output=True, text=True)
        assert os.path.realpath(found.stdout.strip()) == "/usr/local/share/man/man5/nsfs.5", found
    finally:
        text = (STATE / "nsfsd.lock").read_text().strip() if (STATE / "nsfsd.lock").exists() else ""
        if text.isdigit() and pid_alive(int(text)):
            os.kill(int(text), signal.SIGTERM)
            wait_until(lambda: not fuse_mounted(MNT), what="setup's nsfsd's unmount")
        for pid in supervisor_pids(STATE):
            os.kill(pid, signal.SIGKILL)
