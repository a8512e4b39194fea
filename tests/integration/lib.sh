# shellcheck shell=bash
# shellcheck disable=SC2034 # DAEMON_RC, HTTP_CODE, CTYPE, PORT, BASE are for the scripts
# Shared helpers for dmabufd's integration tests. Sourced, never run.
#
# Environment (set by the automake harness, or by hand):
#   DMABUFD   absolute path of the built daemon
#   FIXTURES  absolute path of tests/fixtures
#
# Every script prints one line per check and ends with exactly
# "N passed, M failed"; it exits 0 only when M is 0. A check this machine
# cannot make is never passed: it is a "SKIP:" line with the reason (skip),
# counted in a "# K checks skipped" line before the summary. A script none of
# whose claims can be checked here exits 77 (automake's SKIP).

set -u

: "${DMABUFD:?DMABUFD must name the built dmabufd binary}"
: "${FIXTURES:?FIXTURES must name tests/fixtures}"

TREES="$FIXTURES/trees"
# Fixtures other than the trees are never unpacked: always the source tree's
# (make distcheck runs from a build tree that has only the trees).
SRC_FIXTURES=${top_srcdir:+$top_srcdir/tests/fixtures}
: "${SRC_FIXTURES:=$FIXTURES}"
[ -n "${DAEMON_WRAPPER+x}" ] || DAEMON_WRAPPER=()
N_PASS=0
N_FAIL=0
N_SKIP=0
DAEMON_PIDS=()   # every daemon started, stopped on exit
EXTRA_PIDS=()    # other background processes (prometheus, curl loops)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dmabufd-it.XXXXXX") || { echo "mktemp failed"; exit 1; }

# Tests must not depend on the caller's locale (number formats, sort order).
export LC_ALL=C

_kill_bounded() { # PID: SIGTERM, wait up to 10 s, then SIGKILL
        local pid=$1 i
        kill -0 "$pid" 2>/dev/null || return 0
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || return 0
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
}

_cleanup() {
        local pid
        for pid in "${EXTRA_PIDS[@]}" "${DAEMON_PIDS[@]}"; do
                [ -n "$pid" ] && _kill_bounded "$pid"
        done
        for pid in "${EXTRA_PIDS[@]}" "${DAEMON_PIDS[@]}"; do
                [ -n "$pid" ] && wait "$pid" 2>/dev/null
        done
        if [ -n "${KEEP_TMP:-}" ]; then
                echo "# scratch kept in $TMP"
        else
                rm -rf "$TMP"
        fi
}
trap _cleanup EXIT
trap 'exit 1' INT TERM

# ---- reporting ----

pass() { # DESCRIPTION
        N_PASS=$((N_PASS + 1))
        echo "ok: $1"
}

failc() { # DESCRIPTION [DETAIL...]: a failed check; the script goes on
        N_FAIL=$((N_FAIL + 1))
        echo "FAIL: $1"
        shift
        local l
        for l in "$@"; do
                printf '%s\n' "$l" | head -n 40 | sed 's/^/    /'
        done
}

fail() { # MESSAGE: fatal, stop now
        N_FAIL=$((N_FAIL + 1))
        echo "FAIL: $*"
        echo "$N_PASS passed, $N_FAIL failed"
        exit 1
}

# note TEXT: information only (a figure, a pid); never stands for a check.
note() { echo "# $*"; }

# skip DESCRIPTION REASON: a check that this machine cannot make, said so
# instead of passed.
skip() {
        N_SKIP=$((N_SKIP + 1))
        echo "SKIP: $1 ($2)"
}

# check DESCRIPTION COMMAND [ARGS...]: runs the command; prints what was checked.
# The command's own output is shown only when it fails.
check() {
        local desc=$1 out
        shift
        if out=$("$@" 2>&1); then
                pass "$desc"
        else
                failc "$desc" "$out"
        fi
}

finish() {
        [ "$N_SKIP" = 0 ] || echo "# $N_SKIP checks skipped (SKIP: lines above)"
        echo "$N_PASS passed, $N_FAIL failed"
        [ "$N_FAIL" -eq 0 ] && exit 0
        exit 1
}

# ---- fixtures ----

