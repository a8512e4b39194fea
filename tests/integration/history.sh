#!/bin/bash
# GET /api/v1/history: one point per collection with the totals, exporters and
# top processes of /api/v1/state; points= and since= select; bad parameters get
# a 400 naming the parameter and value; `history` bounds it, 0 turns it off,
# and an absurd value is refused with file:line.
. "$(dirname "$0")/lib.sh"

require_tree linux-6.1
C=linux-6.1
E=$(expected $C)

printf 'psi_trigger =\nhistory = 3\ninterval = 0.2\n' >"$TMP/h3.conf"
start_daemon --root "$(tree $C)" --config "$TMP/h3.conf"
wait_for_collections 5 20 || fail "fewer than 5 collections in 20 s"

fetch "$BASE/api/v1/history"
check "GET /api/v1/history is 200 application/json ($HTTP_CODE, $CTYPE)" \
        test "$HTTP_CODE" = 200 -a "${CTYPE%%;*}" = application/json
check "capacity is 3, as configured" jq -e '.capacity == 3' "$TMP/b"
check "history = 3 keeps 3 points after 5 collections ($(jq '.points | length' "$TMP/b"))" \
        jq -e '.points | length == 3' "$TMP/b"
check "points are oldest first" jq -e '[.points[].collected_at] | . == sort and (unique | length) == 3' "$TMP/b"
last=$(jq -c '.points[-1]' "$TMP/b")
check "a point's totals are the tree's ($(jq -c .totals <<<"$last"))" \
        jq -e --argjson p "$last" '.totals == $p.totals' "$E"
check "a point's exporters are the tree's" \
        jq -e --argjson p "$last" '[.exporters[] | {name, buffers, bytes}] == $p.exporters' "$E"
check "top_processes: the tree's processes by pss, largest first, at most 10" \
        jq -e --argjson p "$last" '
                ([.processes[] | {pid, comm, rss_bytes, pss_bytes}] | sort_by(-.pss_bytes, .pid) | .[:10])
                == $p.top_processes' "$E"

fetch "$BASE/api/v1/history?points=2"
check "points=2 gives the newest 2" jq -e '.points | length == 2' "$TMP/b"
newest=$(jq -r '.points[-1].collected_at' "$TMP/b")
oldest=$(jq -r '.points[0].collected_at' "$TMP/b")
fetch "$BASE/api/v1/history?since=$oldest"
check "since=$oldest gives the points after it ($(jq '.points | length' "$TMP/b"))" \
        jq -e --arg t "$oldest" '(.points | length) >= 1 and all(.points[]; .collected_at > $t)' "$TMP/b"
fetch "$BASE/api/v1/history?since=$newest&points=1"
check "since= the newest point gives at most the collections after it" \
        jq -e --arg t "$newest" 'all(.points[]; .collected_at > $t)' "$TMP/b"
fetch "$BASE/api/v1/history?since=0"
check "since=0 (epoch seconds) gives every point" jq -e '.points | length == 3' "$TMP/b"

bad_param() { # QUERY NEEDLE
        fetch "$BASE/api/v1/history?$1"
        if [ "$HTTP_CODE" = 400 ] && [[ $CTYPE == application/json* ]] &&
                jq -e --arg n "$2" '.error | contains($n)' "$TMP/b" >/dev/null 2>&1; then
                pass "?$1: 400 $(jq -c .error "$TMP/b")"
        else
                failc "?$1: 400 with a JSON error naming '$2'" "status $HTTP_CODE, body: $(head -c 300 "$TMP/b")"
        fi
}
bad_param "points=0" 'points="0"'
bad_param "points=abc" 'points="abc"'
bad_param "points=-5" 'points="-5"'
bad_param "points=100000" 'points="100000"'
bad_param "points=" "points needs a value"
bad_param "points" "points needs a value"
bad_param "since=yesterday" 'since="yesterday"'
bad_param "since=2026-01-02T03:04:05" 'since="2026-01-02T03:04:05"'
bad_param "points=1&points=2" "points given twice"
bad_param "limit=3" '"limit"'
bad_param "since=%3Cscript%3E" 'since="<script>"'
fetch -X POST "$BASE/api/v1/history"
check "POST /api/v1/history is 405 ($HTTP_CODE)" test "$HTTP_CODE" = 405

# SIGHUP resizes it, keeping the newest.
printf 'psi_trigger =\nhistory = 2\ninterval = 0.2\n' >"$TMP/h3.conf"
kill -HUP "$DAEMON_PID"
_two_points() {
        curl -sS --max-time 5 --noproxy '*' "$BASE/api/v1/history" | jq -e '.capacity == 2 and (.points | length) == 2' >/dev/null
}
check "after SIGHUP with history = 2: capacity 2, 2 points" wait_until 10 _two_points
stop_daemon

printf 'psi_trigger =\nhistory = 0\ninterval = 0.2\n' >"$TMP/h0.conf"
start_daemon --root "$(tree $C)" --config "$TMP/h0.conf"
wait_for_collections 2 20 || fail "fewer than 2 collections in 20 s"
fetch "$BASE/api/v1/history"
check "history = 0: 200 with capacity 0 and no points" jq -e '.capacity == 0 and .points == []' "$TMP/b"
stop_daemon

printf 'psi_trigger =\n\nhistory = 100000\n' >"$TMP/bad.conf"
"$DMABUFD" --config "$TMP/bad.conf" --root "$(tree $C)" --listen 127.0.0.1:0 --state-dir "$TMP" \
        </dev/null >/dev/null 2>"$TMP/bad.err"
rc=$?
if [ $rc = 2 ] && grep -q "$TMP/bad.conf:3" "$TMP/bad.err" && grep -q "100000" "$TMP/bad.err"; then
        pass "history = 100000 is refused with file:line: $(head -n 1 "$TMP/bad.err")"
else
        failc "history = 100000 is refused (exit 2) naming $TMP/bad.conf:3 and the value" "exit $rc: $(head -c 300 "$TMP/bad.err")"
fi

finish
