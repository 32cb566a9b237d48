#!/bin/sh
# Drive a sandbox from a POSIX shell with nothing but file operations:
# create it, configure it, run two jobs and read their output and exit
# codes, handle a refused write by reading `error`, and clean up.
#
#     examples/sandbox.sh [MOUNTPOINT]        (default /mnt/ns)
#
# The same steps as sandbox.py and sandbox.js, with the same output.
set -eu
mnt=${1:-/mnt/ns}
box=$mnt/sh-$$

mkdir "$box"
trap 'rmdir "$box"' EXIT
echo "created $(basename "$box")"
echo demo >"$box/hostname"

# Start a job and print its id: the open file that took the command line
# reads back the new job's id.
run () {
	exec 3<>"$box/exec"
	printf '%s' "$1" >&3
	read -r id <&3
	exec 3>&-
	echo "$id"
}

job=$(run 'sh -c "echo hello from $(hostname)"')
echo "job $job: $(cat "$box/jobs/$job/wait")"        # blocks until the job ends
echo "stdout: $(cat "$box/jobs/$job/stdout")"

job=$(run 'sh -c "echo oops >&2; exit 3"')
echo "job $job: $(cat "$box/jobs/$job/wait")"
echo "stderr: $(cat "$box/jobs/$job/stderr")"

# A refused write fails (dash only says "I/O error"); `error` says why.
if ! echo no-such-program >"$box/exec" 2>/dev/null; then
	echo "refused: $(cat "$box/error")"
fi
