#!/bin/bash
# Events and snapshots end to end: an OOM kill fed through a FIFO at
# <root>/dev/kmsg takes a snapshot that names the victim with the buffers the
# `before` state says it held; POST answers 201 with Location and the GET lists
# it; cooldowns answer 429; ids that could leave the store give 400; SIGUSR1
# takes one; retention holds its bound; a restart keeps the listing, and a
# corrupt file is skipped, never served.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
ROOT="$TMP/root"
cp -a "$(tree $C)" "$ROOT"
mkdir -p "$ROOT/dev" "$ROOT/proc/pressure"
cp "$SRC_FIXTURES/pressure/meminfo-6.1.txt" "$ROOT/proc/meminfo"
cp "$SRC_FIXTURES/pressure/pressure-memory-busy.txt" "$ROOT/proc/pressure/memory"
mkfifo "$ROOT/dev/kmsg"
[ -s "$ROOT/proc/meminfo" ] || fail "fixture $SRC_FIXTURES/pressure/meminfo-6.1.txt is missing"
STATE="$TMP/state"
CONF="$TMP/dmabufd.conf"
cat >"$CONF" <<EOF
interval = 0.5
cooldown_manual = 2
cooldown_oom_kill = 0
snapshot_max_count = 4
psi_trigger =

EOF

# The victim: a process of the tree that holds buffers, by the expected JSON.
VPID=$(jq -r '[.processes[] | select((.buffers | length) > 0)][0].pid' "$(expected $C)")
VCOMM=$(jq -r --argjson p "$VPID" '.processes[] | select(.pid == $p) | .comm' "$(expected $C)")
VBUFS=$(jq -c --argjson p "$VPID" '.processes[] | select(.pid == $p) | .buffers | sort' "$(expected $C)")
VRSS=$(jq -r --argjson p "$VPID" '.processes[] | select(.pid == $p) | .rss_bytes' "$(expected $C)")
note "victim: pid $VPID ($VCOMM), buffers $VBUFS, rss $VRSS"

start_daemon --config "$CONF" --root "$ROOT" --state-dir "$STATE"

snapshots_at_least() { # N: dmabufd_snapshots_total >= N
        local n
        n=$(curl -sS --max-time 5 --noproxy '*' "$BASE/metrics" 2>/dev/null | awk '$1 == "dmabufd_snapshots_total" { print $2; exit }')
        [ -n "$n" ] && [ "$n" -ge "$1" ]
}
list_ids() { # the listed ids, one per line, in the listed order
        fetch "$BASE/api/v1/snapshots"
        jq -r '.[].id' "$TMP/b"
}
wait_count() { # N: until the list has N entries (at most 10 s)
        local i
        for ((i = 0; i < 100; i++)); do
                [ "$(list_ids | wc -l)" -ge "$1" ] && return 0
                sleep 0.1
        done
        return 1
}

fetch "$BASE/api/v1/snapshots"
check "the list starts empty" test "$(cat "$TMP/b")" = "[]"
fetch "$BASE/metrics"
check "dmabufd_source_up{source=\"kmsg\"} is 1 with a FIFO at dev/kmsg" \
        test "$(metric_value "$TMP/b" 'dmabufd_source_up{source="kmsg"}')" = 1