tree() { echo "$TREES/$1"; }
expected() { # the expected JSON sits next to the tree (or inside it)
        if [ -f "$TREES/$1.expected.json" ] || [ ! -f "$TREES/$1/$1.expected.json" ]; then
                echo "$TREES/$1.expected.json"
        else
                echo "$TREES/$1/$1.expected.json"
        fi
}

require_tree() { # CASE: fatal if the case is missing
        [ -d "$(tree "$1")" ] || fail "fixture tree $(tree "$1") is missing"
        [ -f "$(expected "$1")" ] || fail "expected JSON $(expected "$1") is missing"
        jq -e . "$(expected "$1")" >/dev/null 2>&1 || fail "$(expected "$1") is not valid JSON"
}

list_cases() { # every case that has a tree and an expected JSON
        local d c
        for d in "$TREES"/*/; do
                [ -d "$d" ] || continue
                c=$(basename "$d")
                [ -f "$(expected "$c")" ] && echo "$c"
        done
}

# ---- JSON ----

# json_subset EXPECTED_FILE ACTUAL_FILE [IGNORED_TOP_LEVEL_KEY...]
# Every key of EXPECTED must be in ACTUAL with an equal value, recursively.
# Arrays must have the same length; arrays of objects are matched by their
# identity key (inode, pid or name, as the state sorts them), arrays of scalars
# are compared as sorted lists. Prints one line per mismatch; returns 1 if any.
json_subset() {
        local exp=$1 act=$2
        shift 2
        local ignore
        ignore=$(printf '%s\n' "$@" | jq -R . | jq -s 'map(select(. != ""))')
        local out
        out=$(jq -n -r --slurpfile e "$exp" --slurpfile a "$act" --argjson ignore "$ignore" '
          def idkey: if type == "object" then
                  (if has("inode") then "inode" elif has("pid") then "pid"
                   elif has("name") then "name" else null end)
                else null end;
          def scalar: type != "object" and type != "array";
          def diff($e; $a; $p):
            if ($e | type) == "object" then
              if ($a | type) != "object" then "\($p): expected an object, got \($a | tojson)"
              else
                $e | keys_unsorted[] as $k
                | if ($a | has($k) | not) then "\($p).\($k): missing (expected \($e[$k] | tojson))"
                  else diff($e[$k]; $a[$k]; "\($p).\($k)") end
              end
            elif ($e | type) == "array" then
              if ($a | type) != "array" then "\($p): expected an array, got \($a | tojson)"
              elif ($e | length) != ($a | length) then
                "\($p): expected \($e | length) elements, got \($a | length): expected \($e | tojson | .[0:300]), got \($a | tojson | .[0:300])"
              elif ($e | length) == 0 then empty
              elif ($e[0] | idkey) != null then
                ($e[0] | idkey) as $k
                | $e[] as $ee
                | "\($p)[\($k)=\($ee[$k] | tojson)]" as $q
                | ([$a[] | select(type == "object" and .[$k] == $ee[$k])]) as $m
                | if ($m | length) == 0 then "\($q): missing in actual"
                  else diff($ee; $m[0]; $q) end
              elif all($e[]; scalar) then
                if ($e | sort) == ($a | sort) then empty
                else "\($p): expected \($e | tojson), got \($a | tojson)" end
              else
                range(0; $e | length) as $i | diff($e[$i]; $a[$i]; "\($p)[\($i)]")
              end
            else
              if $e == $a then empty
              else "\($p): expected \($e | tojson), got \($a | tojson)" end
            end;
          ($e[0] | if type == "object" then with_entries(select(.key as $k | $ignore | index($k) | not)) else . end) as $ee
          | diff($ee; $a[0]; "")
        ' 2>&1) || { echo "jq failed: $out"; return 1; }
        if [ -n "$out" ]; then
                printf '%s\n' "$out" | head -n 30
                return 1
        fi
        return 0
}

# expected_state_subset CASE ACTUAL_FILE: compares the actual state with the
# case's expected JSON. collected_at changes every run and is never compared;
# everything else in the expected JSON, its "scan" object included, must be in
# the actual state.
expected_state_subset() {
        json_subset "$(expected "$1")" "$2" collected_at
}

# ---- numbers ----

num_eq() { # A B: numeric equality of two decimal/exponent numbers
        awk -v a="$1" -v b="$2" 'BEGIN { exit !((a + 0) == (b + 0) && a != "" && b != "") }'
}

# ---- daemon ----

# start_daemon ARGS...: runs "$DMABUFD --listen 127.0.0.1:0 ARGS" in the
# background (with a config that arms no PSI trigger and a scratch --state-dir unless ARGS
# give their own), waits up to START_TIMEOUT seconds (default 10) for
# "listening on 127.0.0.1:<port>" on stderr, and sets DAEMON_PID, DAEMON_ERR,
# PORT and BASE. Set DAEMON_WRAPPER (an array) to run it under e.g. valgrind.
DAEMON_SEQ=0
start_daemon() {
        local extra=() have_config=0 have_state=0 a
        for a in "$@"; do
                case $a in
                --config | --config=*) have_config=1 ;;
                --state-dir | --state-dir=*) have_state=1 ;;
                esac
        done
        # Without a --config of the test's own: the defaults, except that no PSI
        # trigger is ever armed on this machine's /proc/pressure (tests that run
        # without --root read the host's kernel files, and only read them).
        if [ $have_config = 0 ]; then
                printf 'psi_trigger =\n' >"$TMP/default.conf"
                extra+=(--config "$TMP/default.conf")
        fi
        DAEMON_SEQ=$((DAEMON_SEQ + 1))
        if [ $have_state = 0 ]; then
                mkdir -p "$TMP/state.$DAEMON_SEQ"
                extra+=(--state-dir "$TMP/state.$DAEMON_SEQ")
        fi
        DAEMON_ERR="$TMP/daemon.$DAEMON_SEQ.stderr"
        DAEMON_OUT="$TMP/daemon.$DAEMON_SEQ.stdout"
        : >"$DAEMON_ERR"
        "${DAEMON_WRAPPER[@]}" "$DMABUFD" "${extra[@]}" --listen 127.0.0.1:0 "$@" \
                </dev/null >"$DAEMON_OUT" 2>"$DAEMON_ERR" &
        DAEMON_PID=$!
        DAEMON_PIDS+=("$DAEMON_PID")
        local rc=0
        wait_for_port "$DAEMON_ERR" "$DAEMON_PID" || rc=$?
        if [ $rc = 2 ]; then
                wait "$DAEMON_PID"
                fail "daemon ($*) exited with status $? before listening; stderr: $(head -c 2000 "$DAEMON_ERR")"
        fi
        [ $rc = 0 ] || fail "daemon ($*) did not log 'listening on 127.0.0.1:<port>' within ${START_TIMEOUT:-10} s; stderr: $(head -c 2000 "$DAEMON_ERR")"
        note "daemon pid $DAEMON_PID listening on $BASE ($*)"
}

# wait_for_port FILE PID: until FILE (a daemon's stderr, or the lines its
# journal entries became) has "listening on 127.0.0.1:<port>", START_TIMEOUT
# seconds (default 10) at most; sets PORT and BASE. Returns 1 on timeout, 2
# when PID exited first. A logged port 0 fails the test: the daemon must log
# the port the kernel picked.
wait_for_port() {
        local file=$1 pid=$2 i limit=$(( ${START_TIMEOUT:-10} * 10 ))
        PORT=
        BASE=
        for ((i = 0; i < limit; i++)); do
                PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$file" | head -n 1)
                [ -n "$PORT" ] && break
                kill -0 "$pid" 2>/dev/null || return 2
                sleep 0.1
        done
        [ -n "$PORT" ] || return 1
        [ "$PORT" != 0 ] || fail "daemon logged port 0 instead of the port the kernel picked"
        BASE="http://127.0.0.1:$PORT"
}

# stop_daemon [PID]: SIGTERM, bounded wait (STOP_TIMEOUT s, default 10), then
# SIGKILL. Sets DAEMON_RC to the exit status (or 137 after SIGKILL).
stop_daemon() {
        local pid=${1:-$DAEMON_PID} i limit=$(( ${STOP_TIMEOUT:-10} * 10 ))
        DAEMON_RC=
        if kill -0 "$pid" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null
                for ((i = 0; i < limit; i++)); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                if kill -0 "$pid" 2>/dev/null; then
                        echo "# pid $pid ignored SIGTERM for ${STOP_TIMEOUT:-10} s, sending SIGKILL"
                        kill -KILL "$pid" 2>/dev/null
                fi
        fi
        wait "$pid" 2>/dev/null
        DAEMON_RC=$?
        local keep=() p
        for p in "${DAEMON_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
        DAEMON_PIDS=("${keep[@]}")
        return 0
}

# ---- HTTP ----

# fetch [CURL_ARGS...] URL: saves headers in $TMP/h and the body in $TMP/b,
# sets HTTP_CODE and CTYPE (the Content-Type value, lower-cased).
fetch() {
        rm -f "$TMP/h" "$TMP/b"
        HTTP_CODE=$(curl -sS --max-time 15 --noproxy '*' -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$@" 2>"$TMP/curl.err")
        local rc=$?
        [ $rc = 0 ] || { HTTP_CODE=000; echo "# curl $* failed ($rc): $(cat "$TMP/curl.err")"; }
        CTYPE=$(header content-type | tr 'A-Z' 'a-z')
        return 0
}

header() { # NAME: value of a response header in $TMP/h (case-insensitive name)
        tr -d '\r' <"$TMP/h" 2>/dev/null | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" '
                { i = index($0, ":"); if (i == 0) next
                  k = tolower(substr($0, 1, i - 1))
                  if (k == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v; exit } }'
}

# newest_of_kind KIND: prints the id of the newest snapshot of that trigger kind,
# waiting up to 10 s for one; fails if none comes.
newest_of_kind() {
        local i id
        for ((i = 0; i < 100; i++)); do
                fetch "$BASE/api/v1/snapshots"
                id=$(jq -r --arg k "$1" '[.[] | select(.trigger.kind == $k)][0].id // empty' "$TMP/b")
                [ -n "$id" ] && { echo "$id"; return 0; }
                sleep 0.1
        done
        return 1
}

# fetch_snapshot ID: GET /api/v1/snapshots/ID into $TMP/b once it is complete:
# a snapshot is on disk first without its fresh state ("partial": true), and
# replaced by the complete one a collection later. Waits up to 10 s.
fetch_snapshot() {
        local i
        for ((i = 0; i < 100; i++)); do
                fetch "$BASE/api/v1/snapshots/$1"
                [ "$HTTP_CODE" = 200 ] && ! jq -e '.partial == true' "$TMP/b" >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        return 1
}

# ---- Prometheus text ----

# metric_value FILE SERIES: the value of the sample whose name{labels} is
# exactly SERIES (e.g. 'dmabuf_bytes' or 'dmabufd_source_up{source="sysfs"}').
# Prints nothing if absent.
metric_value() {
        awk -v s="$2" '
                /^#/ { next }
                index($0, s " ") == 1 {
                        v = substr($0, length(s) + 2); sub(/ .*/, "", v); print v; exit }' "$1"
}

