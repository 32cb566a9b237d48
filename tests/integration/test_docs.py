"""The tutorial (docs/tutorial.md) and the README run as written (issue 21).

Every ```sh block of a document is run, in order, in one shell, against
the test's live mount (its path put in place of /mnt/ns), once as root and
once as an ordinary user; a ```text block right after a ```sh block is
what that block must print, line for line, where "…" stands for any text
on its line.  ```sh root and ```sh user blocks are run only as that;
```console blocks are shown, not run (installing, an interactive
terminal).  nsfsd runs in a network namespace of its own here, so the
network sections make nothing on the machine's own; the commands run in
the machine's (mmdebstrap reaches Debian's mirror from there) and reach
the sandboxes' network from a sandbox, as the tutorial shows.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from nsfs_util import TIMEOUT, needs_root
from users import test_users  # noqa: F401 (fixture)

pytestmark = needs_root

REPO = Path(__file__).resolve().parents[2]
MARK = "@@nsfs-doc-block {}@@"


def _unshare_net():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")


def fenced_blocks(text: str):
    """(info string, body, line number) of each fenced block."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^```(.*)$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        blocks.append((m.group(1).strip(), "\n".join(body), start))
        i += 1
    return blocks


def runnable(doc: Path, who: str):
    """The blocks WHO runs: (body, expected text or None, line number)."""
    out = []
    blocks = fenced_blocks(doc.read_text())
    for n, (info, body, line) in enumerate(blocks):
        if info not in ("sh", f"sh {who}"):
            continue
        expected = None
        if n + 1 < len(blocks) and blocks[n + 1][0] == "text":
            expected = blocks[n + 1][1]
        out.append((body, expected, line))
    return out


def line_matches(expected: str, got: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, got) is not None


def run_doc(nsfs, doc: Path, who: str, user, home: Path):
    blocks = runnable(doc, who)
    assert blocks, f"{doc.name}: nothing to run"
    script = "\n".join(f"echo '{MARK.format(i)}'\n{body.replace('/mnt/ns', str(nsfs.mnt))}"
                       for i, (body, _, _) in enumerate(blocks))
    argv = []
    if user is not None:
        argv += ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--inh-caps=-all"]
    argv += ["env", f"HOME={home}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "sh", "-c", script]
    out_path, err_path = home.parent / "stdout", home.parent / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(TIMEOUT * 12)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    r = subprocess.CompletedProcess(argv, proc.returncode, out_path.read_text(), err_path.read_text())
    parts = re.split(r"^@@nsfs-doc-block (\d+)@@\n", r.stdout, flags=re.M)
    outputs = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    wrong = []
    for i, (body, expected, line) in enumerate(blocks):
        if i not in outputs:
            wrong.append(f"line {line}: the script stopped before this block")
            break
        if expected is None:
            continue
        got = outputs[i].rstrip("\n").split("\n") if outputs[i].strip("\n") else []
        want = expected.split("\n") if expected else []
        if len(got) != len(want) or not all(line_matches(w, g) for w, g in zip(want, got)):
            wrong.append(f"line {line} printed:\n" + "\n".join(got) + "\n--- where the page says:\n" +
                         "\n".join(want))
    assert not wrong, f"{doc.name} ({who}):\n" + "\n\n".join(wrong) + f"\n--- stderr:\n{r.stderr[-3000:]}"
    assert os.listdir(nsfs.mnt) == [], f"{doc.name} ({who}) left sandboxes behind"


@pytest.fixture
def netns_nsfs(nsfs):
    """The test's nsfsd in a network namespace of its own, loopback up."""
    nsfs.stop_daemon("term")
    nsfs.launch(preexec_fn=_unshare_net)
    subprocess.run(["nsenter", f"--net=/proc/{nsfs.pid}/ns/net", "ip", "link", "set", "lo", "up"], check=True)
    return nsfs


@pytest.mark.parametrize("who", ["root", "user"])
@pytest.mark.parametrize("doc", ["docs/tutorial.md", "README.md"])
def test_doc_runs_as_written(netns_nsfs, test_users, user_dir, doc, who):
    user = test_users.a if who == "user" else None
    home = user_dir / "home"
    home.mkdir()
    if user is not None:
        os.chown(home, user.uid, user.gid)
    run_doc(netns_nsfs, REPO / doc, who, user, home)


def test_every_runnable_block_is_checked():
    """A ```sh block with no ```text after it checks only that the script
    got past it: each document keeps that to blocks whose output is
    shown elsewhere."""
    for doc in ("docs/tutorial.md", "README.md"):
        blocks = fenced_blocks((REPO / doc).read_text())
        infos = {info for info, _, _ in blocks}
        assert infos <= {"sh", "sh root", "sh user", "text", "console", "python", ""}, (doc, infos)
