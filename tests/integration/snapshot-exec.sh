#!/bin/bash
# snapshot_exec: after each complete snapshot the program runs with the file and
# the trigger in its environment, its output logged line by line; a failing
# program and a hanging one (killed at snapshot_exec_timeout, with its process
# group) are counted in dmabufd_snapshot_exec_failures_total, and neither stops
# the daemon serving /metrics or taking the next snapshot; snapshots that come
# faster than the program runs wait, 4 at most, and the rest are counted; a
# program that is not an absolute executable path is refused at start-up and on
# reload with file:line.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
ROOT="$TMP/root"
cp -a "$(tree $C)" "$ROOT"
mkdir -p "$ROOT/dev"
mkfifo "$ROOT/dev/kmsg"
STATE="$TMP/state"
OUT="$TMP/exec"
mkdir -p "$OUT"

# Records its environment and its arguments, and writes to stdout and stderr.
cat >"$TMP/record.sh" <<EOF
#!/bin/sh
env | grep '^DMABUFD_' | sort >"$OUT/env.\$DMABUFD_SNAPSHOT_ID"
env | grep -E '^(NOTIFY_SOCKET|HOOK_TEST_MARKER)=' >"$OUT/other.\$DMABUFD_SNAPSHOT_ID"
echo "\$*" >"$OUT/args.\$DMABUFD_SNAPSHOT_ID"
test -f "\$DMABUFD_SNAPSHOT_FILE" && cp "\$DMABUFD_SNAPSHOT_FILE" "$OUT/copy.\$DMABUFD_SNAPSHOT_ID"
echo "recorded \$DMABUFD_SNAPSHOT_ID"
echo "a line on stderr" >&2
EOF
printf '#!/bin/sh\necho "about to fail"\nexit 3\n' >"$TMP/fail.sh"
# Hangs, with a child in its process group that must go with it.
cat >"$TMP/hang.sh" <<EOF
#!/bin/sh
sleep 300 &
echo \$! >"$OUT/hang-child.\$DMABUFD_SNAPSHOT_ID.pid"
echo "hanging"
sleep 300
EOF
# Waits (20 s at most) for the test to open its gate: snapshots pile up meanwhile.
cat >"$TMP/slow.sh" <<EOF
#!/bin/sh
echo "\$DMABUFD_SNAPSHOT_ID" >>"$OUT/slow.log"
i=0
while [ ! -e "$OUT/gate" ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i + 1)); done
EOF
chmod +x "$TMP/record.sh" "$TMP/fail.sh" "$TMP/hang.sh" "$TMP/slow.sh"

CONF="$TMP/dmabufd.conf"
write_conf() { # PROGRAM [TIMEOUT]
        cat >"$CONF" <<EOF
interval = 0.5
cooldown_manual = 0
cooldown_oom_kill = 0
psi_trigger =
snapshot_exec = $1
snapshot_exec_timeout = ${2:-20}
EOF
}

exec_failures() {
        curl -sS --max-time 5 --noproxy '*' "$BASE/metrics" 2>/dev/null |
                awk '$1 == "dmabufd_snapshot_exec_failures_total" { print $2; exit }'
}
wait_failures() { # N: until the counter is N (at most 15 s)
        local i
        for ((i = 0; i < 150; i++)); do
                [ "$(exec_failures)" = "$1" ] && return 0
                sleep 0.1
        done
        return 1
}
wait_file() { # FILE: until it exists (at most 10 s)
        local i
        for ((i = 0; i < 100; i++)); do
                [ -s "$1" ] && return 0
                sleep 0.1
        done
        return 1
}
reload() { # until the daemon has logged its Nth reload line
        local n i
        n=$(grep -c -E 'configuration reloaded|reload failed' "$DAEMON_ERR")
        kill -HUP "$DAEMON_PID"
        for ((i = 0; i < 100; i++)); do
                [ "$(grep -c -E 'configuration reloaded|reload failed' "$DAEMON_ERR")" -gt "$n" ] && return 0
                sleep 0.1
        done
        return 1
}
post() { # sets POST_ID
        fetch -X POST "$BASE/api/v1/snapshots"
        POST_ID=$(jq -r .id "$TMP/b" 2>/dev/null)
}

