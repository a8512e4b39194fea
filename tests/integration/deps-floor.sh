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

# The Debian package builds with the same: debian/control's Build-Depends name
# every package of scripts/deps.sh's build set (build-essential is implied),
# and each pkg-config floor of configure.ac on its -dev package, as the same
# version (an epoch aside: Debian's libbpf is 1:1.1.2).
top=${top_srcdir:-$(dirname "$0")/../..}
control="$top/debian/control"
if [ -f "$control" ]; then
        bd=$(awk '/^Build-Depends:/ { on = 1; sub(/^Build-Depends:/, ""); print; next }
                on && /^[^ \t]/ { on = 0 } on { print }' "$control" | tr ',' '\n' |
                sed 's/<[^>]*>//g; s/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^$')
        eval "$(sed -n '/^build_pkgs="/,/"$/p' "$top/scripts/deps.sh")"
        for p in ${build_pkgs:-}; do
                [ "$p" = build-essential ] && continue
                if grep -q -E "^$p( |$)" <<<"$bd"; then
                        pass "debian/control Build-Depends names $p (deps.sh build set)"
                else
                        failc "debian/control Build-Depends names $p (deps.sh build set)" "Build-Depends: $(paste -s -d ' ' <<<"$bd")"
                fi
        done
        check "deps.sh's build set was read" test -n "${build_pkgs:-}"
        # pkg-config module -> Debian package
        for m in libmicrohttpd:libmicrohttpd-dev json-c:libjson-c-dev libsystemd:libsystemd-dev \
                check:check libbpf:libbpf-dev; do
                mod=${m%%:*} deb=${m#*:}
                want=$(sed -n "s/.*PKG_CHECK_MODULES(\[[A-Z]*\], \[$mod >= \([0-9.]*\)\].*/\1/p" "$configure_ac")
                got=$(sed -n "s/^$deb (>= \([0-9]*:\)\{0,1\}\([0-9.]*\))\$/\2/p" <<<"$bd")
                if [ -n "$want" ] && [ "$got" = "$want" ]; then
                        pass "debian/control: $deb (>= $want), configure.ac's floor for $mod"
                else
                        failc "debian/control: $deb (>= ${want:-?}), configure.ac's floor for $mod" \
                                "configure.ac: '$want'; debian/control: '$(grep "^$deb" <<<"$bd")'"
                fi
        done
else
        failc "debian/control exists" "$control is missing"
fi

finish
