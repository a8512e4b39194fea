#!/bin/bash
# snapshot_push against a local endpoint (tests/helpers/http-sink) on loopback
# that answers 500, then hangs, then answers garbage, then accepts: each failure
# is counted and retried with backoff while the daemon keeps serving, and the
# body finally POSTed gunzips to the snapshot file byte for byte. With the
# endpoint gone, the queue holds snapshot_push_queue_max entries (and then no
# more than snapshot_push_queue_max_bytes), the oldest
# dropped and counted; a restart finds the queue and delivers it. A URL that is
# not http(s) is refused at start-up and on reload with file:line.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
: "${top_builddir:?top_builddir must name the build tree}"
SINK="$top_builddir/tests/helpers/http-sink"
export DMABUFD_PUSH_HELPER="$top_builddir/dmabufd-push"
[ -x "$SINK" ] || fail "$SINK is not built"
[ -x "$DMABUFD_PUSH_HELPER" ] || fail "$DMABUFD_PUSH_HELPER is not built"
command -v gzip >/dev/null || fail "gzip is missing"

STATE="$TMP/state"
CONF="$TMP/dmabufd.conf"
write_conf() { # URL [QUEUE_MAX [QUEUE_MAX_BYTES]]
        cat >"$CONF" <<EOF
interval = 0.5
cooldown_manual = 0
psi_trigger =
kmsg = no
snapshot_push = $1
snapshot_push_timeout = 1
snapshot_push_queue_max = ${2:-16}
snapshot_push_queue_max_bytes = ${3:-256M}
EOF
}

# start_sink NAME MODE...: sets SINK_PORT and SINK_DIR; lives 120 s at most.
start_sink() {
        local name=$1 i
        shift
        SINK_DIR="$TMP/$name"
        mkdir -p "$SINK_DIR"
        "$SINK" "$SINK_DIR/port" "$SINK_DIR" 120 "$@" >"$SINK_DIR/log" 2>&1 &
        SINK_PID=$!
        EXTRA_PIDS+=("$SINK_PID")
        for ((i = 0; i < 50; i++)); do [ -s "$SINK_DIR/port" ] && break; sleep 0.1; done
        SINK_PORT=$(cat "$SINK_DIR/port" 2>/dev/null)
        [ -n "$SINK_PORT" ] || fail "http-sink did not start: $(cat "$SINK_DIR/log")"
}
stop_sink() { kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; }

