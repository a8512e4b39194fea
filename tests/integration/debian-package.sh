#!/bin/bash
# The Debian package, as `make check-deb` builds it (make deb: the release
# tarball unpacked in a directory of its own, dpkg-buildpackage -us -uc -b):
# lintian reports no error, its files are where the README and the units say,
# the conffile is a conffile, and dpkg really installs, removes and purges it
# in a scratch root (--root, with the maintainer scripts run outside a chroot:
# they honour DPKG_ROOT), where the postinst enables the service with
# deb-systemd-helper and the purge removes that again. Nothing is installed on
# this machine.
#   debian-package.sh PATH/dmabufd_VERSION_ARCH.changes
. "$(dirname "$0")/lib.sh"

CHANGES=${1:?usage: debian-package.sh PATH/TO/dmabufd_VERSION_ARCH.changes}
[ -f "$CHANGES" ] || fail "$CHANGES does not exist (make deb makes it)"
DIR=$(cd "$(dirname "$CHANGES")" && pwd)
DEB=$(ls "$DIR"/dmabufd_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
[ -n "$DEB" ] || fail "no dmabufd_*.deb next to $CHANGES"
pass "the package was built: $(basename "$DEB") ($(stat -c %s "$DEB") bytes)"
for p in dpkg dpkg-deb deb-systemd-helper lintian; do
        command -v "$p" >/dev/null || fail "$p is not installed (./scripts/deps.sh test)"
done

# ---- lintian ----
out=$(lintian --fail-on error --tag-display-limit 0 "$CHANGES" 2>&1)
rc=$?
if [ $rc = 0 ] && ! grep -q '^E: ' <<<"$out"; then
        pass "lintian reports no error ($(grep -c '^W: ' <<<"$out") warnings, $(grep -c '^I: ' <<<"$out") notes)"
else
        failc "lintian reports no error" "exit $rc" "$(grep '^E: ' <<<"$out")"
fi
[ -z "$out" ] || note "lintian: $(tr '\n' ';' <<<"$out")"

# ---- the control fields ----
field() { dpkg-deb -f "$DEB" "$1"; }
check "Package: dmabufd" test "$(field Package)" = dmabufd
deps=$(field Depends)
for lib in libc6 libsystemd0 libmicrohttpd12 libjson-c5 libinih1 libbpf1; do
        if grep -q -E "(^|, )$lib( |,|$)" <<<"$deps"; then
                pass "Depends names $lib (shlibs)"
        else
                failc "Depends names $lib (shlibs)" "Depends: $deps"
        fi
done

# ---- the file list ----
LIST="$TMP/files"
dpkg-deb -c "$DEB" | awk '{ p = $6; for (i = 7; i <= NF; i++) p = p " " $i; sub(/^\./, "", p); print p }' >"$LIST"
has() { # PATH: the package ships it
        if grep -q -x -F "$1" "$LIST"; then pass "ships $1"; else failc "ships $1"; fi
}
for f in /usr/sbin/dmabufd /lib/systemd/system/dmabufd.service /lib/systemd/system/dmabufd.socket \
        /etc/dmabufd/dmabufd.conf /usr/share/man/man8/dmabufd.8.gz /usr/share/man/man5/dmabufd.conf.5.gz \
        /usr/lib/systemd/catalog/dmabufd.catalog /usr/share/doc/dmabufd/copyright \
        /usr/share/doc/dmabufd/changelog.gz /usr/share/doc/dmabufd/README.md.gz \
        /usr/share/doc/dmabufd/examples/prometheus/prometheus.yml \
        /usr/share/doc/dmabufd/examples/prometheus/dmabufd-rules.yml \
        /usr/share/doc/dmabufd/examples/prometheus/dmabufd-rules.test.yml \
        /usr/share/doc/dmabufd/examples/prometheus/fleet/prometheus.yml \
        /usr/share/doc/dmabufd/examples/prometheus/fleet/targets.yml \
        /usr/share/doc/dmabufd/examples/prometheus/fleet/fleet-rules.yml \
        /usr/share/doc/dmabufd/examples/grafana/dmabufd.json \
        /etc/init.d/dmabufd /usr/libexec/dmabufd/dmabufd-push \
        /usr/share/doc/dmabufd/examples/prometheus/fleet/fleet-rules.test.yml; do
        has "$f"
done
# The Grafana dashboards, when the source tree has any.
n=0
for g in "$top_srcdir"/etc/grafana/*.json; do
        [ -e "$g" ] || continue
        n=$((n + 1))
        has "/usr/share/doc/dmabufd/examples/grafana/${g##*/}"