# series_count FILE NAME: number of samples of metric NAME
series_count() {
        grep -a -c -E "^$2(\{| )" "$1"
}

# The samples a state's totals give. A null total must have no sample at all.
totals_metric() {
        case $1 in
        buffers) echo dmabuf_buffers ;;
        bytes) echo dmabuf_bytes ;;
        userspace_bytes) echo dmabuf_userspace_bytes ;;
        kernel_only_bytes) echo dmabuf_kernel_only_bytes ;;
        esac
}

# check_totals_metrics CASE METRICS_FILE: each total in the expected JSON is
# the value of its gauge, and each null total has no sample.
check_totals_metrics() {
        local c=$1 f=$2 k want got m
        for k in buffers bytes userspace_bytes kernel_only_bytes; do
                m=$(totals_metric "$k")
                want=$(jq -r --arg k "$k" '.totals[$k] | if . == null then "null" else tostring end' "$(expected "$c")")
                got=$(metric_value "$f" "$m")
                if [ "$want" = null ]; then
                        if [ -z "$got" ]; then
                                pass "$c: totals.$k is unknown, so $m has no sample"
                        else
                                failc "$c: totals.$k is unknown, so $m must have no sample (unknown, not 0)" "got: $m $got"
                        fi
                elif [ -z "$got" ]; then
                        failc "$c: $m = $want (expected totals.$k)" "no $m sample in the output"
                elif num_eq "$got" "$want"; then
                        pass "$c: $m = $want (expected totals.$k)"
                else
                        failc "$c: $m = $want (expected totals.$k)" "got $got"
                fi
        done
}