# ---- refused ----
write_conf "record.sh"
"$DMABUFD" --config "$CONF" --root "$ROOT" --state-dir "$STATE" --listen 127.0.0.1:0 >/dev/null 2>"$TMP/refused.err"
rc=$?
check "a relative program is refused at start-up (exit 2)" test $rc = 2
check "... naming the file and line" grep -qF "$CONF:5: invalid snapshot_exec 'record.sh': the program must be an absolute path" "$TMP/refused.err"
write_conf "$TMP/nonexistent --flag"
"$DMABUFD" --config "$CONF" --root "$ROOT" --state-dir "$STATE" --listen 127.0.0.1:0 >/dev/null 2>"$TMP/refused.err"
check "a missing program is refused, with file:line and why" grep -qF "$CONF:5: invalid snapshot_exec '$TMP/nonexistent --flag': $TMP/nonexistent: No such file or directory" "$TMP/refused.err"
write_conf "$CONF"
"$DMABUFD" --config "$CONF" --root "$ROOT" --state-dir "$STATE" --listen 127.0.0.1:0 >/dev/null 2>"$TMP/refused.err"
check "a file that is not executable is refused" grep -qF "$CONF is not an executable file" "$TMP/refused.err"

# ---- the environment, the output ----
write_conf "$TMP/record.sh one two"
# As a service manager starts it: NOTIFY_SOCKET is the daemon's alone.
DAEMON_WRAPPER=(env NOTIFY_SOCKET="$TMP/no-such-socket" HOOK_TEST_MARKER=kept)
start_daemon --config "$CONF" --root "$ROOT" --state-dir "$STATE"
DAEMON_WRAPPER=()
post
ID=$POST_ID
check "POST took a snapshot ($ID)" test "$HTTP_CODE" = 201
wait_file "$OUT/env.$ID" || failc "the program did not run within 10 s" "$(tail -n 5 "$DAEMON_ERR")"
check "it ran with the file, the id and the kind in its environment, and no victim" \
        diff <(printf 'DMABUFD_SNAPSHOT_FILE=%s\nDMABUFD_SNAPSHOT_ID=%s\nDMABUFD_TRIGGER_KIND=manual\nDMABUFD_VICTIM_COMM=\nDMABUFD_VICTIM_PID=\n' "$STATE/$ID.json" "$ID") "$OUT/env.$ID"
check "... with its arguments" test "$(cat "$OUT/args.$ID")" = "one two"
check "... after the snapshot was complete (the file it read is not partial)" \
        jq -e --arg id "$ID" '.id == $id and (.partial | not) and .state != null' "$OUT/copy.$ID"
for ((i = 0; i < 50; i++)); do grep -q 'a line on stderr' "$DAEMON_ERR" && break; sleep 0.1; done
check "its stdout and stderr are logged line by line" \
        sh -c "grep -qE '^dmabufd: snapshot_exec\[[0-9]+\]: recorded $ID\$' '$DAEMON_ERR' && grep -qE '^dmabufd: snapshot_exec\[[0-9]+\]: a line on stderr\$' '$DAEMON_ERR'"
check "... with the daemon's environment, less NOTIFY_SOCKET (the service manager's channel)" \
        test "$(cat "$OUT/other.$ID")" = "HOOK_TEST_MARKER=kept"

# An OOM kill: the victim's pid and comm.
VPID=$(jq -r '[.processes[] | select((.buffers | length) > 0)][0].pid' "$(expected $C)")
VCOMM=$(jq -r --argjson p "$VPID" '.processes[] | select(.pid == $p) | .comm' "$(expected $C)")
printf '3,1561,4131230,-;Out of memory: Killed process %s (%s) total-vm:238776kB, anon-rss:237556kB, file-rss:4kB, shmem-rss:648kB, UID:1000 pgtables:500kB oom_score_adj:0\n' \
        "$VPID" "$VCOMM" >"$ROOT/dev/kmsg"
KID=""
for ((i = 0; i < 100; i++)); do
        KID=$(cd "$OUT" && ls env.*oom_kill* 2>/dev/null | head -n 1)
        [ -n "$KID" ] && break
        sleep 0.1
done
check "an OOM kill's snapshot runs it with DMABUFD_VICTIM_PID=$VPID and DMABUFD_VICTIM_COMM=$VCOMM" \
        sh -c "test -n '$KID' && grep -qx 'DMABUFD_VICTIM_PID=$VPID' '$OUT/$KID' && grep -qx 'DMABUFD_VICTIM_COMM=$VCOMM' '$OUT/$KID' && grep -qx 'DMABUFD_TRIGGER_KIND=oom_kill' '$OUT/$KID'"