metric() { # NAME: its value now
        curl -sS --max-time 5 --noproxy '*' "$BASE/metrics" 2>/dev/null | awk -v n="$1" '$1 == n { print $2; exit }'
}
wait_metric() { # NAME VALUE SECONDS: until NAME is VALUE
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                [ "$(metric "$1")" = "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
post() { # sets POST_ID
        fetch -X POST "$BASE/api/v1/snapshots"
        POST_ID=$(jq -r .id "$TMP/b" 2>/dev/null)
}
queued() { ls "$STATE/push" 2>/dev/null | sed -n 's/\.json$//p'; }

# ---- refused ----
for url in "ftp://127.0.0.1/x" "http://" "http://user:secret@127.0.0.1/" "http://127.0.0.1:99999/" "not a url"; do
        write_conf "$url"
        "$DMABUFD" --config "$CONF" --state-dir "$STATE" --listen 127.0.0.1:0 >/dev/null 2>"$TMP/refused.err"
        rc=$?
        check "snapshot_push = $url is refused at start-up (exit $rc) with file:line" \
                sh -c "test $rc = 2 && grep -qF \"$CONF:5: invalid snapshot_push '$url'\" '$TMP/refused.err'"
done

# ---- failures first, then delivery ----
start_sink first 500 hang garbage ok
write_conf "http://127.0.0.1:$SINK_PORT/ingest?source=test"
start_daemon --config "$CONF" --root "$(tree $C)" --state-dir "$STATE"
t0=$(date +%s)
post
ID=$POST_ID
check "POST took a snapshot ($ID)" test "$HTTP_CODE" = 201
# 500, then a hang (killed after 1 s + 1 s of grace), then garbage, with 1, 2
# and 4 s between the tries: about 10 s.
hang_seen=0
for ((i = 0; i < 300; i++)); do
        if [ $hang_seen = 0 ] && grep -q '^1 hang' "$SINK_DIR/log"; then
                hang_seen=1
                t_h=$(date +%s%N)
                fetch "$BASE/metrics"
                t_h1=$(date +%s%N)
                check "while the endpoint hangs, /metrics answers at once ($(( (t_h1 - t_h) / 1000000 )) ms)" \
                        test "$HTTP_CODE" = 200 -a $(( (t_h1 - t_h) / 1000000 )) -lt 2000
                post
                check "... and a snapshot is taken (201)" test "$HTTP_CODE" = 201
                ID_B=$POST_ID
        fi
        [ "$(metric dmabufd_snapshot_pushes_total)" = 2 ] && break
        sleep 0.1
done
t1=$(date +%s)
note "two snapshots pushed after $((t1 - t0)) s"
check "the endpoint saw 500, a hang, garbage, then ok" \
        sh -c "grep -q '^0 500' '$SINK_DIR/log' && grep -q '^1 hang' '$SINK_DIR/log' && grep -q '^2 garbage' '$SINK_DIR/log' && grep -q '^3 ok' '$SINK_DIR/log'"
check "dmabufd_snapshot_push_failures_total is 3" test "$(metric dmabufd_snapshot_push_failures_total)" = 3
check "dmabufd_snapshot_pushes_total is 2" test "$(metric dmabufd_snapshot_pushes_total)" = 2
check "the first POST body gunzips to $ID.json, byte for byte" \
        sh -c "gzip -dc '$SINK_DIR/3.body' | cmp - '$STATE/$ID.json'"
check "the second one to $ID_B.json" sh -c "gzip -dc '$SINK_DIR/4.body' | cmp - '$STATE/$ID_B.json'"
check "the request was POST /ingest?source=test, gzip, with the snapshot's id" \
        sh -c "grep -qa '^POST /ingest?source=test HTTP/1.1' '$SINK_DIR/3.headers' &&
               grep -qai '^Content-Encoding: gzip' '$SINK_DIR/3.headers' &&
               grep -qai '^Content-Type: application/json' '$SINK_DIR/3.headers' &&
               grep -qai '^X-Dmabufd-Snapshot-Id: $ID' '$SINK_DIR/3.headers'"
check "each failure is logged with the helper's words" \
        sh -c "grep -q 'the server answered 500' '$DAEMON_ERR' && grep -qE 'snapshot_push\[[0-9]+\]: .*(timed out|Timeout)' '$DAEMON_ERR'"
check "the queue is empty, and says so" sh -c "test -z \"\$(ls '$STATE/push')\" && test '$(metric dmabufd_snapshot_push_queue)' = 0"
stop_sink

# ---- the bound ----
write_conf "http://127.0.0.1:$SINK_PORT/ingest" 2
kill -HUP "$DAEMON_PID"
for ((i = 0; i < 100; i++)); do [ "$(grep -c 'configuration reloaded' "$DAEMON_ERR")" -ge 1 ] && break; sleep 0.1; done
ids=()
for ((i = 0; i < 5; i++)); do
        post
        [ "$HTTP_CODE" = 201 ] && ids+=("$POST_ID")
done
check "5 snapshots taken with the endpoint gone" test "${#ids[@]}" = 5
wait_metric dmabufd_snapshot_push_dropped_total 3 10 || failc "dmabufd_snapshot_push_dropped_total did not reach 3"
check "with snapshot_push_queue_max = 2, 3 were dropped and counted" \
        test "$(metric dmabufd_snapshot_push_dropped_total)" = 3
check "... the queue holds 2 (the gauge says 2)" test "$(metric dmabufd_snapshot_push_queue)" = 2
check "... the newest two" diff <(printf '%s\n' "${ids[@]:3:2}") <(queued)
check "... and each drop is logged" test "$(grep -c 'dropped from the push queue' "$DAEMON_ERR")" = 3
check "dropped from the queue, not from the store: every snapshot is still listed" \
        sh -c "for id in ${ids[*]}; do test -f '$STATE/'\$id.json || exit 1; done"
stop_daemon
check "the daemon stops with status 0" test "$DAEMON_RC" = 0

# ---- a restart delivers the queue ----
start_sink second ok
write_conf "http://127.0.0.1:$SINK_PORT/ingest" 2
start_daemon --config "$CONF" --root "$(tree $C)" --state-dir "$STATE"
wait_metric dmabufd_snapshot_pushes_total 2 15 || failc "the queue was not delivered within 15 s of the restart" \
        "$(tail -n 5 "$DAEMON_ERR")"
check "after a restart the queue left behind is delivered (2 pushes)" test "$(metric dmabufd_snapshot_pushes_total)" = 2
check "... each body gunzips to its snapshot" \
        sh -c "gzip -dc '$SINK_DIR/0.body' | cmp - '$STATE/${ids[3]}.json' && gzip -dc '$SINK_DIR/1.body' | cmp - '$STATE/${ids[4]}.json'"
check "... and the queue is empty" test -z "$(queued)"

# ---- the bound in bytes ----
stop_sink
write_conf "http://127.0.0.1:$SINK_PORT/ingest" 100 64K
kill -HUP "$DAEMON_PID"
for ((i = 0; i < 100; i++)); do [ "$(grep -c 'configuration reloaded' "$DAEMON_ERR")" -ge 1 ] && break; sleep 0.1; done
dropped0=$(metric dmabufd_snapshot_push_dropped_total)
ids=()
for ((i = 0; i < 14; i++)); do
        post
        [ "$HTTP_CODE" = 201 ] && ids+=("$POST_ID")
done
size=$(stat -c %s "$STATE/${ids[0]}.json")
note "14 snapshots of about $size bytes against a 64K bound"
# Settled: the queue's entries are the newest, and no more are dropped.
for ((i = 0; i < 100; i++)); do
        [ "$(queued | wc -l)" = "$(metric dmabufd_snapshot_push_queue)" ] && break
        sleep 0.1
done
left=$(queued | wc -l)
bytes=$(cd "$STATE/push" && cat -- *.json | wc -c)
dropped=$(( $(metric dmabufd_snapshot_push_dropped_total) - dropped0 ))
check "snapshot_push_queue_max_bytes = 64K: the queue holds $bytes bytes ($left snapshots)" test "$bytes" -le 65536
check "... and one more would not fit" test $((bytes + size)) -gt 65536
# The push in flight (to the stopped sink) is never dropped, so one older
# snapshot may hold the place of the oldest of the newest.
missing=$(comm -23 <(printf '%s\n' "${ids[@]:$((14 - left + 1))}" | sort) <(queued | sort))
strays=$(comm -13 <(printf '%s\n' "${ids[@]}" | sort) <(queued | sort))
check "... the newest $((left - 1)) of the 14 are queued, and nothing but the 14 (missing: ${missing:-none}; strays: ${strays:-none})" \
        test -z "$missing" -a -z "$strays"
check "... each one dropped counted ($dropped)" test "$dropped" = $((14 - left))

# ---- a bad URL on reload ----
write_conf "gopher://127.0.0.1/"
kill -HUP "$DAEMON_PID"
for ((i = 0; i < 100; i++)); do grep -q 'reload failed' "$DAEMON_ERR" && break; sleep 0.1; done
check "a reload with a gopher:// URL is refused with file:line" \
        grep -qF "reload failed, keeping the running configuration: $CONF:5: invalid snapshot_push 'gopher://127.0.0.1/'" "$DAEMON_ERR"
stop_daemon
stop_sink

finish
