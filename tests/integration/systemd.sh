#!/bin/bash
# dmabufd as a systemd service, tested without a running systemd:
# - the units pass `systemd-analyze verify`, and `systemd-analyze security
#   --offline=true` scores the service at 2.0 or below (systemd-oomd's score);
# - the journal catalog compiles and lists every MESSAGE_ID;
# - systemd-socket-activate hands dmabufd a socket and curl gets answers on it;
# - a listener on NOTIFY_SOCKET sees READY=1 and STATUS=, then WATCHDOG=1 at the
#   cadence WATCHDOG_USEC asks for, RELOADING=1 and READY=1 around SIGHUP (a
#   valid file and an invalid one), and STOPPING=1;
# - SIGTERM exits 0 within 1 s, with an idle connection open and a snapshot
#   just taken, and leaves no half-written snapshot.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
: "${top_builddir:?top_builddir must name the build tree}"
: "${top_srcdir:?top_srcdir must name the source tree}"
LISTEN="$top_builddir/tests/helpers/dgram-listen"
[ -x "$LISTEN" ] || fail "$LISTEN is not built"
for t in systemd-analyze systemd-socket-activate journalctl; do
        command -v $t >/dev/null || fail "$t is missing (Debian package systemd)"
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- the units ----
UNITS="$TMP/units"
mkdir -p "$UNITS"
# The built service names the installed binary; verify needs one that exists.
sed "s|^ExecStart=.*/dmabufd|ExecStart=$DMABUFD|" "$top_builddir/systemd/dmabufd.service" >"$UNITS/dmabufd.service"
cp "$top_srcdir/systemd/dmabufd.socket" "$UNITS/dmabufd.socket"
check "the built unit runs the installed binary" \
        grep -Eq '^ExecStart=/.*/sbin/dmabufd$' "$top_builddir/systemd/dmabufd.service"
# --man=no: the man pages are not installed where man(1) looks, yet.
out=$(cd "$UNITS" && systemd-analyze verify --man=no "$UNITS/dmabufd.service" "$UNITS/dmabufd.socket" 2>&1)
rc=$?
if [ $rc = 0 ] && [ -z "$out" ]; then
        pass "systemd-analyze verify passes dmabufd.service and dmabufd.socket without a word"
else
        failc "systemd-analyze verify passes dmabufd.service and dmabufd.socket without a word" "exit $rc" "$out"
fi

sec=$(systemd-analyze security --offline=true "$UNITS/dmabufd.service" 2>&1)
score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for dmabufd.service: \([0-9.]*\).*/\1/p')
note "systemd-analyze security: ${score:-no score}"
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
        pass "systemd-analyze security --offline=true scores the service $score, at most 2.0"
else
        failc "systemd-analyze security --offline=true scores the service at most 2.0" "score '$score'" \
                "$(printf '%s\n' "$sec" | grep '✗')"
fi
for want in 'Type=notify' 'WatchdogSec=' 'Restart=on-failure' 'OOMScoreAdjust=-900' 'MemoryMin=' 'MemoryLow=' \
        'StateDirectory=dmabufd' 'ConfigurationDirectory=dmabufd' 'DeviceAllow=/dev/kmsg r' 'ProtectProc=invisible' \
        'CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_SYSLOG'; do
        check "the service sets $want" grep -q "^$want" "$UNITS/dmabufd.service"
done

# ---- the journal catalog ----
CROOT="$TMP/catalog-root"
mkdir -p "$CROOT/usr/lib/systemd/catalog" "$CROOT/var/lib/systemd/catalog"
cp "$top_srcdir/catalog/dmabufd.catalog" "$CROOT/usr/lib/systemd/catalog/"
journalctl --root="$CROOT" --update-catalog >"$TMP/catalog.out" 2>&1
list=$(journalctl --root="$CROOT" --list-catalog 2>&1)
for id in $(sed -n 's/^#define DMABUFD_MESSAGE_[A-Z_]* "\([0-9a-f]*\)"$/\1/p' "$top_srcdir/daemon/util/log.h"); do
        check "the catalog explains MESSAGE_ID $id" grep -q "^$id dmabufd: " <<<"$list"
done
check "log.h defines the four MESSAGE_IDs" test "$(grep -c '^#define DMABUFD_MESSAGE_' "$top_srcdir/daemon/util/log.h")" = 4