# wait_for_line FILE REGEX [SECONDS]: until a line of FILE matches (grep -E),
# SECONDS (default 10) at most. Returns 1 on timeout.
wait_for_line() {
        local i limit=$(( ${3:-10} * 10 ))
        for ((i = 0; i < limit; i++)); do
                grep -Eq -- "$2" "$1" 2>/dev/null && return 0
                sleep 0.1
        done
        return 1
}

# wait_until SECONDS COMMAND [ARGS...]: runs COMMAND every 0.1 s until it
# succeeds, at most SECONDS seconds (by the clock, and 10 tries a second, so a
# slow command cannot stretch it). Returns 1 on timeout.
wait_until() {
        local secs=$1 i limit end
        shift
        limit=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 10 + 1 }')
        end=$((SECONDS + ${secs%.*} + 1))
        for ((i = 0; i < limit && SECONDS <= end; i++)); do
                "$@" && return 0
                sleep 0.1
        done
        "$@"
}

# collections_total [BASE]: the daemon's dmabufd_collections_total now (empty
# when /metrics does not answer). Does not touch $TMP/h or $TMP/b.
collections_total() {
        curl -sS --max-time 5 --noproxy '*' "${1:-$BASE}/metrics" 2>/dev/null |
                awk '$1 == "dmabufd_collections_total" { print $2; exit }'
}

