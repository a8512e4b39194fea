#!/bin/sh
# Builds the guest's initramfs: busybox-static, dmabufd with the shared
# libraries it links and their loader, the scenario program, the guest's /init
# (with guest-lib.sh from beside it) and dmabufd.conf, and any further static programs (into /bin).
#   mk-initramfs.sh OUT.cpio.gz DMABUFD SCENARIO GUEST_GET INIT CONF [PROGRAM...]
set -eu
[ $# -ge 6 ] || { echo "usage: $0 OUT.cpio.gz DMABUFD SCENARIO GUEST_GET INIT CONF [PROGRAM...]" >&2; exit 2; }
out=$1 dmabufd=$2 scenario=$3 guest_get=$4 init=$5 conf=$6
shift 6
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || { echo "mk-initramfs: $busybox missing (Debian package busybox-static)" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
        { echo "mk-initramfs: $busybox is not statically linked: install busybox-static" >&2; exit 1; }
for f in "$dmabufd" "$scenario" "$guest_get" "$init" "$conf" "$@"; do
        [ -f "$f" ] || { echo "mk-initramfs: $f: no such file" >&2; exit 1; }
done
# A libtool wrapper script would not run in the guest.
head -c 4 "$dmabufd" | grep -q 'ELF' || { echo "mk-initramfs: $dmabufd is not an ELF binary" >&2; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/dmabufd-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
# mktemp -d makes 0700, which becomes the guest's / : a daemon run as another uid
# could then reach nothing, /sys/kernel/btf/vmlinux among it.
chmod 755 "$stage"
mkdir -p "$stage/bin" "$stage/sbin" "$stage/usr/sbin" "$stage/etc/dmabufd" "$stage/proc" "$stage/sys" \
        "$stage/dev" "$stage/tmp" "$stage/run" "$stage/var/lib/dmabufd"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
        [ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
done
cp "$dmabufd" "$stage/usr/sbin/dmabufd"
cp "$scenario" "$stage/bin/scenario"
cp "$guest_get" "$stage/bin/guest-get"
for f in "$@"; do
        cp "$f" "$stage/bin/${f##*/}"
        chmod 755 "$stage/bin/${f##*/}"
done
cp "$init" "$stage/init"
# The inits' shared functions, from beside them.
cp "$(dirname "$init")/guest-lib.sh" "$stage/bin/guest-lib.sh"
chmod 755 "$stage/init" "$stage/bin/scenario" "$stage/bin/guest-get" "$stage/usr/sbin/dmabufd"
cp "$conf" "$stage/etc/dmabufd/dmabufd.conf"
# Shared libraries at the paths the loader will look for them, and the loader.
ldd "$dmabufd" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]*ld-linux/ { print $1 }' | while read -r lib; do
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
done
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
