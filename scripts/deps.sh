#!/bin/sh
# Installs, with apt-get, whatever dmabufd needs that is not installed yet.
#   deps.sh build   what building needs (systemd for systemd.pc: where units go)
#   deps.sh test    that, plus what the tests run (curl, jq, promtool, prometheus, valgrind,
#                   systemd-journal-remote; systemd-analyze, systemd-socket-activate and
#                   journalctl come with systemd; procps for ps and for the unit's
#                   ExecReload=/bin/kill, which `systemd-analyze verify` checks; libFuzzer
#                   for the fuzzers; chromium, headless, for the web page's test;
#                   debhelper and lintian for make check-deb), and what tests/kernel needs
#   deps.sh kernel  what building kernels and booting them under QEMU needs
set -eu

build_pkgs="build-essential autoconf automake libtool pkg-config \
libmicrohttpd-dev libjson-c-dev libsystemd-dev libinih-dev check systemd \
clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcurl4-openssl-dev"
# Debian's minbase (a container image) has only the Essential and Priority:
# required packages: coreutils, util-linux (setpriv, unshare, flock), mawk,
# diffutils, findutils, grep, sed, tar, gzip. Everything else is named here.
# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes of Debian 12's clang (14),
# for the fuzz build (./configure CC=clang --enable-fuzzers; clang only recommends it).
# chromium: tests/integration/web.sh drives the page in it, headless.
# debhelper and lintian: make check-deb (the Debian package, built with
# dpkg-buildpackage from dpkg-dev, which build-essential brings).
test_pkgs="curl jq prometheus valgrind systemd-journal-remote procps libclang-rt-14-dev chromium debhelper lintian"
# The real-kernel harness (tests/kernel): building Debian's kernels, and QEMU.
# file: mk-initramfs.sh checks that busybox is static.
kernel_pkgs="bison flex bc libelf-dev cpio busybox-static qemu-system-x86 xz-utils patch dwarves file"

case "${1:-build}" in
build) want="$build_pkgs" ;;
test) want="$build_pkgs $test_pkgs $kernel_pkgs" ;;
kernel) want="$build_pkgs $kernel_pkgs" ;;
*) echo "usage: $0 build|test|kernel" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
