#!/usr/bin/env python3
"""Drive a sandbox from Python with plain file calls, no library: create
it, configure it, run two jobs and read their output and exit codes,
handle a refused write by reading `error`, and clean up.

    examples/sandbox.py [MOUNTPOINT]        (default /mnt/ns)

The same steps as sandbox.sh and sandbox.js, with the same output.
"""
import os
import sys

MNT = sys.argv[1] if len(sys.argv) > 1 else "/mnt/ns"


def write(path, text):
    """One value in one write(2): nsfs takes each write as a whole value."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read(path):
    with open(path) as f:
        return f.read()


def run(box, cmdline):
    """Start a job; the open file that took the command line reads back
    the new job's id."""
    fd = os.open(os.path.join(box, "exec"), os.O_RDWR)
    try:
        os.write(fd, cmdline.encode())
        return int(os.read(fd, 32))
    finally:
        os.close(fd)


def main():
    box = os.path.join(MNT, f"py-{os.getpid()}")
    os.mkdir(box)
    try:
        print("created", os.path.basename(box))
        write(os.path.join(box, "hostname"), "demo")
        job = run(box, 'sh -c "echo hello from $(hostname)"')
        jobdir = os.path.join(box, "jobs", str(job))
        print(f"job {job}: {read(os.path.join(jobdir, 'wait')).strip()}")  # blocks until it ends
        print("stdout:", read(os.path.join(jobdir, "stdout")).strip())
        job = run(box, 'sh -c "echo oops >&2; exit 3"')
        jobdir = os.path.join(box, "jobs", str(job))
        print(f"job {job}: {read(os.path.join(jobdir, 'wait')).strip()}")
        print("stderr:", read(os.path.join(jobdir, "stderr")).strip())
        try:
            run(box, "no-such-program")
        except FileNotFoundError:
            print("refused:", read(os.path.join(box, "error")).strip())
    finally:
        os.rmdir(box)


if __name__ == "__main__":
    main()