check "no failure counted so far" test "$(exec_failures)" = 0

# ---- a failing program ----
write_conf "$TMP/fail.sh"
reload || fail "no reload within 10 s"
post
wait_failures 1 || failc "a failing program was not counted within 15 s" "$(tail -n 5 "$DAEMON_ERR")"
check "a program that exits 3 is counted (dmabufd_snapshot_exec_failures_total 1)" test "$(exec_failures)" = 1
check "... and logged with its status and its output" \
        sh -c "grep -qE 'snapshot_exec\[[0-9]+\]: exited with status 3' '$DAEMON_ERR' && grep -q 'about to fail' '$DAEMON_ERR'"

# ---- a bad program on reload ----
write_conf "relative/program"
reload || fail "no reload within 10 s"
check "a reload with a relative program is refused with file:line" \
        grep -qF "reload failed, keeping the running configuration: $CONF:5: invalid snapshot_exec 'relative/program'" "$DAEMON_ERR"

# ---- a hanging program ----
write_conf "$TMP/hang.sh" 1
reload || fail "no reload within 10 s"
t0=$(date +%s%N)
post
HID=$POST_ID
wait_file "$OUT/hang-child.$HID.pid" || failc "the hanging program did not start within 10 s"
fetch "$BASE/metrics"
t1=$(date +%s%N)
check "while it hangs, /metrics answers ($(( (t1 - t0) / 1000000 )) ms after the POST)" test "$HTTP_CODE" = 200
post
ID2=$POST_ID
check "... and the next snapshot is taken (201)" test "$HTTP_CODE" = 201
wait_failures 2 || failc "the hanging program was not counted within 15 s" "$(tail -n 5 "$DAEMON_ERR")"
check "killed at the 1 s timeout and counted (dmabufd_snapshot_exec_failures_total 2)" \
        grep -qE 'snapshot_exec\[[0-9]+\]: killed after 1\.0 s \(timeout\)' "$DAEMON_ERR"
CHILD=$(cat "$OUT/hang-child.$HID.pid")
# alive PID: running, not a zombie (an orphan waits for whoever adopted it to reap it).
alive() {
        local state
        state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [ -n "$state" ] && [ "$state" != Z ]
}
for ((i = 0; i < 50; i++)); do alive "$CHILD" || break; sleep 0.1; done
check "... with its process group: its child $CHILD is gone too" sh -c "! test -d /proc/$CHILD || grep -q '^State:.*Z' /proc/$CHILD/status"
# The second snapshot's run hangs in turn; the 1 s timeout ends it as well.
wait_failures 3 || failc "the second hanging run was not counted within 15 s"
check "the snapshot taken meanwhile ($ID2) had its run too, killed in turn (failures 3)" test "$(exec_failures)" = 3

# ---- more snapshots than runs ----
write_conf "$TMP/slow.sh"
reload || fail "no reload within 10 s"
ids=()
for ((i = 0; i < 7; i++)); do
        post
        [ "$HTTP_CODE" = 201 ] && ids+=("$POST_ID")
done
check "7 snapshots taken while the first run waits" test "${#ids[@]}" = 7
touch "$OUT/gate"
wait_failures 5 || failc "the 2 snapshots beyond the queue were not counted within 15 s" "$(tail -n 5 "$DAEMON_ERR")"
check "one runs, 4 wait, 2 are not run for and counted (failures 3 + 2)" test "$(exec_failures)" = 5
check "... each said in the log" test "$(grep -c 'snapshot_exec not run for snapshot' "$DAEMON_ERR")" = 2
for ((i = 0; i < 150; i++)); do [ "$(wc -l <"$OUT/slow.log" 2>/dev/null)" -ge 5 ] && break; sleep 0.1; done
sleep_ok=$(wc -l <"$OUT/slow.log")
check "... and the 5 others ran, one at a time, in order ($sleep_ok runs)" \
        diff <(printf '%s\n' "${ids[@]:0:5}") "$OUT/slow.log"
fetch "$BASE/metrics"
check "the daemon still serves /metrics" test "$HTTP_CODE" = 200
stop_daemon
check "it stops with status 0" test "$DAEMON_RC" = 0

finish
