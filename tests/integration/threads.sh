#!/bin/bash
# No data race between the collector and the HTTP threads: the daemon runs under
# valgrind's helgrind, collecting every 0.2 s, while concurrent clients fetch
# every rendering of the published state, the history and the page. Helgrind
# must report 0 errors.
#
# tests/integration/helgrind.supp, when present, lists false positives inside
# libraries (libmicrohttpd, libc); it must never name a dmabufd function.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
SUPP="$(cd "$(dirname "$0")" && pwd)/helgrind.supp"
LOG="$TMP/helgrind.log"
vg=(valgrind --tool=helgrind --error-exitcode=3 --num-callers=40 --log-file="$LOG")
if [ -f "$SUPP" ]; then
        if grep -v '^#' "$SUPP" | grep -q -E 'fun:(dmabuf|manager_|http_|config_|listen_|log_|strbuf_|utf8_|read_virtual|main$)'; then
                fail "$SUPP names a dmabufd function; races in dmabufd's own code must be fixed, not suppressed"
        fi
        vg+=(--suppressions="$SUPP")
fi

# A sanitizer build cannot run under valgrind; there the same concurrent load
# runs under ASan/UBSan (or TSan, with --enable-sanitizers=thread), which abort
# the daemon on the first error, and helgrind's verdict comes from the plain build.
if [ -n "${SANITIZERS:-}" ]; then
        note "sanitizer build ($SANITIZERS): the load runs under the sanitizers instead of helgrind"
        vg=()
fi
DAEMON_WRAPPER=("${vg[@]}")
START_TIMEOUT=120
STOP_TIMEOUT=120
start_daemon --root "$(tree $C)" --interval 0.2
DAEMON_WRAPPER=()

fetch "$BASE/metrics"
ts0=$(metric_value "$TMP/b" dmabufd_collection_timestamp_seconds)

# Two concurrent clients, each making at least 100 requests and going on for
# at least 5 s so that many collections overlap them; at most 1000 requests or
# 240 s each.
client() { # ID
        local i url codes="$TMP/codes.$1" t0=$SECONDS
        local urls=("$BASE/metrics" "$BASE/api/v1/state" "$BASE/metrics" "$BASE/healthz" "$BASE/api/v1/history" "$BASE/")
        for ((i = 0; i < 1000; i++)); do
                ((SECONDS - t0 > 240)) && break
                ((i >= 100 && SECONDS - t0 >= 5)) && break
                url=${urls[$(((i + $1) % ${#urls[@]}))]}
                if (((i + $1) % 3 == 0)); then
                        curl -s --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}\n' \
                                -H 'Accept: application/openmetrics-text;version=1.0.0' "$url" >>"$codes"
                else
                        curl -s --max-time 30 --noproxy '*' -o /dev/null -w '%{http_code}\n' "$url" >>"$codes"
                fi
        done
}
client 0 &
c0=$!
client 1 &
c1=$!
EXTRA_PIDS+=("$c0" "$c1")
# bounded wait for both (the loops bound themselves at 240 s)
for ((i = 0; i < 3000; i++)); do
        kill -0 "$c0" 2>/dev/null || kill -0 "$c1" 2>/dev/null || break
        sleep 0.1
done
wait "$c0" "$c1" 2>/dev/null

total=$(cat "$TMP"/codes.* 2>/dev/null | wc -l)
ok=$(cat "$TMP"/codes.* 2>/dev/null | grep -c '^200$')
if [ "$total" -ge 150 ] && [ "$ok" = "$total" ]; then
        pass "$ok of $total concurrent requests answered 200 under ${SANITIZERS:-helgrind}"
else
        failc "at least 150 concurrent requests, all answered 200 under ${SANITIZERS:-helgrind}" \
                "$ok of $total were 200: $(sort "$TMP"/codes.* | uniq -c | tr '\n' ' ')"
fi

fetch "$BASE/metrics"
ts1=$(metric_value "$TMP/b" dmabufd_collection_timestamp_seconds)
if [ -n "$ts0" ] && [ -n "$ts1" ] && awk -v a="$ts0" -v b="$ts1" 'BEGIN { exit !(b > a) }'; then
        pass "the collector published new states meanwhile (timestamp $ts0 -> $ts1)"
else
        failc "the collector published new states meanwhile" "timestamp '$ts0' -> '$ts1'"
fi

stop_daemon
if [ "$DAEMON_RC" = 0 ]; then
        pass "daemon under ${SANITIZERS:-helgrind} exits 0 on SIGTERM"
else
        failc "daemon under ${SANITIZERS:-helgrind} exits 0 on SIGTERM" "exit status $DAEMON_RC" \
                "$(grep -v '^==' "$DAEMON_ERR" | tail -n 5)"
fi
if [ -n "${SANITIZERS:-}" ]; then
        # The sanitizers abort with a non-zero status on any error, which the exit
        # check above has already caught; their report is on stderr.
        if grep -q -E 'ERROR: (AddressSanitizer|ThreadSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$DAEMON_ERR"; then
                failc "no sanitizer report under concurrent load" "$(grep -A 20 -E 'Sanitizer|runtime error' "$DAEMON_ERR" | head -n 40)"
        else
                pass "no $SANITIZERS report under concurrent load"
        fi
elif grep -q 'ERROR SUMMARY: 0 errors' "$LOG"; then
        pass "helgrind: ERROR SUMMARY: 0 errors"
else
        failc "helgrind: ERROR SUMMARY: 0 errors" "$(grep 'ERROR SUMMARY' "$LOG")" \
                "$(grep -E '^==[0-9]+== (Possible data race|Lock order|Thread #|   (at|by) )' "$LOG" | head -n 60)"
        if [ -n "${THREADS_LOG_COPY:-}" ]; then cp "$LOG" "$THREADS_LOG_COPY"; fi
fi

finish
