#!/bin/sh
# Make a small root filesystem for a sandbox from Debian's busybox-static:
#
#     examples/mkrootfs-busybox.sh DIR
#
# DIR gets bin/busybox with a link for every applet, the empty dev/ and
# proc/ an nsfs rootfs needs (nsfs mounts a minimal /dev and a fresh /proc
# there), and the few files of etc/ that id(1) and sh(1) look at.  Run it
# as the user whose sandboxes will use it: the files are then that user's,
# which its sandboxes' root maps to (nsfs(5), uid_map), so they are root's
# inside and writable there.
set -eu
dir=${1:?usage: mkrootfs-busybox.sh DIR}
busybox=/bin/busybox
if ! [ -x "$busybox" ] || ! "$busybox" --list >/dev/null 2>&1; then
	echo "mkrootfs-busybox.sh: no $busybox: apt-get install busybox-static" >&2
	exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkrootfs-busybox.sh: $busybox is linked dynamically: apt-get install busybox-static" >&2
	exit 1
fi
mkdir -p "$dir/bin" "$dir/dev" "$dir/proc" "$dir/sys" "$dir/etc" "$dir/root" "$dir/tmp"
chmod 1777 "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
	[ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
echo "a busybox rootfs in $dir"
