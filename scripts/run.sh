#!/bin/sh
# Quick start: install what is missing, build, and run dmabufd in the foreground.
# Arguments go to dmabufd, e.g. ./scripts/run.sh --root tests/fixtures/trees/linux-6.1
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" build
"$top/scripts/build.sh" "$top/build" --prefix=/usr --sysconfdir=/etc --localstatedir=/var
exec "$top/build/dmabufd" "$@"
