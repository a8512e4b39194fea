#!/bin/bash
# The config key table (daemon/dmabufd-config.c) against what documents it: the
# checked-in etc/dmabufd.conf is exactly what the table prints; man/dmabufd.conf.5
# has every key as an entry of its OPTIONS; README.md's configuration table has a
# row for every key, with the default of every one-valued key; --help shows the
# defaults of the options that set a key. The doc checks are also run on docs
# with a key taken out, and must then fail.
. "$(dirname "$0")/lib.sh"

: "${top_srcdir:?top_srcdir must name the source tree}"
: "${top_builddir:?top_builddir must name the build tree}"
GEN="$top_builddir/tests/helpers/dmabufd-conf-gen"
CONF="$top_srcdir/etc/dmabufd.conf"
MAN="$top_srcdir/man/dmabufd.conf.5"
README="$top_srcdir/README.md"

[ -x "$GEN" ] || fail "$GEN is not built (make check builds it)"

# ---- the shipped file ----
"$GEN" >"$TMP/dmabufd.conf" || fail "$GEN failed"
if diff -u "$CONF" "$TMP/dmabufd.conf" >"$TMP/conf.diff"; then
        pass "etc/dmabufd.conf is what the key table prints"
else
        failc "etc/dmabufd.conf differs from what the key table prints (make update-conf rewrites it)" \
                "$(cat "$TMP/conf.diff")"
fi

"$GEN" --keys >"$TMP/keys" || fail "$GEN --keys failed"
n_keys=$(wc -l <"$TMP/keys")
[ "$n_keys" -ge 20 ] || fail "$GEN --keys printed $n_keys keys, expected at least 20"
for key in listen interval cooldown_psi journal_match; do
        grep -q "^$key\b" "$TMP/keys" || fail "$GEN --keys does not list $key"
done
pass "the key table has $n_keys keys"

# man_keys MAN: the first word of every tag (the line after .TP or .TQ) in OPTIONS.
man_keys() {
        awk '/^\.SH / { in_options = ($2 == "OPTIONS") }
             in_options && tag && /^\.B[IR]? / { print $2 }
             { tag = ($0 == ".TP" || $0 == ".TQ") }' "$1"
}

# readme_rows README: "KEY<TAB>DEFAULT CELL" for each `KEY` in the first cell of a
# table row in the "## Configuration" section.
readme_rows() {
        awk -F'|' '/^## / { in_config = ($0 == "## Configuration") }
                   in_config && /^\|/ {
                        cell = $2
                        while (match(cell, /`[a-z_]+`/)) {
                                print substr(cell, RSTART + 1, RLENGTH - 2) "\t" $3
                                cell = substr(cell, RSTART + RLENGTH)
                        }
                   }' "$1"
}

# problems MAN README: one line for every key either leaves out.
problems() {
        local man=$1 readme=$2 key dflt cell
        man_keys "$man" >"$TMP/man-keys"
        readme_rows "$readme" >"$TMP/readme-rows"
        while IFS=$'\t' read -r key dflt; do
                grep -qxF "$key" "$TMP/man-keys" || echo "$man has no entry for $key"
                cell=$(awk -F'\t' -v k="$key" '$1 == k { print $2; exit }' "$TMP/readme-rows")
                if ! grep -qx -F "$key" <(cut -f1 "$TMP/readme-rows"); then
                        echo "$readme's configuration table has no row for $key"
                elif [ -n "$dflt" ] && [[ "$cell" != *"\`$dflt\`"* ]]; then
                        echo "$readme gives $key the default '$cell', not \`$dflt\`"
                fi
        done <"$TMP/keys"
}

out=$(problems "$MAN" "$README")
if [ -z "$out" ]; then
        pass "man/dmabufd.conf.5 and README.md document every key, README.md with its default"
else
        failc "man/dmabufd.conf.5 and README.md document every key, README.md with its default" "$out"
fi

# ---- --help: the options that set a key show the table's default ----
"$DMABUFD" --help >"$TMP/help" || fail "dmabufd --help failed"
for key in interval log_level; do
        dflt=$(awk -F'\t' -v k="$key" '$1 == k { print $2 }' "$TMP/keys")
        option=--${key//_/-}
        if grep -q -e "$option .*(default $dflt)" "$TMP/help"; then
                pass "--help shows $option's default, $dflt"
        else
                failc "--help shows $option's default, $dflt" "$(cat "$TMP/help")"
        fi
done

# ---- the checks themselves catch a key left out ----
grep -v '^\.BI cooldown_psi ' "$MAN" >"$TMP/man-without"
sed -e 's/^| `top_names` |/| top names |/' -e 's/^| `interval` | `10` |/| `interval` | `1` |/' \
        "$README" >"$TMP/readme-without"
out=$(problems "$TMP/man-without" "$TMP/readme-without")
if grep -q 'no entry for cooldown_psi' <<<"$out" && grep -q 'no row for top_names' <<<"$out" &&
        grep -q 'gives interval the default' <<<"$out"; then
        pass "a man page without cooldown_psi and a README without top_names and with interval's default wrong are caught"
else
        failc "a man page without cooldown_psi and a README without top_names and with interval's default wrong are caught" "$out"
fi

finish
