#!/bin/sh
# Configures and builds into a build directory (out of tree, so several can coexist).
#   build.sh DIR [configure options...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || autoreconf -fi >/dev/null
mkdir -p "$dir"
cd "$dir"
# Reconfigure when the options differ from the last run.
if [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$*" ]; then
        "$top/configure" "$@" >configure.out 2>&1 || { cat configure.out; exit 1; }
        echo "$*" >.configure-args
fi
make -j"$(nproc)" >make.out 2>&1 || { cat make.out; exit 1; }