# A userspace record (facility 1) claiming a kill, then garbage, then the
# kernel's real report.
{
        printf '14,1500,4120000,-;Out of memory: Killed process %s (%s) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n' "$VPID" "$VCOMM"
        printf 'this is not a kmsg record\n'
        printf '6,1560,4131201,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/user.slice,task=%s,pid=%s,uid=1000\n' "$VCOMM" "$VPID"
        printf '3,1561,4131230,-;Out of memory: Killed process %s (%s) total-vm:238776kB, anon-rss:237556kB, file-rss:4kB, shmem-rss:648kB, UID:1000 pgtables:500kB oom_score_adj:0\n' "$VPID" "$VCOMM"
} >"$ROOT/dev/kmsg"
wait_count 1 || failc "no snapshot within 10 s of the OOM line" "$(tail -5 "$DAEMON_ERR")"
ID=$(list_ids | head -n 1)
fetch_snapshot "$ID" || failc "snapshot $ID still partial after 10 s"
S="$TMP/oom.json"
cp "$TMP/b" "$S"
check "GET /api/v1/snapshots/<id> answers 200 with JSON" test "$HTTP_CODE" = 200 -a "$CTYPE" = application/json
check "schema is dmabufd.snapshot/1 and the id matches" \
        jq -e --arg id "$ID" '.schema == "dmabufd.snapshot/1" and .id == $id' "$S"
check "the trigger is an oom_kill naming the victim" \
        jq -e --argjson p "$VPID" --arg c "$VCOMM" '.trigger.kind == "oom_kill" and .trigger.pid == $p and .trigger.comm == $c' "$S"
check "the trigger carries what 'before' says the victim held: its buffers" \
        jq -e --argjson b "$VBUFS" '([.trigger.buffers[].inode] | sort) == $b and .trigger.in_before == true' "$S"
check "... and its dma-buf rss, equal to the before state's" \
        jq -e --argjson p "$VPID" --argjson r "$VRSS" \
        '.trigger.rss_bytes == $r and ((.before.processes[] | select(.pid == $p) | .rss_bytes) == $r)' "$S"
check "the trigger carries the kernel's own lines and the oom-kill summary fields" \
        jq -e '(.trigger.line | contains("oom-kill:constraint=CONSTRAINT_NONE")) and (.trigger.line | contains("Killed process"))
               and .trigger.oom.constraint == "CONSTRAINT_NONE" and .trigger.oom.task_memcg == "/user.slice"
               and .trigger.oom.anon_rss_bytes == 243257344 and .trigger.oom.uid == 1000' "$S"
check "before and state are both full state objects" \
        jq -e '(.before.processes | length) > 0 and (.state.processes | length) > 0 and .before.totals.bytes == .state.totals.bytes' "$S"
check "memory carries meminfo in bytes and PSI" \
        jq -e '.memory.meminfo.MemTotal > 0 and (.memory.meminfo.MemTotal % 1024) == 0 and .memory.psi.some.avg10 != null' "$S"
fetch "$BASE/metrics"
check "the forged userspace record was not an event: oom_kill events = 1" \
        test "$(metric_value "$TMP/b" 'dmabufd_events_total{kind="oom_kill"}')" = 1
check "dmabufd_snapshots_total = 1" test "$(metric_value "$TMP/b" dmabufd_snapshots_total)" = 1

# POST: 201, Location, the summary; then listed first.
fetch -X POST "$BASE/api/v1/snapshots"
# The manual cooldown (2 s) runs from this snapshot, so it has passed for sure
# 2 s after its answer came.
cooldown_end_ms=$(($(date +%s%3N) + 2000))
check "POST /api/v1/snapshots answers 201" test "$HTTP_CODE" = 201
LOC=$(header location)
MID=$(jq -r .id "$TMP/b")
check "Location names the new snapshot" test "$LOC" = "/api/v1/snapshots/$MID"
check "the body is the summary {id, taken_at, trigger{kind}, bytes}" \
        jq -e '.trigger.kind == "manual" and (.bytes > 0) and (.taken_at | test("Z$"))' "$TMP/b"
check "the list names it first (newest first)" test "$(list_ids | head -n 1)" = "$MID"
fetch "$BASE$LOC"
check "GET Location answers 200 with that snapshot" jq -e --arg id "$MID" '.id == $id and .trigger.origin == "http 127.0.0.1"' "$TMP/b"

fetch -X POST "$BASE/api/v1/snapshots"
check "a second POST inside the manual cooldown answers 429" test "$HTTP_CODE" = 429
check "... with Retry-After" test -n "$(header retry-after)"
check "... and a JSON error" jq -e '.error | length > 0' "$TMP/b"

