#!/bin/bash
# One build directory, two layouts: scripts/test.sh configures build/ with the
# default prefix, scripts/run.sh with --prefix=/usr --sysconfdir=/etc
# --localstatedir=/var. A reconfigure changed the Makefile's -D flags, but make
# does not rebuild an object whose flags changed, so run.sh's daemon kept
# test.sh's /usr/local/var/lib/dmabufd. The paths now live in config.h, which
# config.status rewrites when it changes and every object depends on.
#
# This configures a scratch build directory with one prefix, compiles the
# object that holds the defaults, reconfigures it with another, runs make
# again and reads the paths in the object (about 15 s: two configure runs, one
# file compiled twice). It also checks this build's daemon against its own
# configuration.
. "$(dirname "$0")/lib.sh"

: "${top_srcdir:?top_srcdir must name the source tree}"
: "${top_builddir:?top_builddir must name the build tree}"
[ -x "$top_srcdir/configure" ] || fail "$top_srcdir/configure is missing"

# This build: the default config path that --help prints is the configured one.
sysconfdir=$(sed -n 's/^#define SYSCONFDIR "\(.*\)"$/\1/p' "$top_builddir/config.h")
localstatedir=$(sed -n 's/^#define LOCALSTATEDIR "\(.*\)"$/\1/p' "$top_builddir/config.h")
check "config.h defines SYSCONFDIR and LOCALSTATEDIR as absolute paths ($sysconfdir, $localstatedir)" \
        test "${sysconfdir#/}" != "$sysconfdir" -a "${localstatedir#/}" != "$localstatedir"
check "dmabufd --help names $sysconfdir/dmabufd/dmabufd.conf as the default" \
        grep -qF "(default $sysconfdir/dmabufd/dmabufd.conf)" <("$DMABUFD" --help 2>&1)

# conf_object DIR: the compiled object with the defaults (conf.c's --help and
# the key table), libtool's PIC copy or the plain one.
conf_object() {
        local o
        for o in "$1/daemon/.libs/conf.o" "$1/daemon/conf.o"; do
                [ -f "$o" ] && { echo "$o"; return 0; }
        done
        return 1
}

B="$TMP/build"
mkdir -p "$B"
configure_and_make() { # PREFIX...: configure $B with these options, then make conf.lo
        (cd "$B" && timeout 120 "$top_srcdir/configure" "$@" >configure.out 2>&1) ||
                { echo "configure $*: $(tail -n 20 "$B/configure.out")"; return 1; }
        timeout 120 make -C "$B" daemon/conf.lo >"$B/make.out" 2>&1 ||
                { echo "make daemon/conf.lo: $(tail -n 20 "$B/make.out")"; return 1; }
}

out=$(configure_and_make --prefix="$TMP/first") || fail "first configure: $out"
o=$(conf_object "$B") || fail "no daemon/conf.o after make daemon/conf.lo"
# has_string OBJECT STRING: STRING is one of OBJECT's NUL-terminated strings.
has_string() { tr '\0' '\n' <"$1" | grep -qxF "$2"; }
check "the first layout's object holds $TMP/first/var/lib/dmabufd" has_string "$o" "$TMP/first/var/lib/dmabufd"

# run.sh's shape of layout (its own paths are in the object's help text too,
# so this one is the test's), in the same directory.
S="$TMP/second"
out=$(configure_and_make --prefix="$S/usr" --sysconfdir="$S/etc" --localstatedir="$S/var") ||
        fail "second configure: $out"
o=$(conf_object "$B") || fail "no daemon/conf.o after the second make"
check "after reconfiguring with --localstatedir=$S/var the object holds $S/var/lib/dmabufd" \
        has_string "$o" "$S/var/lib/dmabufd"
check "... and no longer the first layout's paths" sh -c "! tr '\\0' '\\n' <'$o' | grep -qF '$TMP/first/'"

finish