done
[ $n -gt 0 ] || note "no etc/grafana/*.json in the source tree: no dashboard to look for"
# Nothing from a build tree or the test suite, and no state directory: systemd
# makes /var/lib/dmabufd (StateDirectory=, DynamicUser=).
bad=$(grep -E '^/(usr/local|var|tmp|home|root)/|/tests?/|\.(o|la|a)$' "$LIST")
check "ships nothing under /usr/local, /var, /tmp, nor tests or objects" test -z "$bad"
# The unit runs the binary the package ships.
UNIT="$TMP/unit"
mkdir -p "$UNIT"
dpkg-deb -x "$DEB" "$UNIT" || fail "dpkg-deb -x failed"
check "dmabufd.service runs /usr/sbin/dmabufd" grep -q -x 'ExecStart=/usr/sbin/dmabufd' "$UNIT/lib/systemd/system/dmabufd.service"
check "the shipped dmabufd.conf is the source tree's etc/dmabufd.conf" cmp "$top_srcdir/etc/dmabufd.conf" "$UNIT/etc/dmabufd/dmabufd.conf"
out=$("$UNIT/usr/sbin/dmabufd" --version 2>&1)
check "the packaged binary runs: $out" grep -q "$(field Version)" <<<"$out"
# Its defaults are the package's paths: --help shows the config file and state
# directory it uses when none is given.
help=$("$UNIT/usr/sbin/dmabufd" --help 2>&1)
check "the packaged binary's default config is /etc/dmabufd/dmabufd.conf" grep -q '/etc/dmabufd/dmabufd.conf' <<<"$help"
check "the packaged binary's default state directory is /var/lib/dmabufd" grep -q '/var/lib/dmabufd' <<<"$help"
if [ -x "$UNIT/usr/sbin/dmabufd" ] && "$UNIT/usr/sbin/dmabufd" dump --root "$(tree linux-6.1)" --format json >"$TMP/dump.json" 2>"$TMP/dump.err"; then
        want=$(jq -r '.totals.bytes' "$(expected linux-6.1)")
        got=$(jq -r '.totals.bytes' "$TMP/dump.json")
        check "the packaged binary's dump of linux-6.1 totals $want bytes" test "$got" = "$want"
else
        failc "the packaged binary runs dump --root linux-6.1" "$(head -c 600 "$TMP/dump.err")"
fi

# ---- the maintainer scripts ----
CTRL="$TMP/control"
dpkg-deb -e "$DEB" "$CTRL" || fail "dpkg-deb -e failed"
check "conffiles lists /etc/dmabufd/dmabufd.conf" grep -q -x /etc/dmabufd/dmabufd.conf "$CTRL/conffiles"
check "postinst enables dmabufd.service with deb-systemd-helper" \
        grep -q "deb-systemd-helper enable 'dmabufd.service'" "$CTRL/postinst"
check "postinst starts dmabufd.service (deb-systemd-invoke)" \
        grep -q -E "deb-systemd-invoke .*'dmabufd.service'" "$CTRL/postinst"
# The socket's part is debhelper's --no-enable template: it is enabled again
# only where the administrator had enabled it, and never started.
check "postinst enables dmabufd.socket only where it was enabled before (--no-enable)" \
        grep -q "deb-systemd-helper debian-installed 'dmabufd.socket'" "$CTRL/postinst"
if grep -q -E "deb-systemd-invoke .*'dmabufd.socket'" "$CTRL/postinst"; then
        failc "postinst never starts dmabufd.socket" "$(grep -n "deb-systemd-invoke" "$CTRL/postinst")"
else
        pass "postinst never starts dmabufd.socket"
fi
check "prerm stops dmabufd.service on removal" grep -q -E "deb-systemd-invoke stop .*'dmabufd.service'" "$CTRL/prerm"
for u in dmabufd.service dmabufd.socket; do
        check "postrm purges $u's state with deb-systemd-helper" grep -q "deb-systemd-helper purge .*'$u'" "$CTRL/postrm"