# Ids that could name a path outside the store: 400, never opened.
printf '{"secret": true}\n' >"$TMP/secret.json"
for bad in "..%2f..%2fsecret" "..%2Fsecret" "../secret" ".hidden" "a%2fb" "%2e%2e"; do
        fetch --path-as-is "$BASE/api/v1/snapshots/$bad"
        check "GET /api/v1/snapshots/$bad answers 400" test "$HTTP_CODE" = 400
done
fetch "$BASE/api/v1/snapshots/20000101T000000.000Z-manual"
check "an unknown id answers 404" test "$HTTP_CODE" = 404
fetch -X DELETE "$BASE/api/v1/snapshots"
check "DELETE on the list answers 405 naming GET, HEAD, POST" test "$HTTP_CODE" = 405 -a "$(header allow)" = "GET, HEAD, POST"

# SIGUSR1, once the manual cooldown has passed: the condition is the clock.
past_cooldown() { [ "$(date +%s%3N)" -gt "$cooldown_end_ms" ]; }
wait_until 5 past_cooldown || fail "the clock did not pass the manual cooldown's end within 5 s"
n=$(list_ids | wc -l)
kill -USR1 "$DAEMON_PID"
wait_count $((n + 1)) || failc "no snapshot within 10 s of SIGUSR1"
fetch_snapshot "$(list_ids | head -n 1)"
check "SIGUSR1 takes a manual snapshot with origin SIGUSR1" jq -e '.trigger.kind == "manual" and .trigger.origin == "SIGUSR1"' "$TMP/b"

# The POST inside the cooldown was counted and rides along in this snapshot.
check "the suppressed manual request is attached to the next snapshot" \
        jq -e '.suppressed.by_kind.manual >= 1' "$TMP/b"

# Retention: snapshot_max_count = 4, kills without cooldown.
for ((k = 0; k < 4; k++)); do
        printf '3,%d,4131230,-;Out of memory: Killed process %s (%s) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n' $((1600 + k)) "$VPID" "$VCOMM" >"$ROOT/dev/kmsg"
        # each kill's snapshot is taken before the next kill is written
        wait_until 10 snapshots_at_least $((4 + k)) || failc "no snapshot within 10 s of kill $((k + 1)) of 4"
done
fetch "$BASE/metrics"
check "seven snapshots were taken" test "$(metric_value "$TMP/b" dmabufd_snapshots_total)" = 7
check "the list holds the bound, 4" test "$(list_ids | wc -l)" = 4
check "the directory holds 4 snapshot files" test "$(find "$STATE" -maxdepth 1 -name '*.json' | wc -l)" = 4
check "the first snapshot (the oldest) went first" test -z "$(list_ids | grep -x "$ID")"
list_ids >"$TMP/ids.before"

# Restart: same listing; a corrupt and a truncated file are skipped.
stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" = 0
NEWEST=$(head -n 1 "$TMP/ids.before")
head -c 200 "$STATE/$NEWEST.json" >"$STATE/20991231T000000.000Z-manual.json"
printf 'garbage\n' >"$STATE/20991231T000001.000Z-oom_kill.json"
start_daemon --config "$CONF" --root "$ROOT" --state-dir "$STATE"
list_ids >"$TMP/ids.after"
check "a restart keeps the listing" diff "$TMP/ids.before" "$TMP/ids.after"
check "the truncated file is reported by name" grep -q "20991231T000000.000Z-manual.json" "$DAEMON_ERR"
fetch "$BASE/api/v1/snapshots/20991231T000000.000Z-manual"
check "the truncated file is never served (404)" test "$HTTP_CODE" = 404
fetch_snapshot "$NEWEST"
check "a kept snapshot is served whole after the restart" jq -e --arg id "$NEWEST" '.id == $id and (.state.processes | length) > 0' "$TMP/b"

stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" = 0
finish
