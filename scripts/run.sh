#!/bin/sh
# Quick start: install what is missing, build, and run dmabufd in the foreground.
# Arguments go to dmabufd, e.g. ./scripts/run.sh --root tests/fixtures/trees/linux-6.1
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" build
# build/ is test.sh's too: a reconfigure rewrites config.h, which holds the
# default paths, and make rebuilds every object that depends on it.
"$top/scripts/build.sh" "$top/build" --prefix=/usr --sysconfdir=/etc --localstatedir=/var
# The daemon creates /var/lib/dmabufd, but only root can; another user's
# snapshots go to a directory of their own, said here, unless -s says where.
case " $* " in
*" -s"* | *" --state-dir"*) ;;
*) if [ "$(id -u)" -ne 0 ] && [ ! -w /var/lib/dmabufd ]; then
        state=${XDG_STATE_HOME:-$HOME/.local/state}/dmabufd
        mkdir -p "$state"
        echo "run.sh: not root, so snapshots go to $state (-s DIR to choose)" >&2
        set -- --state-dir "$state" "$@"
fi ;;
esac
exec "$top/build/dmabufd" "$@"
