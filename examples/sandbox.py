#!/usr/bin/env python3
"""Drive an nsfs sandbox from Python with plain file calls, no library.

Usage: sandbox.py [MOUNTPOINT]   (default /mnt/ns; nsfsd must be running)
"""
import os
import select
import sys

MNT = sys.argv[1] if len(sys.argv) > 1 else "/mnt/ns"


def write(path, text):
    """One value, one write(2): nsfs treats each write as a whole message."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read(path):
    with open(path) as f:
        return f.read()


def run(box, cmdline):
    """Start a job and return its id, read back from the same open file."""
    fd = os.open(os.path.join(box, "exec"), os.O_RDWR)
    try:
        os.write(fd, cmdline.encode())
        return int(os.read(fd, 32))
    finally:
        os.close(fd)


def wait(box, job):
    """Block until the job ends, with poll() on its wait file."""
    fd = os.open(os.path.join(box, "jobs", str(job), "wait"), os.O_RDONLY)
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        p.poll()
        return os.read(fd, 64).decode().strip()
    finally:
        os.close(fd)


def main():
    box = os.path.join(MNT, "py-%d" % os.getpid())
    os.mkdir(box)
    try:
        write(os.path.join(box, "hostname"), "pybox")
        job = run(box, "sh -c 'echo hello from $(hostname); exit 3'")
        print("job", job, "->", wait(box, job))
        print("stdout:", read(os.path.join(box, "jobs", str(job), "stdout")), end="")
        print(read(os.path.join(box, "status")), end="")
        try:
            run(box, "no-such-program")
        except FileNotFoundError:
            print("refused:", read(os.path.join(box, "error")), end="")
    finally:
        os.rmdir(box)


if __name__ == "__main__":
    main()
