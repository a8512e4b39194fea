#!/bin/bash
# HTTP under abuse, on loopback only: a slowloris of 3,000 half-open
# connections from 127.0.0.2 while 127.0.0.3 scrapes /metrics (each within
# 1 s), 10,000 connections opened and closed fast, oversized and malformed
# requests, and path traversal on /api/v1/snapshots/ID in every encoding. Each
# gets a 4xx or a closed connection; the daemon stays up, its RSS bounded, and
# the snapshot taken first stays listed and valid.
. "$(dirname "$0")/lib.sh"

ABUSE="${top_builddir:?}/tests/helpers/http-abuse"
[ -x "$ABUSE" ] || fail "$ABUSE is not built"
require_tree linux-6.1
# Generous: the daemon runs in ~10 MiB on this tree, each connection costs it at
# most 32 KiB of buffers and it keeps 64 at most. A growth bound, not an
# absolute one. Under ASan freed memory sits in its quarantine (256 MiB by
# default) instead of going back, so 10,000 connections' worth of freed buffers
# shows as growth there: the bound is the quarantine's size plus the same 64 MiB.
GROWTH_LIMIT_KB=$((64 * 1024))
case ${SANITIZERS:-} in *address*) GROWTH_LIMIT_KB=$(((256 + 64) * 1024)) ;; esac

printf 'psi_trigger =\ncooldown_manual = 0\n' >"$TMP/abuse.conf"
ulimit -n 4096 2>/dev/null || true
start_daemon --root "$(tree linux-6.1)" --config "$TMP/abuse.conf"

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$DAEMON_PID/status"; }
alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }

