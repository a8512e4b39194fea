#!/bin/bash
# Snapshot writes that fail: a full disk (a real tiny tmpfs, in a mount
# namespace of the daemon's own) is counted, answered with an error, and costs
# nothing already stored; a daemon killed with SIGKILL while writing never
# leaves a file that lists as valid, and never loses one it answered 201 for.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
        echo "SKIP: mounting a tiny tmpfs needs root and unshare(1)"
        exit 77
fi

# ---- ENOSPC ----
SMALL="$TMP/small"
mkdir -p "$SMALL"
CONF="$TMP/enospc.conf"
printf 'interval = 5\ncooldown_manual = 0\nsnapshot_max_count = 1000\nsnapshot_max_bytes = 1G\npsi_trigger =\n' >"$CONF"
# The mount lives and dies with the daemon's namespace; the daemon is the
# shell's exec, so DAEMON_PID is the daemon.
DAEMON_WRAPPER=(unshare -m --propagation private /bin/sh -c 'mount -t tmpfs -o size=64k tmpfs "$0" && exec "$@"' "$SMALL")
start_daemon --config "$CONF" --root "$(tree $C)" --state-dir "$SMALL/state"
DAEMON_WRAPPER=()
in_ns() { nsenter -t "$DAEMON_PID" -m "$@"; }

# A POST answers 201 once the first part of a snapshot is stored; if the disk
# fills before the complete one replaces it, the first part stays, listed, and
# the completion counts as a failure. A 500 means not even the first part fit.
created=()
failed=0
for ((i = 0; i < 60 && failed == 0; i++)); do
        fetch -X POST "$BASE/api/v1/snapshots"
        case $HTTP_CODE in
        201) created+=("$(jq -r .id "$TMP/b")") ;;
        500) failed=1 ;;
        *) failc "POST answered $HTTP_CODE" "$(cat "$TMP/b")"; break ;;
        esac
done
note "${#created[@]} snapshots fit before the disk was full"
check "snapshots were stored until the 64 KiB filesystem filled" test "${#created[@]}" -ge 2
check "the write that hit the full disk answered 500" test "$failed" = 1
check "the error says the disk is full" grep -q "No space left on device" "$TMP/b"
check "the daemon logged it" grep -q "failed to store snapshot.*No space left on device" "$DAEMON_ERR"
check "the daemon is still running" kill -0 "$DAEMON_PID"
fetch "$BASE/metrics"
check "/metrics still answers" test "$HTTP_CODE" = 200
check "dmabufd_snapshot_failures_total counts it" test "$(metric_value "$TMP/b" dmabufd_snapshot_failures_total)" -ge 1
check "dmabufd_snapshots_total counts the stored ones" \
        test "$(metric_value "$TMP/b" dmabufd_snapshots_total)" = "${#created[@]}"
fetch "$BASE/api/v1/snapshots"
check "every stored snapshot is still listed" test "$(jq length "$TMP/b")" = "${#created[@]}"
bad=0
for id in "${created[@]}"; do
        fetch "$BASE/api/v1/snapshots/$id"
        jq -e --arg id "$id" '.id == $id and .before != null and (.state != null or .partial == true)' "$TMP/b" \
                >/dev/null 2>&1 || bad=$((bad + 1))
done
check "every stored snapshot is served whole (complete, or its first part where the disk filled)" test "$bad" = 0
check "no temp file is left in the state directory" test -z "$(in_ns ls -A "$SMALL/state" | grep -v '\.json$')"
stop_daemon
check "SIGTERM exits 0 after the disk-full errors" test "$DAEMON_RC" = 0

