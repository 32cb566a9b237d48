#!/bin/sh
# A sandbox driven through files alone: create, configure, run, inspect,
# remove.  Needs a running nsfsd (see ../README.md); MNT overrides /mnt/ns.
set -eu
MNT=${MNT:-/mnt/ns}
box=$MNT/walkthrough-$$

mkdir "$box"
trap 'rmdir "$box" 2>/dev/null || true' EXIT

echo demo > "$box/hostname"
echo "ns user pid mnt uts net ipc" > "$box/ctl"   # everything but cgroup and time
echo "configured:"; cat "$box/ctl" "$box/uid_map"

# Each write to exec starts a job; the same open file then reads its id.
exec 3<>"$box/exec"
echo 'sh -c "echo I am $(id -u) on $(hostname), pid $$; ip -o link show lo 2>/dev/null || true"' >&3
read -r id <&3
exec 3>&-
echo "started job $id"
echo "job $id: $(cat "$box/jobs/$id/wait")"
cat "$box/jobs/$id/stdout"

# A long job: follow its output, then stop the sandbox.
echo 'sh -c "for i in 1 2 3; do echo tick $i; sleep 1; done"' > "$box/exec"
timeout 5 tail -f "$box/last/stdout" || true
cat "$box/status"

# Stock tools work on the namespace links.  The user namespace first, with
# your own credentials kept: that is what lets a non-root owner in (root
# may leave out both options).
nsenter --preserve-credentials --user="$box/ns/user" --uts="$box/ns/uts" hostname

echo stop > "$box/ctl"
cat "$box/status"

# Mistakes are refused and explained.
echo '0 0 0' > "$box/uid_map" 2>/dev/null || echo "refused: $(cat "$box/error")"
