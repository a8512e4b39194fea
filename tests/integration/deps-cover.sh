#!/bin/bash
# scripts/deps.sh installs every program the tests and the unit run that a
# minimal Debian (debootstrap minbase, as a container image is) lacks: each one's
# Debian package is Essential or Priority: required (minbase has those), or is
# named in deps.sh. A minbase root once failed systemd.sh because nothing
# installed procps, whose /bin/kill the unit's ExecReload= runs.
. "$(dirname "$0")/lib.sh"

: "${top_srcdir:?top_srcdir must name the source tree}"
command -v dpkg-query >/dev/null || fail "dpkg-query is missing: this check needs Debian's package database"
DEPS="$top_srcdir/scripts/deps.sh"
UNIT="$top_srcdir/systemd/dmabufd.service.in"

# The packages `deps.sh test` installs, one a line.
eval "$(sed -n '/^[a-z]*_pkgs="/,/"$/p' "$DEPS")"
named=$(printf '%s\n' ${build_pkgs:-} ${test_pkgs:-} ${kernel_pkgs:-} | sort -u)
check "deps.sh names packages (found $(grep -c . <<<"$named"))" test "$(grep -c . <<<"$named")" -ge 20
# And what those pull in (build-essential brings make and gcc, clang brings
# clang-14): the installed dependencies, four levels down.
pulled=$named
level=$named
for ((i = 0; i < 4; i++)); do
        # shellcheck disable=SC2086 # one package name a word
        level=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}\n' $level 2>/dev/null | tr ',|' '\n\n' |
                sed 's/([^)]*)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' | sort -u | comm -23 - <(printf '%s\n' "$pulled"))
        [ -n "$level" ] || break
        pulled=$(printf '%s\n%s\n' "$pulled" "$level" | sort -u)
done
check "deps.sh test installs the test and kernel lists too" grep -q 'test) want="$build_pkgs $test_pkgs $kernel_pkgs"' "$DEPS"

# covered PROGRAM-PATH WHO: its package is in minbase or in deps.sh.
covered() {
        local path=$1 who=$2 pkg prio
        pkg=$(dpkg-query -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
        # usrmerge: dpkg knows /bin/x by the name the package ships.
        [ -n "$pkg" ] || pkg=$(dpkg-query -S "${path#/usr}" 2>/dev/null | head -n 1 | cut -d: -f1)
        if [ -z "$pkg" ]; then
                failc "$who: $path belongs to a Debian package" "dpkg-query -S found none"
                return
        fi
        pkg=${pkg%%,*}
        prio=$(dpkg-query -W -f='${Priority} ${Essential}' "$pkg" 2>/dev/null)
        case "$prio" in
        "required "* | *" yes")
                pass "$who: $path is in minbase ($pkg, $prio)" ;;
        *)
                if grep -qxF "$pkg" <<<"$named"; then
                        pass "$who: $path comes from $pkg, which deps.sh installs"
                elif grep -qxF "$pkg" <<<"$pulled"; then
                        pass "$who: $path comes from $pkg, which a package deps.sh installs depends on"
                else
                        failc "$who: $path comes from $pkg ($prio), which deps.sh does not install"
                fi ;;
        esac
}

# The unit's own commands (ExecStart is dmabufd itself).
n=0
while read -r path; do
        n=$((n + 1))
        covered "$path" "dmabufd.service"
done < <(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ @]*\).*/\1/p' "$UNIT")
check "the unit names a command besides dmabufd ($n found)" test "$n" -ge 1

# What the tests run (integration, kernel harness, scripts). Shell builtins
# (kill, printf, test) are not listed; /bin/kill is the unit's, above.
for prog in curl jq promtool prometheus valgrind systemd-analyze systemd-socket-activate journalctl \
        ps setpriv unshare timeout mkfifo objdump awk od diff paste stat sha256sum flock nproc \
        make autoreconf pkg-config gcc clang bpftool cpio gzip base64 file qemu-system-x86_64 \
        pahole bison flex bc patch xz start-stop-daemon dpkg-buildpackage dpkg-deb dh lintian deb-systemd-helper; do
        path=$(command -v "$prog") || { failc "$prog is installed (run ./scripts/deps.sh test)"; continue; }
        covered "$(readlink -f "$path")" "the tests' $prog"
done
for path in /lib/systemd/systemd-journal-remote /bin/busybox; do
        covered "$path" "the tests' ${path##*/}"
done

finish
