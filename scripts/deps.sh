#!/bin/sh
# Installs, with apt-get, whatever dmabufd needs that is not installed yet.
#   deps.sh build   what building needs (systemd for systemd.pc: where units go)
#   deps.sh test    that, plus what the tests run (curl, jq, promtool, prometheus, valgrind,
#                   systemd-journal-remote; systemd-analyze, systemd-socket-activate and
#                   journalctl come with systemd)
set -eu

build_pkgs="build-essential autoconf automake libtool pkg-config \
libmicrohttpd-dev libjson-c-dev libsystemd-dev libinih-dev libyajl-dev check systemd"
test_pkgs="curl jq prometheus valgrind systemd-journal-remote"

case "${1:-build}" in
build) want="$build_pkgs" ;;
test) want="$build_pkgs $test_pkgs" ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
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