# scrape_from ADDR: GET /metrics from ADDR; sets SCRAPE_CODE and SCRAPE_SECS.
scrape_from() {
        local out
        out=$(curl -sS --noproxy '*' --interface "$1" --max-time 5 -o "$TMP/scrape" \
                -w '%{http_code} %{time_total}' "$BASE/metrics" 2>"$TMP/scrape.err") || true
        SCRAPE_CODE=${out%% *}
        SCRAPE_SECS=${out#* }
        [ -n "$SCRAPE_CODE" ] || SCRAPE_CODE=000
}

# ---- a snapshot that must outlive everything below ----
fetch -X POST "$BASE/api/v1/snapshots"
check "POST /api/v1/snapshots answers 201 before the abuse" test "$HTTP_CODE" = 201
SNAP=$(jq -r .id "$TMP/b" 2>/dev/null)
fetch_snapshot "$SNAP" || failc "snapshot $SNAP still partial after 10 s"
cp "$TMP/b" "$TMP/snapshot.before"

RSS0=$(status_kb VmRSS)
HWM0=$(status_kb VmHWM)
RSS_LIMIT_KB=$((HWM0 + GROWTH_LIMIT_KB))
note "daemon RSS before: ${RSS0} kB (VmHWM ${HWM0} kB); the limit for VmHWM: ${RSS_LIMIT_KB} kB"

# ---- slowloris: 3,000 half-open connections from 127.0.0.2 ----
# What the daemon holds is counted on its side: its sockets beyond those it
# had before. The helper's own count also has the connections waiting in the
# kernel's accept queue, which the daemon has not taken yet.
sockets() { find "/proc/$DAEMON_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
SOCK0=$(sockets)
"$ABUSE" hold 127.0.0.2 127.0.0.1 "$PORT" 3000 25 >"$TMP/hold.out" 2>"$TMP/hold.err" &
HOLD_PID=$!
EXTRA_PIDS+=("$HOLD_PID")
rounds() { grep -c '^round ' "$TMP/hold.out" 2>/dev/null; }
round_reached() { [ "$(rounds)" -ge "$1" ]; }
wait_until 15 round_reached 1 || failc "the slowloris helper reported no round within 15 s" "$(cat "$TMP/hold.err")"
slow=0 failed_scrapes=0 max_rss=0 n=0 held_max=0
for ((k = 2; k <= 9; k++)); do
        wait_until 10 round_reached "$k" || break
        held=$(($(sockets) - SOCK0))
        [ "$held" -gt "$held_max" ] && held_max=$held
        scrape_from 127.0.0.3
        n=$((n + 1))
        rss=$(status_kb VmRSS)
        [ "${rss:-0}" -gt "$max_rss" ] && max_rss=$rss
        if [ "$SCRAPE_CODE" != 200 ]; then
                failed_scrapes=$((failed_scrapes + 1))
                note "scrape $n during the attack: status $SCRAPE_CODE $(cat "$TMP/scrape.err")"
        elif ! awk -v t="$SCRAPE_SECS" 'BEGIN { exit !(t < 1) }'; then
                slow=$((slow + 1))
                note "scrape $n during the attack took ${SCRAPE_SECS} s"
        else
                note "scrape $n during the attack: ${SCRAPE_SECS} s, daemon holding $held connections, RSS ${rss} kB"
        fi
done
check "8 scrapes from 127.0.0.3 were made during the attack (made $n)" test "$n" = 8
check "every scrape from 127.0.0.3 during the attack answered 200 ($failed_scrapes did not)" test "$failed_scrapes" = 0
check "every scrape from 127.0.0.3 during the attack took under 1 s ($slow did not)" test "$slow" = 0
# 16 from 127.0.0.2, and at most one more per thread: one just accepted and
# about to be closed.
check "the attack got connections in, the daemon held at most $held_max" test "$held_max" -gt 0
check "the daemon never held more than http_max_connections_per_address (16) + 2 ($held_max)" test "$held_max" -le 18
wait_until 30 sh -c "! kill -0 $HOLD_PID 2>/dev/null" || failc "the slowloris helper did not end within 30 s"
wait "$HOLD_PID" 2>/dev/null
note "slowloris rounds (open here counts the accept queue too): $(tr '\n' ';' <"$TMP/hold.out")"
attempted=$(awk '/^round/ { s += $4 + $6 } END { print s + 0 }' "$TMP/hold.out")
check "3,000 connections were attempted at once ($attempted over all rounds)" test "$attempted" -ge 3000
RSS1=$(status_kb VmRSS)
HWM=$(status_kb VmHWM)
note "daemon RSS during the attack: at most ${max_rss} kB; after: ${RSS1} kB; VmHWM ${HWM} kB"
check "daemon VmHWM ${HWM} kB stays under $RSS_LIMIT_KB kB" test "${HWM:-999999999}" -lt "$RSS_LIMIT_KB"

# ---- 10,000 connections opened and closed fast ----
"$ABUSE" churn 127.0.0.4 127.0.0.1 "$PORT" 10000 >"$TMP/churn.out" 2>&1
note "churn: $(cat "$TMP/churn.out")"
check "10,000 connections were opened and closed" grep -q '^connected 10000 failed 0$' "$TMP/churn.out"
check "the daemon survived the churn" alive
scrape_from 127.0.0.3
check "/metrics from 127.0.0.3 answers 200 within 1 s after the churn (${SCRAPE_SECS} s)" \
        awk -v c="$SCRAPE_CODE" -v t="$SCRAPE_SECS" 'BEGIN { exit !(c == 200 && t < 1) }'

# ---- oversized input ----
# send NAME: stdin to the server raw from 127.0.0.5; the answer in $TMP/NAME.out.
send() { "$ABUSE" send 127.0.0.5 127.0.0.1 "$PORT" >"$TMP/$1.out" 2>"$TMP/$1.err"; }
status_lines() { grep -a -o -E '^HTTP/1\.[01] [0-9]{3}' "$TMP/$1.out" | awk '{ print $2 }' | tr '\n' ' '; }
# rejected NAME DESC: the answer is a 4xx and nothing else, or a closed connection.
rejected() {
        local codes
        codes=$(status_lines "$1")
        if [ -z "$codes" ] || [[ $codes =~ ^(4[0-9][0-9] )+$ ]]; then
                pass "$2: ${codes:-connection closed without an answer}"
        else
                failc "$2: a 4xx or a closed connection" "status: $codes" "$(head -c 300 "$TMP/$1.out")"
        fi
}

big=$(head -c 100000 /dev/zero | tr '\0' a)
{ printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$big"; } | send header
check "a 100 KB header gets an answer or a close" test $? != 2
rejected header "a 100 KB header"
url=$(head -c 20000 /dev/zero | tr '\0' a)
printf 'GET /metrics?%s HTTP/1.1\r\nHost: x\r\n\r\n' "$url" | send url
rejected url "a 20 KB URL"

head -c $((10 * 1024 * 1024)) /dev/zero >"$TMP/10m"
fetch -X POST --data-binary @"$TMP/10m" -H 'Content-Type: application/octet-stream' "$BASE/api/v1/snapshots"
check "a 10 MB POST body on /api/v1/snapshots is refused with 413 ($HTTP_CODE)" test "$HTTP_CODE" = 413
check "the 413 names the limit" jq -e '.error | test("4096")' "$TMP/b"
fetch -X POST --data-binary @"$TMP/10m" "$BASE/metrics"
check "a 10 MB POST body on /metrics is refused with 413 ($HTTP_CODE)" test "$HTTP_CODE" = 413
printf 'POST /api/v1/snapshots HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n' | send chunked
check "a chunked POST body is refused with 411" test "$(status_lines chunked)" = "411 "
fetch -X POST -d '{}' "$BASE/api/v1/snapshots"
check "a POST with a small body ('{}') still takes a snapshot: $HTTP_CODE" test "$HTTP_CODE" = 201

# ---- malformed requests ----
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x01\xff\xfe garbage \x00\x7f\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n' | send pipelined
codes=$(status_lines pipelined)
if [[ $codes =~ ^200\ (4[0-9][0-9]\ )?$ ]]; then
        pass "pipelined garbage: the request before it answered 200, the garbage 4xx or a close ($codes)"
else
        failc "pipelined garbage: 200 then a 4xx or a close" "status: $codes" "$(head -c 400 "$TMP/pipelined.out")"
fi
printf 'FROB /metrics HTTP/1.1\r\nHost: x\r\n\r\n' | send method
check "an unknown method FROB gets 405" test "$(status_lines method)" = "405 "
printf 'G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n' | send badtoken
rejected badtoken "a method with a separator in it"
printf 'GET /metrics HTTP/1.1\r\n\r\n' | send nohost11
check "HTTP/1.1 without Host gets 400" test "$(status_lines nohost11)" = "400 "
printf 'GET /healthz HTTP/1.0\r\n\r\n' | send nohost10
check "HTTP/1.0 without Host is valid HTTP/1.0 and answered 200" test "$(status_lines nohost10)" = "200 "
printf 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n' | send version
codes=$(status_lines version)
check "HTTP/9.9 gets 505 or a close ($codes)" test -z "$codes" -o "$codes" = "505 "
printf '\r\n\r\n\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' | send tls
rejected tls "a TLS ClientHello"

# ---- path traversal on /api/v1/snapshots/ID ----
P=/api/v1/snapshots
for path in "$P/../../../../etc/passwd" "$P/..%2f..%2f..%2fetc%2fpasswd" "$P/%2e%2e%2f%2e%2e%2fetc%2fpasswd" \
        "$P/%252e%252e%252f%252e%252e%252fetc%252fpasswd" "$P/..\\..\\..\\etc\\passwd" "$P/..%5c..%5cetc%5cpasswd" \
        "$P/%c0%ae%c0%ae%c0%afetc%c0%afpasswd" "$P/$SNAP%00../../etc/passwd" "$P/%00" "$P/$SNAP/../../../etc/passwd" \
        "$P/$SNAP%2f..%2f..%2fetc%2fpasswd" "$P/." "$P/.." "$P/%2e" "$P/" "$P//etc/passwd" "$P/$SNAP.json"; do
        fetch --path-as-is "$BASE$path"
        if [[ $HTTP_CODE =~ ^4[0-9][0-9]$ ]] && jq -e '.error | type == "string"' "$TMP/b" >/dev/null 2>&1 &&
                ! grep -a -q 'root:' "$TMP/b"; then
                pass "GET $path: $HTTP_CODE with a JSON error"
        else
                failc "GET $path: a 4xx with a JSON error" "status $HTTP_CODE" "$(head -c 300 "$TMP/b")"
        fi
done
# A raw NUL byte in the request line, which no URL can carry: libmicrohttpd
# 0.9.75 ends the path there, so the id before it is all the handler sees. It
# may serve that snapshot, as asked for by its name; never anything else.
printf 'GET %s/%s\0/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n' "$P" "$SNAP" | send nul
codes=$(status_lines nul)
check "a raw NUL byte after a valid id: a 4xx, a close or that snapshot ($codes)" \
        test -z "$codes" -o "$codes" = "400 " -o "$codes" = "404 " -o "$codes" = "200 "
if [ "$codes" = "200 " ]; then
        check "what the raw NUL request served is the snapshot named before the NUL" \
                sh -c "sed '1,/^\r\$/d' '$TMP/nul.out' | cmp -s - '$TMP/snapshot.before'"
fi
printf 'GET %s/..\0/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n' "$P" | send nul2
check "a raw NUL byte after '..' gets 400 ($(status_lines nul2))" test "$(status_lines nul2)" = "400 "
check "no traversal answered a file's contents" sh -c "! grep -a -q 'root:' '$TMP'/*.out"

# ---- afterwards ----
check "the daemon is still running" alive
scrape_from 127.0.0.3
check "/metrics still answers 200 within 1 s (${SCRAPE_SECS} s)" \
        awk -v c="$SCRAPE_CODE" -v t="$SCRAPE_SECS" 'BEGIN { exit !(c == 200 && t < 1) }'
fetch "$BASE/api/v1/snapshots"
check "the snapshot taken before the abuse is still listed" jq -e --arg id "$SNAP" 'any(.[]; .id == $id)' "$TMP/b"
fetch "$BASE$P/$SNAP"
check "the snapshot taken before the abuse is unchanged and valid" \
        sh -c "test '$HTTP_CODE' = 200 && jq -e --arg id '$SNAP' '.schema == \"dmabufd.snapshot/1\" and .id == \$id' '$TMP/b' >/dev/null && cmp -s '$TMP/b' '$TMP/snapshot.before'"
RSS2=$(status_kb VmRSS)
HWM=$(status_kb VmHWM)
note "daemon RSS at the end: ${RSS2} kB, VmHWM ${HWM} kB (before: ${RSS0} kB)"
check "daemon VmHWM ${HWM} kB stays under $RSS_LIMIT_KB kB after everything" test "${HWM:-999999999}" -lt "$RSS_LIMIT_KB"
check "the daemon logged no sanitizer report" sh -c "! grep -a -q -E 'AddressSanitizer|runtime error' '$DAEMON_ERR'"
stop_daemon
check "the daemon exits 0 on SIGTERM after the abuse ($DAEMON_RC)" test "$DAEMON_RC" = 0

# ---- the limits come from the configuration ----
printf 'psi_trigger =\nhttp_max_connections_per_address = 4\nhttp_timeout = 2\n' >"$TMP/limits.conf"
start_daemon --root "$(tree linux-6.1)" --config "$TMP/limits.conf"
SOCK0=$(sockets)
"$ABUSE" hold 127.0.0.6 127.0.0.1 "$PORT" 50 4 >"$TMP/hold2.out" 2>"$TMP/hold2.err" &
HOLD_PID=$!
EXTRA_PIDS+=("$HOLD_PID")
wait_until 15 sh -c "grep -q '^round 1 ' '$TMP/hold2.out'" || failc "the helper reported no round within 15 s" "$(cat "$TMP/hold2.err")"
held=$(($(sockets) - SOCK0))
check "with http_max_connections_per_address = 4 the daemon holds 1 to 4 (+2) from one address ($held)" \
        test "$held" -ge 1 -a "$held" -le 6
wait_until 15 sh -c "! kill -0 $HOLD_PID 2>/dev/null" || failc "the helper did not end within 15 s"
wait "$HOLD_PID" 2>/dev/null
# http_timeout = 2: a connection that sends half a request is closed after
# about 2 s (the helper waits 5 s for an answer or a close, else exits 2).
t0=$SECONDS
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n' | send stalled
rc=$?
check "with http_timeout = 2 a stalled request is closed, not kept (helper status $rc, $((SECONDS - t0)) s)" test "$rc" = 0
printf 'psi_trigger =\nhttp_max_connections_per_address = 8\n' >"$TMP/limits.conf"
kill -HUP "$DAEMON_PID"
check "SIGHUP with changed http_ limits says they take effect on restart" \
        wait_until 10 grep -q 'http_timeout changes take effect on restart' "$DAEMON_ERR"
stop_daemon

finish