# ---- socket activation ----
CONF="$TMP/dmabufd.conf"
printf 'interval = 0.5\npsi_trigger =\ncooldown_manual = 0\n' >"$CONF"
SPORT=$(free_port) || fail "no free port"
OPORT=$(free_port) || fail "no free port"
mkdir -p "$TMP/sa-state"
# Without --accept it waits for the first connection, then execs dmabufd with
# the socket as fd 3: the same pid from then on.
systemd-socket-activate -l "127.0.0.1:$SPORT" "$DMABUFD" --config "$CONF" --root "$(tree $C)" \
        --state-dir "$TMP/sa-state" --listen "127.0.0.1:$OPORT" </dev/null >"$TMP/sa.out" 2>"$TMP/sa.err" &
SA_PID=$!
DAEMON_PIDS+=("$SA_PID")
wait_for_line "$TMP/sa.err" "Listening on 127.0.0.1:$SPORT" 10 || failc "systemd-socket-activate did not listen" "$(cat "$TMP/sa.err")"
# The first connection waits in the backlog while dmabufd starts.
fetch "http://127.0.0.1:$SPORT/healthz"
check "the first request on the passed socket is answered 200" test "$HTTP_CODE" = 200
fetch "http://127.0.0.1:$SPORT/metrics"
check "GET /metrics through the passed socket answers 200 with dmabuf_bytes" \
        test "$HTTP_CODE" = 200 -a -n "$(metric_value "$TMP/b" dmabuf_bytes)"
fetch -X POST "http://127.0.0.1:$SPORT/api/v1/snapshots"
check "POST /api/v1/snapshots through the passed socket answers 201" test "$HTTP_CODE" = 201
check "dmabufd says it serves the socket systemd passed" grep -q "socket activation: serving on 1 socket from systemd" "$TMP/sa.err"
check "dmabufd runs as the pid systemd-socket-activate started" grep -q dmabufd "/proc/$SA_PID/comm"
check "the configured listen address was not bound" \
        sh -c "! (exec 3<>/dev/tcp/127.0.0.1/$OPORT) 2>/dev/null"
stop_daemon "$SA_PID"
check "the socket-activated daemon exits 0 on SIGTERM" test "$DAEMON_RC" = 0

# A passed fd that is not a listening TCP socket is refused, naming it.
bash -c 'export LISTEN_PID=$$ LISTEN_FDS=1; exec 3<"$1"; exec "$2" --config "$3" --root "$4" --state-dir "$5"' \
        _ "$CONF" "$DMABUFD" "$CONF" "$(tree $C)" "$TMP/sa-state" </dev/null >/dev/null 2>"$TMP/badfd.err"
rc=$?
check "LISTEN_FDS naming a plain file exits 1 (got $rc)" test $rc = 1
check "the error names fd 3" grep -q "socket activation: fd 3 is not a listening TCP socket" "$TMP/badfd.err"

# ---- sd_notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING ----
NOTIFY="$TMP/notify.sock"
"$LISTEN" "$NOTIFY" 60 >"$TMP/notify.log" 2>"$TMP/notify.err" &
EXTRA_PIDS+=($!)
for ((i = 0; i < 50; i++)); do [ -S "$NOTIFY" ] && break; sleep 0.1; done
[ -S "$NOTIFY" ] || fail "the notify listener did not bind: $(cat "$TMP/notify.err")"

export NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=2000000
start_daemon --config "$CONF" --root "$(tree $C)"
unset NOTIFY_SOCKET WATCHDOG_USEC
wait_for_line "$TMP/notify.log" ' READY=1' 10
check "READY=1 is sent" grep -q ' READY=1' "$TMP/notify.log"
# READY=1 means the first collection is done and the socket listens.
ready_line=$(grep -n ' READY=1' "$TMP/notify.log" | head -n 1 | cut -d: -f1)
status_line=$(grep -n ' STATUS=[0-9]* buffers' "$TMP/notify.log" | head -n 1 | cut -d: -f1)
check "a STATUS= summary of the first collection comes no later than READY=1" \
        test -n "$status_line" -a -n "$ready_line" -a "${status_line:-0}" -le "${ready_line:-0}"
check "STATUS= says buffers, MiB, kernel-only, processes and snapshots" \
        grep -Eq ' STATUS=[0-9]+ buffers, [0-9.]+ MiB \([0-9.]+ MiB kernel-only\) in [0-9]+ processes; [0-9]+ snapshots' \
        "$TMP/notify.log"
fetch "$BASE/healthz"
check "HTTP answers once READY=1 was sent" test "$HTTP_CODE" = 200