done
check "postinst registers the LSB init script with update-rc.d" grep -q "update-rc.d dmabufd defaults" "$CTRL/postinst"
check "postrm removes the init script's links on purge (update-rc.d remove)" grep -q "update-rc.d dmabufd remove" "$CTRL/postrm"
for s in postinst prerm postrm; do
        check "$s is valid sh (sh -n)" sh -n "$CTRL/$s"
done

# ---- dpkg, for real, in a scratch root ----
# The maintainer scripts call systemctl and deb-systemd-invoke only when
# /run/systemd/system exists (systemd is PID 1). Where it does, they run in a
# mount namespace with an empty /run/systemd, so they cannot reach this
# machine's systemd; that needs root, and without it this part is skipped.
R="$TMP/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
DPKG=(dpkg --root="$R" --force-script-chrootless --force-depends --force-not-root --log=/dev/null)
rundpkg() {
        if [ -d /run/systemd/system ]; then
                unshare -m sh -c 'mount -t tmpfs tmpfs /run/systemd && exec "$@"' sh "${DPKG[@]}" "$@"
        else
                "${DPKG[@]}" "$@"
        fi
}
if [ -d /run/systemd/system ] && [ "$(id -u)" != 0 ]; then
        skip "dpkg installs, removes and purges the package in a scratch root" \
                "systemd runs this machine and hiding it from the maintainer scripts needs root"
        finish
fi
WANTS="$R/etc/systemd/system/multi-user.target.wants/dmabufd.service"
if out=$(rundpkg -i "$DEB" 2>&1); then
        pass "dpkg --root -i installs the package"
else
        failc "dpkg --root -i installs the package" "$out"
fi
check "dpkg lists it as installed" grep -q -x 'Status: install ok installed' \
        <(sed -n '/^Package: dmabufd$/,/^$/p' "$R/var/lib/dpkg/status")
check "dpkg records the conffile with its md5sum" grep -q -E '^ /etc/dmabufd/dmabufd.conf [0-9a-f]{32}$' "$R/var/lib/dpkg/status"
check "the binary is installed" test -x "$R/usr/sbin/dmabufd"
if [ -L "$WANTS" ] && [ "$(readlink "$WANTS")" = /lib/systemd/system/dmabufd.service ]; then
        pass "postinst enabled dmabufd.service in the scratch root (multi-user.target.wants)"
else
        failc "postinst enabled dmabufd.service in the scratch root (multi-user.target.wants)" \
                "$(find "$R/etc/systemd" -ls 2>&1 | head -n 10)"
fi
check "deb-systemd-helper recorded the enablement" test -e "$R/var/lib/systemd/deb-systemd-helper-enabled/dmabufd.service.dsh-also"
if [ -e "$R/etc/systemd/system/sockets.target.wants/dmabufd.socket" ]; then
        failc "dmabufd.socket is not enabled"
else
        pass "dmabufd.socket is not enabled"
fi
# A changed conffile survives removal; purge removes it and the enablement.
echo '# changed by the administrator' >>"$R/etc/dmabufd/dmabufd.conf"
if out=$(rundpkg -r dmabufd 2>&1); then pass "dpkg --root -r removes it"; else failc "dpkg --root -r removes it" "$out"; fi
check "removal removes the binary" test ! -e "$R/usr/sbin/dmabufd"
check "removal keeps the changed conffile" grep -q 'changed by the administrator' "$R/etc/dmabufd/dmabufd.conf"
if out=$(rundpkg -P dmabufd 2>&1); then pass "dpkg --root -P purges it"; else failc "dpkg --root -P purges it" "$out"; fi
check "purge removes the conffile" test ! -e "$R/etc/dmabufd/dmabufd.conf"
check "purge removes the service's enablement (deb-systemd-helper purge)" test ! -e "$WANTS" -a ! -L "$WANTS"
check "purge removes deb-systemd-helper's state" test ! -e "$R/var/lib/systemd/deb-systemd-helper-enabled/dmabufd.service.dsh-also"
left=$(cd "$R" && find . -path ./var/lib/dpkg -prune -o -type f -print)
check "nothing but dpkg's database is left in the scratch root" test -z "$left"
finish
