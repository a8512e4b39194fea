#!/bin/bash
# Command line: --version/--help, one-line errors with the right exit status for
# bad options, bad config files and a busy port, and `dmabufd dump` on every
# fixture tree in every format.
. "$(dirname "$0")/lib.sh"

# Runs a command that is bounded by a timeout; sets RC, OUT, ERR (files).
run() {
        OUT="$TMP/run.out"
        ERR="$TMP/run.err"
        timeout -k 2 "${RUN_TIMEOUT:-15}" "$@" </dev/null >"$OUT" 2>"$ERR"
        RC=$?
}

# expect_err DESC RCS NEEDLES CMD...: the command exits with one of RCS
# (space-separated) and prints exactly one line on stderr containing every one
# of NEEDLES ('|'-separated).
expect_err() {
        local desc=$1 rcs=$2 needles=() n ok=1 why=()
        IFS='|' read -r -a needles <<<"$3"
        shift 3
        run "$@"
        case " $rcs " in
        *" $RC "*) ;;
        *)
                ok=0
                why+=("exit status $RC, expected $(echo "$rcs" | sed 's/ / or /g')")
                ;;
        esac
        local lines
        lines=$(wc -l <"$ERR")
        # a last line without a newline still counts as a line
        [ -s "$ERR" ] && [ "$(tail -c 1 "$ERR" | od -An -c | tr -d ' ')" != '\n' ] && lines=$((lines + 1))
        if [ "$lines" -ne 1 ]; then
                ok=0
                why+=("stderr has $lines lines, expected exactly 1")
        fi
        for n in "${needles[@]}"; do
                grep -a -q -F -e "$n" "$ERR" || {
                        ok=0
                        why+=("stderr does not name '$n'")
                }
        done
        if [ $ok = 1 ]; then
                pass "$desc: exit $RC, one stderr line naming ${needles[*]}: $(head -c 200 "$ERR")"
        else
                failc "$desc" "${why[@]}" "command: $*" "stderr: $(head -c 1000 "$ERR")"
        fi
}

D=("$DMABUFD" --config /dev/null --listen 127.0.0.1:0 --state-dir "$TMP/state")
mkdir -p "$TMP/state"