# The 5 s after READY=1 are judged once a ping at least 5 s after it came (or
# 8 s passed: then the count and gaps below fail, naming what was seen).
ready_ms=$(awk '/ READY=1/ { print $1; exit }' "$TMP/notify.log")
ping_after() { awk -v t="$1" '$2 == "WATCHDOG=1" && $1 >= t { ok = 1 } END { exit !ok }' "$TMP/notify.log"; }
wait_until 8 ping_after $((ready_ms + 5000))
pings=$(awk -v r="$ready_ms" '$2 == "WATCHDOG=1" && $1 >= r && $1 < r + 5000 { print $1 }' "$TMP/notify.log")
n_pings=$(printf '%s\n' "$pings" | grep -c .)
# The gaps between pings, and from READY=1 to the first one.
max_gap=$(printf '%s\n%s\n' "$ready_ms" "$pings" | awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { print m + 0 }')
note "$n_pings WATCHDOG=1 in the 5 s after READY=1, largest gap $max_gap ms (WATCHDOG_USEC=2000000)"
check "WATCHDOG=1 comes at least 4 times in 5 s with WATCHDOG_USEC=2 s ($n_pings in 5 s)" test "$n_pings" -ge 4
check "no two pings are further apart than WATCHDOG_USEC (largest gap $max_gap ms)" test "$max_gap" -lt 2000
check "the daemon logs that the watchdog is on" grep -q "service watchdog on: WatchdogSec=2.0 s" "$DAEMON_ERR"

# SIGHUP, valid: RELOADING=1, then READY=1 again; the listener stays.
reloaded_since() { # LINE: notify.log has RELOADING=1 then READY=1 after line LINE
        tail -n +$(($1 + 1)) "$TMP/notify.log" |
                awk '/RELOADING=1/ { r = NR } / READY=1/ && r && NR > r { ok = 1 } END { exit !ok }'
}
printf 'interval = 0.5\npsi_trigger =\ncooldown_manual = 0\ntop_processes = 1\n' >"$CONF"
mark=$(wc -l <"$TMP/notify.log")
kill -HUP "$DAEMON_PID"
wait_for_line "$DAEMON_ERR" "configuration reloaded" 10
wait_until 10 reloaded_since "$mark"
after=$(tail -n +$((mark + 1)) "$TMP/notify.log")
check "a valid reload sends RELOADING=1 then READY=1" \
        awk '/RELOADING=1/ { r = NR } / READY=1/ && r && NR > r { ok = 1 } END { exit !ok }' <<<"$after"
fetch "$BASE/healthz"
check "the listener answers after a valid reload" test "$HTTP_CODE" = 200

# SIGHUP, invalid: reported with file and line; READY=1 with the old one in force.
printf 'interval = 0.5\nnonsense here\n' >"$CONF"
mark=$(wc -l <"$TMP/notify.log")
kill -HUP "$DAEMON_PID"
wait_for_line "$DAEMON_ERR" "reload failed" 10
wait_until 10 reloaded_since "$mark"
after=$(tail -n +$((mark + 1)) "$TMP/notify.log")
check "an invalid file is reported with its file and line" grep -q "reload failed, keeping the running configuration: $CONF:2" "$DAEMON_ERR"
check "an invalid reload still ends with READY=1" \
        awk '/RELOADING=1/ { r = NR } / READY=1/ && r && NR > r { ok = 1 } END { exit !ok }' <<<"$after"
fetch "$BASE/metrics"
check "the previous configuration stays in force (one process series)" \
        test "$(series_count "$TMP/b" dmabuf_process_rss_bytes)" = 1

# ---- SIGTERM: within 1 s, exit 0, nothing half-written ----
# An idle keep-alive connection must not hold the exit up.
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
fetch -X POST "$BASE/api/v1/snapshots"
check "a snapshot is taken just before SIGTERM" test "$HTTP_CODE" = 201
STATE="$TMP/state.$DAEMON_SEQ" # start_daemon's scratch state directory
# A second one asked for at the same moment as SIGTERM: either taken whole or not at all.
t0=$(now_ms)
kill -USR1 "$DAEMON_PID"
kill -TERM "$DAEMON_PID"
for ((i = 0; i < 100; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.01; done
t1=$(now_ms)
stop_daemon
exec 5<&-
note "exited $((t1 - t0)) ms after SIGTERM"
check "SIGTERM exits with status 0 (got $DAEMON_RC)" test "$DAEMON_RC" = 0
check "SIGTERM exits within 1 s ($((t1 - t0)) ms)" test $((t1 - t0)) -le 1000
check "STOPPING=1 is sent on the way out" grep -q 'STOPPING=1' "$TMP/notify.log"
check "no temporary file is left in the state directory" \
        test -z "$(find "$STATE" -name '.*.tmp-*' -print)"
bad=0
for f in "$STATE"/*.json; do
        jq -e '(.partial | not) and .state != null' "$f" >/dev/null 2>&1 || bad=$((bad + 1))
done
check "every snapshot on disk is complete ($(ls "$STATE" | wc -l) files)" test "$bad" = 0

finish
