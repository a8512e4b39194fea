#!/bin/bash
# The library floors configure.ac asks for are the ones the code needs: the
# newest LIBSYSTEMD_<version> symbol the built daemon binds to must be exactly
# the version configure.ac requires (higher: the build would link against a
# libsystemd that lacks a function; lower: the floor overstates what is needed).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

configure_ac=${top_srcdir:-$(dirname "$0")/../..}/configure.ac
floor=$(sed -n 's/.*PKG_CHECK_MODULES(\[LIBSYSTEMD\], \[libsystemd >= \([0-9]*\)\]).*/\1/p' "$configure_ac")
check "configure.ac names a libsystemd floor" test -n "$floor"

if command -v objdump >/dev/null 2>&1; then
        objdump -T "$DMABUFD" >"$TMP/dynsyms" 2>"$TMP/objdump.err"
        newest=$(grep -o 'LIBSYSTEMD_[0-9]*' "$TMP/dynsyms" | sed 's/LIBSYSTEMD_//' | sort -n | tail -n 1)
        note "libsystemd: configure.ac asks for >= ${floor:-?}; the daemon's newest symbol is LIBSYSTEMD_${newest:-?}:" \
                "$(grep -w "LIBSYSTEMD_${newest:-x}" "$TMP/dynsyms" | awk '{ print $NF }' | tr '\n' ' ')"
        check "the daemon binds to libsystemd symbols at all" test -n "$newest"
        check "the floor is the newest version the daemon binds to" test "${newest:-x}" = "${floor:-y}"
else
        note "objdump (binutils) is missing: the floor is not checked"
        check "objdump is installed (binutils)" false
fi

finish