# ---- --version, --help ----
version=
if [ -n "${top_srcdir:-}" ] && [ -f "$top_srcdir/configure.ac" ]; then
        version=$(sed -n 's/^AC_INIT(\[dmabufd\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
fi
run "$DMABUFD" --version
if [ $RC = 0 ] && grep -q dmabufd "$OUT" && { [ -z "$version" ] || grep -q -F "$version" "$OUT"; }; then
        pass "--version exits 0 and prints 'dmabufd ${version}': $(head -n 1 "$OUT")"
else
        failc "--version exits 0 and prints 'dmabufd ${version}'" "exit $RC" "stdout: $(head -c 300 "$OUT")" "stderr: $(head -c 300 "$ERR")"
fi
run "$DMABUFD" --help
if [ $RC = 0 ] && grep -q -e --listen "$OUT" && grep -q -e --root "$OUT" && grep -q dump "$OUT"; then
        pass "--help exits 0 and documents --listen, --root and dump on stdout"
else
        failc "--help exits 0 and documents --listen, --root and dump on stdout" "exit $RC" "stdout: $(head -c 300 "$OUT")" "stderr: $(head -c 300 "$ERR")"
fi

# ---- bad command lines ----
expect_err "--root /nonexistent/x" 2 /nonexistent/x "${D[@]}" --root /nonexistent/x
expect_err "dump --root /nonexistent/x" 2 /nonexistent/x "$DMABUFD" dump --root /nonexistent/x
expect_err "unknown option --bogus-option" 2 bogus-option "${D[@]}" --bogus-option
expect_err "dump with unknown option --bogus-option" 2 bogus-option "$DMABUFD" dump --bogus-option
expect_err "--interval -1" 2 -1 "${D[@]}" --interval -1
expect_err "--interval abc" 2 abc "${D[@]}" --interval abc
expect_err "--log-level bogus" 2 bogus "${D[@]}" --log-level bogus
expect_err "dump --format bogus" 2 bogus "$DMABUFD" dump --format bogus
expect_err "dump with a non-numeric PID" 2 notapid "$DMABUFD" dump notapid
expect_err "dump --by bogus" 2 bogus "$DMABUFD" dump --by bogus
expect_err "dump --by cgroup -a" 2 -a "$DMABUFD" dump --by cgroup -a
expect_err "dump --by cgroup with a PID" 2 PID "$DMABUFD" dump --by cgroup 1
for l in nope 127.0.0.1:99999 '[::1' ''; do
        expect_err "--listen '$l'" 2 "${l:-listen}" "$DMABUFD" --config /dev/null --state-dir "$TMP/state" --listen "$l"
done
# Five dotted parts are no address; a resolver may be asked first, so a runtime
# failure (1) is as good as a usage error (2).
expect_err "--listen '1.2.3.4.5:80'" "1 2" 1.2.3.4.5 "$DMABUFD" --config /dev/null --state-dir "$TMP/state" --listen 1.2.3.4.5:80

# ---- config files ----
expect_err "--config of a missing file" "1 2" "$TMP/missing.conf" \
        "$DMABUFD" --config "$TMP/missing.conf" --listen 127.0.0.1:0 --state-dir "$TMP/state"

conf="$TMP/unknown.conf"
printf '# a comment\ninterval = 1\nbogus_key = 5\n' >"$conf"
expect_err "config with an unknown key on line 3" "1 2" "$conf:3|bogus_key" \
        "$DMABUFD" --config "$conf" --listen 127.0.0.1:0 --state-dir "$TMP/state"

conf="$TMP/interval.conf"
printf '# a comment\ninterval = -1\n' >"$conf"
expect_err "config with 'interval = -1' on line 2" "1 2" "$conf:2|-1" \
        "$DMABUFD" --config "$conf" --listen 127.0.0.1:0 --state-dir "$TMP/state"

conf="$TMP/top.conf"
printf '# a comment\ntop_processes = abc\n' >"$conf"
expect_err "config with 'top_processes = abc' on line 2" "1 2" "$conf:2|abc" \
        "$DMABUFD" --config "$conf" --listen 127.0.0.1:0 --state-dir "$TMP/state"

conf="$TMP/listen.conf"
printf '\n# listen below\nlisten = nope\n' >"$conf"
expect_err "config with 'listen = nope' on line 3" "1 2" "$conf:3|nope" \
        "$DMABUFD" --config "$conf" --state-dir "$TMP/state"

# Event and snapshot keys: each bad value is named with file and line.
bad_key() { # LINE DESCRIPTION NEEDLE
        conf="$TMP/bad-$RANDOM.conf"
        printf '# dmabufd\n%s\n' "$1" >"$conf"
        expect_err "config with '$1'" "1 2" "$conf:2|$3" \
                "$DMABUFD" --config "$conf" --listen 127.0.0.1:0 --state-dir "$TMP/state"
}
bad_key "psi_trigger = some 10ms 100ms" "window below the kernel's floor" "100ms"
bad_key "psi_trigger = sometimes 1ms 1s" "neither some nor full" "sometimes"
bad_key "cgroup = ../escape" "a path leaving the cgroup mount" "../escape"
bad_key "cooldown_bogus = 5" "an unknown event kind" "cooldown_bogus"
bad_key "cooldown_psi = -1" "a negative cooldown" "-1"
bad_key "snapshot_max_bytes = 12Q" "a size with an unknown unit" "12Q"
bad_key "snapshot_max_count = 0" "no room at all" "snapshot_max_count"
bad_key "snapshot_post = everyone" "neither loopback nor any" "everyone"
bad_key "kmsg = maybe" "not a boolean" "maybe"

udir=$(mktemp -d "$TMP/unreadable.XXXXXX")
chmod 755 "$udir"
chmod 711 "$TMP" # nobody may traverse it, so only the file mode is in the way
conf="$udir/unreadable.conf"
printf 'interval = 1\n' >"$conf"
chmod 000 "$conf"
if [ "$(id -u)" != 0 ]; then
        expect_err "unreadable config file (mode 000)" "1 2" "$conf" \
                "$DMABUFD" --config "$conf" --listen 127.0.0.1:0 --state-dir "$TMP/state"
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$DMABUFD" 2>/dev/null; then
        # root reads anything: drop to nobody for this one
        expect_err "unreadable config file (mode 000), run as uid 65534" "1 2" "$conf" \
                setpriv --reuid=65534 --regid=65534 --clear-groups \
                "$DMABUFD" --config "$conf" --listen 127.0.0.1:0 --state-dir "$udir"
else
        skip "unreadable config file (mode 000)" "running as root without setpriv(1): a mode 000 file is still readable"
fi
expect_err "--config naming a directory" "1 2" "$udir" \
        "$DMABUFD" --config "$udir" --listen 127.0.0.1:0 --state-dir "$TMP/state"

# ---- port already in use ----
require_tree linux-6.1
start_daemon --root "$(tree linux-6.1)"
expect_err "second daemon on the busy port 127.0.0.1:$PORT" 1 "127.0.0.1:$PORT" \
        "$DMABUFD" --config /dev/null --state-dir "$TMP/state" --root "$(tree linux-6.1)" --listen "127.0.0.1:$PORT"
if kill -0 "$DAEMON_PID" 2>/dev/null; then
        pass "first daemon still runs after the second one failed"
else
        failc "first daemon still runs after the second one failed"
fi
stop_daemon
if [ "$DAEMON_RC" = 0 ]; then
        pass "daemon exits 0 on SIGTERM"
else
        failc "daemon exits 0 on SIGTERM" "exit status $DAEMON_RC" "stderr: $(head -c 1000 "$DAEMON_ERR")"
fi

# ---- dump on every fixture tree ----
cases=$(list_cases)
[ -n "$cases" ] || fail "no fixture trees with expected JSON under $TREES"
for c in $cases; do
        T=$(tree "$c")
        E=$(expected "$c")
        jq -e . "$E" >/dev/null 2>&1 || { failc "$c: $E is valid JSON"; continue; }
        pids=$(jq -r '.processes[]?.pid' "$E")

        run "$DMABUFD" dump --root "$T"
        if [ $RC = 0 ]; then
                pass "$c: dump (table) exits 0"
        else
                failc "$c: dump (table) exits 0" "exit $RC" "stderr: $(head -c 1000 "$ERR")"
        fi
        [ -s "$ERR" ] && note "$c: dump stderr: $(head -c 300 "$ERR" | tr '\n' '|')"
        missing=
        for p in $pids; do grep -a -q -w -e "$p" "$OUT" || missing="$missing $p"; done
        if [ -z "$missing" ]; then
                pass "$c: dump table mentions every holding pid ($(echo $pids))"
        else
                failc "$c: dump table mentions every holding pid" "missing:$missing" "table: $(head -c 1500 "$OUT")"
        fi

        run "$DMABUFD" dump --root "$T" --format json
        cp "$OUT" "$TMP/$c.json"
        if [ $RC = 0 ] && jq -e 'type == "object"' "$TMP/$c.json" >/dev/null 2>&1; then
                pass "$c: dump --format json exits 0 with a JSON object"
                if out=$(expected_state_subset "$c" "$TMP/$c.json"); then
                        pass "$c: dump --format json matches $(basename "$E")"
                else
                        failc "$c: dump --format json matches $(basename "$E")" "$out"
                fi
        else
                failc "$c: dump --format json exits 0 with a JSON object" "exit $RC" "stdout: $(head -c 500 "$OUT")" "stderr: $(head -c 500 "$ERR")"
        fi

        run "$DMABUFD" dump --root "$T" --format prom
        cp "$OUT" "$TMP/$c.prom"
        if [ $RC = 0 ] && [ -s "$TMP/$c.prom" ]; then
                pass "$c: dump --format prom exits 0"
                lint=$(promtool check metrics <"$TMP/$c.prom" 2>&1)
                lrc=$?
                if [ $lrc = 0 ] && [ -z "$lint" ]; then
                        pass "$c: promtool check metrics accepts dump --format prom silently"
                else
                        failc "$c: promtool check metrics accepts dump --format prom silently" "promtool exit $lrc" "$lint"
                fi
                check_totals_metrics "$c" "$TMP/$c.prom"
        else
                failc "$c: dump --format prom exits 0" "exit $RC" "stderr: $(head -c 500 "$ERR")"
        fi

        # --by cgroup: the table names every cgroup of the oracle (plain ones: others are
        # shown escaped), the JSON is the oracle's cgroups array, and the series lint.
        if jq -e 'has("cgroups")' "$E" >/dev/null; then
                run "$DMABUFD" dump --root "$T" --by cgroup
                missing=
                for g in $(jq -r '.cgroups[].path // empty | select(test("^[A-Za-z0-9/@._-]+$"))' "$E"); do
                        grep -a -q -F -e " $g" "$OUT" || missing="$missing $g"
                done
                if [ $RC = 0 ] && [ -z "$missing" ]; then
                        pass "$c: dump --by cgroup lists every cgroup"
                else
                        failc "$c: dump --by cgroup lists every cgroup" "exit $RC" "missing:$missing" "table: $(head -c 1500 "$OUT")"
                fi
                run "$DMABUFD" dump --root "$T" --by cgroup --format json
                if [ $RC = 0 ] && jq -e --slurpfile e "$E" '. == $e[0].cgroups' "$OUT" >/dev/null; then
                        pass "$c: dump --by cgroup --format json is the oracle's cgroups"
                else
                        failc "$c: dump --by cgroup --format json is the oracle's cgroups" "exit $RC" "$(head -c 800 "$OUT")"
                fi
                run "$DMABUFD" dump --root "$T" --by cgroup --format prom
                lint=$(promtool check metrics <"$OUT" 2>&1)
                if [ $RC = 0 ] && [ -z "$lint" ] &&
                   [ "$(grep -c '^dmabuf_cgroup_pss_bytes{' "$OUT")" = "$(jq '[.cgroups[] | select(.pss_bytes != null)] | length' "$E")" ]; then
                        pass "$c: dump --by cgroup --format prom: one pss series per cgroup, promtool accepts it"
                else
                        failc "$c: dump --by cgroup --format prom: one pss series per cgroup, promtool accepts it" "exit $RC" "$lint" "$(head -c 800 "$OUT")"
                fi
        fi

        for opt in -a -b; do
                run "$DMABUFD" dump --root "$T" "$opt"
                if [ $RC = 0 ] && [ -s "$OUT" ]; then
                        pass "$c: dump $opt exits 0 and prints a table"
                else
                        failc "$c: dump $opt exits 0 and prints a table" "exit $RC" "stdout: $(head -c 300 "$OUT")" "stderr: $(head -c 500 "$ERR")"
                fi
        done

        # -b lists every attachment of the oracle with its map counter, '?' where the
        # kernel keeps none (bufinfo). Devices with unusual bytes are left to the JSON.
        att=$(jq -r '.buffers[] | . as $b
                | (.attachment_stats // ((.attachments // []) | map({device: ., map_counter: null})))[]
                | select(.device | test("^[A-Za-z0-9:._-]+$"))
                | "\($b.inode) \(.device) \(.map_counter // "?")"' "$E")
        if [ -n "$att" ]; then
                run "$DMABUFD" dump --root "$T" -b
                missing=
                while read -r ino dev maps; do
                        grep -a -q -F -x "$(printf '%16s |  %-32s|%10s' "$ino" "$dev" "$maps")" "$OUT" ||
                                missing="$missing $ino/$dev/$maps"
                done <<<"$att"
                if [ $RC = 0 ] && [ -z "$missing" ]; then
                        pass "$c: dump -b lists every attachment with its map counter ($(echo "$att" | wc -l))"
                else
                        failc "$c: dump -b lists every attachment with its map counter" "exit $RC" \
                                "missing (inode/device/maps):$missing" "table: $(head -c 1500 "$OUT")"
                fi
        fi

        p=$(echo $pids | awk '{ print $NF }')
        if [ -n "$p" ]; then
                run "$DMABUFD" dump --root "$T" --format json "$p"
                if [ $RC = 0 ] && jq -e --argjson p "$p" '[.processes[].pid] == [$p]' "$OUT" >/dev/null 2>&1; then
                        pass "$c: dump --format json $p lists only pid $p"
                        jq --argjson p "$p" '{processes: [.processes[] | select(.pid == $p)]}' "$E" >"$TMP/exp.pid.json"
                        if out=$(json_subset "$TMP/exp.pid.json" "$OUT"); then
                                pass "$c: dump $p: the process matches $(basename "$E")"
                        else
                                failc "$c: dump $p: the process matches $(basename "$E")" "$out"
                        fi
                else
                        failc "$c: dump --format json $p lists only pid $p" "exit $RC" \
                                "processes: $(jq -c '[.processes[]?.pid]' "$OUT" 2>&1 | head -c 300)" "stderr: $(head -c 300 "$ERR")"
                fi
                run "$DMABUFD" dump --root "$T" "$p"
                others=
                for q in $pids; do
                        [ "$q" = "$p" ] && continue
                        # other pids may appear as numbers elsewhere; only flag a
                        # pid that starts a line or follows whitespace as a column
                        grep -a -q -E "(^|[[:space:]])$q([[:space:]]|$)" "$OUT" && others="$others $q"
                done
                if [ $RC = 0 ] && grep -a -q -w -e "$p" "$OUT"; then
                        pass "$c: dump $p (table) exits 0 and shows pid $p"
                else
                        failc "$c: dump $p (table) exits 0 and shows pid $p" "exit $RC" "$(head -c 500 "$OUT")"
                fi
                [ -n "$others" ] && note "$c: dump $p table also shows the numbers$others (other pids?)"
        fi
done

# ---- garbage: never fatal, never a crash, memory-clean ----
for c in malformed hostile; do
        [ -d "$(tree "$c")" ] || { failc "$c: fixture tree exists"; continue; }
        for fmt in table json prom; do
                # Under a sanitizer build, ASan and UBSan do memcheck's job.
                checker=(valgrind -q --error-exitcode=99 --leak-check=no)
                [ -n "${SANITIZERS:-}" ] && checker=()
                RUN_TIMEOUT=120 run "${checker[@]}" \
                        "$DMABUFD" dump --root "$(tree "$c")" --format "$fmt"
                if [ $RC = 0 ]; then
                        pass "$c: dump --format $fmt under valgrind memcheck: exit 0, no memory errors"
                else
                        failc "$c: dump --format $fmt under valgrind memcheck: exit 0, no memory errors" \
                                "exit $RC (99: memcheck errors, >128: signal)" "$(grep -a -E '^==' "$ERR" | head -n 30)"
                fi
        done
done

finish