_collections_reached() { # N [BASE]
        local n
        n=$(collections_total "${2:-}")
        [ -n "$n" ] && [ "$n" -ge "$1" ]
}

# wait_for_collections N [SECONDS] [BASE]: until the daemon has completed N
# more collections than when called, SECONDS (default 10) at most. Returns 1 on
# timeout (or when /metrics never answers).
wait_for_collections() {
        local n0
        n0=$(collections_total "${3:-}")
        [ -n "$n0" ] || n0=0
        wait_until "${2:-10}" _collections_reached $((n0 + $1)) "${3:-}"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now
# (bounded number of tries). It is taken below the kernel's ephemeral range:
# there, a port free now may become the local end of some parallel test's curl
# connection, or a daemon's port 0, before the caller binds it.
free_port() {
        local i p low=32768 high span
        read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
        span=$((low - 1024)) # unprivileged ports only
        [ "$span" -ge 100 ] || return 1
        for ((i = 0; i < 50; i++)); do
                p=$((low - 1 - RANDOM % span))
                if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                        echo "$p"
                        return 0
                fi
        done
        return 1
}

# start_prometheus CONFIG [CWD]: a real Prometheus server on a free loopback
# port, run from CWD (default $TMP), sets PROM_PID, PPORT and PBASE once it is
# ready. Retries a few times if the port was taken between choosing and
# binding; fails the test if it never becomes ready (bounded: 5 x 30 s).
start_prometheus() {
        local config=$1 cwd=${2:-$TMP} try i ready
        PROM_PID=
        for ((try = 0; try < 5; try++)); do
                PPORT=$(free_port) || fail "no free port found for prometheus"
                mkdir -p "$TMP/data.$try"
                (cd "$cwd" && exec prometheus --config.file="$config" --storage.tsdb.path="$TMP/data.$try" \
                        --web.listen-address="127.0.0.1:$PPORT" --log.level=warn) \
                        </dev/null >"$TMP/prometheus.log" 2>&1 &
                PROM_PID=$!
                EXTRA_PIDS+=("$PROM_PID")
                ready=0
                for ((i = 0; i < 300; i++)); do # 30 s
                        kill -0 "$PROM_PID" 2>/dev/null || break
                        if curl -s --max-time 2 --noproxy '*' -o /dev/null -f "http://127.0.0.1:$PPORT/-/ready"; then
                                ready=1
                                break
                        fi
                        sleep 0.1
                done
                [ $ready = 1 ] && break
                note "prometheus on port $PPORT did not become ready: $(tail -n 3 "$TMP/prometheus.log")"
                _kill_bounded "$PROM_PID"
                wait "$PROM_PID" 2>/dev/null
                PROM_PID=
        done
        [ -n "$PROM_PID" ] || fail "prometheus never became ready; log: $(tail -n 20 "$TMP/prometheus.log")"
        pass "prometheus ready on 127.0.0.1:$PPORT"
        PBASE="http://127.0.0.1:$PPORT"
}