# ---- SIGKILL while writing ----
STATE="$TMP/state-kill"
CONF="$TMP/kill.conf"
printf 'interval = 5\ncooldown_manual = 0\nsnapshot_max_count = 1000\npsi_trigger =\n' >"$CONF"
left_temp=0
stale_temp=0
temps=
for ((round = 0; round < 12; round++)); do
        start_daemon --config "$CONF" --root "$(tree $C)" --state-dir "$STATE"
        # A start removes the temp files the previous kill left.
        for t in $temps; do [ -e "$STATE/$t" ] && stale_temp=$((stale_temp + 1)); done
        for ((k = 0; k < 3; k++)); do
                curl -s --max-time 5 -o "$TMP/post.$round.$k" -w '%{http_code}' -X POST "$BASE/api/v1/snapshots" \
                        >"$TMP/post.$round.$k.code" &
                EXTRA_PIDS+=($!)
        done
        if [ $round = 11 ]; then
                # The last round kills only after every answer: on a loaded
                # machine every earlier kill may land before any write ends,
                # and the checks below need at least one acknowledged snapshot.
                wait "${EXTRA_PIDS[@]}" 2>/dev/null
        else
                # From at once to a few milliseconds in: before, during and after writes.
                sleep "0.00$((round % 10))"
        fi
        kill -KILL "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null
        temps=$(ls -A "$STATE" 2>/dev/null | grep -v '\.json$')
        [ -n "$temps" ] && left_temp=$((left_temp + 1))
        DAEMON_PIDS=()
        wait 2>/dev/null
        EXTRA_PIDS=()
done
note "$left_temp of 12 kills landed while a temp file existed"
check "each start removed the temp files the kill before it left ($left_temp kills left some)" test "$stale_temp" = 0
# The restart's clean-up is checked whatever the kills' timing: when the last
# kill did not land mid-write, a temp file as a killed write leaves it
# (".<id>.tmp-XXXXXX", half a snapshot) is put there.
if [ -z "$temps" ]; then
        some=$(ls "$STATE" | sed -n 's/\.json$//p' | head -n 1)
        [ -n "$some" ] || fail "no snapshot file in $STATE after 12 rounds"
        head -c 100 "$STATE/$some.json" >"$STATE/.$some.tmp-Kill01"
        note "the last kill left no temp file: .$some.tmp-Kill01 planted"
fi
check "a temp file is in the state directory before the restart" test -n "$(ls -A "$STATE" | grep -v '\.json$')"
# A 201 is a promise: that snapshot is on disk and survives the kill.
acked=()
for f in "$TMP"/post.*.code; do
        [ "$(cat "$f")" = 201 ] || continue
        id=$(jq -r '.id // empty' "${f%.code}" 2>/dev/null)
        [ -n "$id" ] && acked+=("$id")
done
note "${#acked[@]} snapshots acknowledged with 201 before their daemon was killed"
start_daemon --config "$CONF" --root "$(tree $C)" --state-dir "$STATE"
fetch "$BASE/api/v1/snapshots"
cp "$TMP/b" "$TMP/list.json"
n=$(jq length "$TMP/list.json")
note "$n snapshots listed after 12 kills"
check "the round that waited for its answers had its three snapshots acknowledged" \
        test "$(cat "$TMP"/post.11.[012].code)" = 201201201
lost=0
for id in "${acked[@]}"; do
        jq -e --arg id "$id" 'any(.[]; .id == $id)' "$TMP/list.json" >/dev/null || { lost=$((lost + 1)); echo "# acknowledged but not listed: $id"; }
done
check "every snapshot acknowledged with 201 is listed after the kills (${#acked[@]})" test "$lost" = 0
bad=0
for id in $(jq -r '.[].id' "$TMP/list.json"); do
        fetch "$BASE/api/v1/snapshots/$id"
        if ! jq -e --arg id "$id" '.schema == "dmabufd.snapshot/1" and .id == $id' "$TMP/b" >/dev/null 2>&1; then
                bad=$((bad + 1))
                echo "# listed but not whole: $id"
        fi
done
check "every listed snapshot is whole JSON with its own id" test "$bad" = 0
unlisted=0
for f in "$STATE"/*.json; do
        [ -e "$f" ] || continue
        id=$(basename "$f" .json)
        jq -e --arg id "$id" '.[] | select(.id == $id)' "$TMP/list.json" >/dev/null || unlisted=$((unlisted + 1))
done
check "no *.json file in the directory is left unlisted (writes are all-or-nothing)" test "$unlisted" = 0
check "the restart removed the temp files a kill left" test -z "$(ls -A "$STATE" | grep -v '\.json$')"
stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" = 0
finish
