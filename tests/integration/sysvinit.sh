#!/bin/bash
# Without systemd as PID 1. First the daemon alone, with none of what systemd
# hands a service: no NOTIFY_SOCKET, no JOURNAL_STREAM, no watchdog, no
# socket activation, and (in a mount namespace of its own, when root) no
# journal socket at all under an empty /run. Its log is then plain lines on
# stderr, and it serves metrics, reloads and stops as usual.
#
# Then the LSB init script (etc/init.d/dmabufd, built from its .in) against a
# scratch tree: start (start-stop-daemon in the background, a pid file, the
# log in a file, READY=1 awaited), status, reload, a second start, restart,
# stop, status once stopped, and a start with a bad configuration that fails
# at once and leaves no pid file.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
: "${top_builddir:?top_builddir must name the build tree}"
INIT="$top_builddir/etc/init.d/dmabufd"
[ -x "$INIT" ] || fail "$INIT is not built"
command -v start-stop-daemon >/dev/null || fail "start-stop-daemon is missing (dpkg)"

CONF="$TMP/dmabufd.conf"
printf 'interval = 0.5\npsi_trigger =\n' >"$CONF"
NO_SYSTEMD=(env -u NOTIFY_SOCKET -u JOURNAL_STREAM -u WATCHDOG_USEC -u WATCHDOG_PID -u LISTEN_FDS
        -u LISTEN_PID -u LISTEN_FDNAMES -u INVOCATION_ID)

# ---- the daemon alone ----
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
        # An empty tmpfs over /run: no journal socket, no /run/systemd at all.
        DAEMON_WRAPPER=(unshare -m --propagation private /bin/sh -c
                'mount -t tmpfs -o size=1m tmpfs /run || exit 90; exec "$@"' sh "${NO_SYSTEMD[@]}")
        ALONE="with an empty /run"
else
        DAEMON_WRAPPER=("${NO_SYSTEMD[@]}")
        ALONE="(the host's /run: a private one needs root and unshare)"
        skip "the daemon alone under an empty /run" "not root or no unshare(1)"
fi
start_daemon --config "$CONF" --root "$(tree $C)"
DAEMON_WRAPPER=()
note "daemon alone $ALONE"
check "its environment has no NOTIFY_SOCKET nor JOURNAL_STREAM" \
        sh -c "! tr '\\0' '\\n' </proc/$DAEMON_PID/environ | grep -qE '^(NOTIFY_SOCKET|JOURNAL_STREAM)='"
if [ -n "$ALONE" ] && [ "${ALONE#with}" != "$ALONE" ]; then
        check "... and no journal socket in its /run" \
                sh -c "! test -e /proc/$DAEMON_PID/root/run/systemd/journal/socket"
fi
check "its log is plain lines on stderr ('dmabufd: listening on ...')" \
        grep -qE '^dmabufd: listening on 127\.0\.0\.1:[0-9]+$' "$DAEMON_ERR"
fetch "$BASE/metrics"
check "it serves /metrics (200, dmabufd_buffers_bytes present)" \
        sh -c "test '$HTTP_CODE' = 200 && grep -q '^dmabufd_' '$TMP/b'"
kill -HUP "$DAEMON_PID"
for ((i = 0; i < 100; i++)); do grep -q 'configuration reloaded' "$DAEMON_ERR" && break; sleep 0.1; done
check "SIGHUP reloads ('configuration reloaded' on stderr)" grep -q 'configuration reloaded' "$DAEMON_ERR"
stop_daemon
check "SIGTERM stops it with status 0" test "$DAEMON_RC" = 0

# ---- the init script ----
export DAEMON="$DMABUFD" PIDFILE="$TMP/dmabufd.pid" LOGFILE="$TMP/dmabufd.log" START_TIMEOUT=20
TREE=$(tree $C)
export DAEMON_ARGS="--config $CONF --root $TREE --state-dir $TMP/initd-state --listen 127.0.0.1:0"
init() { "${NO_SYSTEMD[@]}" "$INIT" "$@" </dev/null >"$TMP/init.out" 2>&1; }
# The daemon the pid file names, registered so that a failed test still stops it.
pid_of() { cat "$PIDFILE" 2>/dev/null; }
# alive PID: running, not a zombie (start-stop-daemon's daemon is reparented
# to whatever reaps orphans here, maybe late).
alive() {
        local state
        state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [ -n "$state" ] && [ "$state" != Z ]
}
export -f alive

init start
rc=$?
check "init.d start exits 0" test $rc = 0
PID=$(pid_of)
[ -n "$PID" ] && EXTRA_PIDS+=("$PID")
check "... and writes the pid file of a running dmabufd ($PID)" \
        sh -c "test -n '$PID' && test \"\$(readlink /proc/$PID/exe)\" = '$(readlink -f "$DMABUFD")'"
# start returns once READY=1 came: the port is in the log already.
wait_for_port "$LOGFILE" "${PID:-0}" || fail "no 'listening on' in $LOGFILE: $(head -c 1000 "$LOGFILE")"
fetch "$BASE/metrics"
check "the daemon it started serves /metrics" test "$HTTP_CODE" = 200
check "... and logs to the log file as plain lines" grep -qE '^dmabufd: listening on' "$LOGFILE"
init status
check "status exits 0 while it runs" test $? = 0

init start
check "a second start exits 0 and starts no second daemon" \
        sh -c "test $? = 0 && test \"\$(cat '$PIDFILE')\" = '$PID'"

init reload
check "reload exits 0" test $? = 0
for ((i = 0; i < 100; i++)); do grep -q 'configuration reloaded' "$LOGFILE" && break; sleep 0.1; done
check "... and the daemon rereads its configuration" grep -q 'configuration reloaded' "$LOGFILE"

init restart
check "restart exits 0" test $? = 0
NEW=$(pid_of)
[ -n "$NEW" ] && EXTRA_PIDS+=("$NEW")
check "... with a new daemon ($PID -> $NEW), the old one gone" \
        bash -c "test -n '$NEW' && test '$NEW' != '$PID' && ! alive '$PID'"

init stop
check "stop exits 0" test $? = 0
check "... the daemon is gone and so is the pid file" \
        bash -c "! alive '$NEW' && test ! -e '$PIDFILE'"
check "... having logged its exit" grep -q 'received SIGTERM, exiting' "$LOGFILE"
EXTRA_PIDS=() # both checked gone above
init status
check "status exits 3 once stopped (LSB: not running)" test $? = 3
init stop
check "stop when stopped exits 0 (LSB)" test $? = 0

printf 'interval = nonsense\n' >"$TMP/bad.conf"
t0=$(date +%s)
DAEMON_ARGS="--config $TMP/bad.conf --listen 127.0.0.1:0" init start
rc=$?
t1=$(date +%s)
check "start with a bad configuration fails (exit 1)" test $rc = 1
check "... at once, not after the readiness timeout ($((t1 - t0)) s)" test $((t1 - t0)) -lt 10
check "... and leaves no pid file" test ! -e "$PIDFILE"
check "... and the log names the file and line at fault" grep -qF "$TMP/bad.conf:1: invalid interval" "$LOGFILE"
init status
check "status still exits 3" test $? = 3

finish
