#!/bin/bash
# Native journal logging. When JOURNAL_STREAM names the file stderr is (as
# systemd sets it), dmabufd sends each entry with sd_journal_send: PRIORITY,
# SYSLOG_IDENTIFIER, the code location, ERRNO, and a MESSAGE_ID of its own for
# a snapshot taken, a snapshot lost, a kill seen and a source lost. Otherwise
# it writes plain lines to stderr. --log-level sets the threshold either way.
#
# The journal here is a datagram listener at /run/systemd/journal/socket in a
# mount namespace of the daemon's own (a tmpfs over /run): this machine's
# journald, if any, never sees a test entry.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
: "${top_builddir:?top_builddir must name the build tree}"
LISTEN="$top_builddir/tests/helpers/dgram-listen"
[ -x "$LISTEN" ] || fail "$LISTEN is not built"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
        echo "SKIP: a private /run for the journal socket needs root and unshare(1)"
        exit 77
fi

SNAP_ID_RE='[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[a-z_]+(-[0-9]+)?'

# ns_start NAME MODE ARGS...: dmabufd ARGS in a mount namespace whose journal
# socket is a dgram-listen writing $TMP/NAME.journal (one line per entry,
# fields joined by '|'). MODE "match" sets JOURNAL_STREAM to stderr's
# device:inode, "mismatch" to another file's. Sets NS_PID (the daemon: the
# shell execs it).
ns_start() {
        local name=$1 mode=$2 i
        shift 2
        : >"$TMP/$name.journal"
        rm -f "$TMP/$name.listener.pid"
        unshare -m --propagation private /bin/sh -c '
                mount -t tmpfs -o size=1m tmpfs /run || exit 90
                mkdir -p /run/systemd/journal
                "$0" /run/systemd/journal/socket 120 >"$1" 2>&1 &
                echo $! >"$2"
                i=0
                while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
                if [ "$3" = match ]; then
                        JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2)
                else
                        JOURNAL_STREAM=$(stat -L -c %d:%i /dev/null)
                fi
                export JOURNAL_STREAM
                shift 3
                exec "$@"' "$LISTEN" "$TMP/$name.journal" "$TMP/$name.listener.pid" "$mode" "$DMABUFD" "$@" \
                </dev/null >"$TMP/$name.stdout" 2>"$TMP/$name.stderr" &
        NS_PID=$!
        DAEMON_PIDS+=("$NS_PID")
        for ((i = 0; i < 50; i++)); do [ -s "$TMP/$name.listener.pid" ] && break; sleep 0.1; done
        [ -s "$TMP/$name.listener.pid" ] || fail "$name: the journal listener did not start: $(cat "$TMP/$name.stderr")"
        EXTRA_PIDS+=("$(cat "$TMP/$name.listener.pid")")
}

# ns_port NAME FILE: wait_for_port on FILE (the journal or the stderr of the
# daemon of ns_start NAME), which listens on port 0 so that no parallel test
# can take its port first. A failure shows what the daemon said, wherever it went.
ns_port() {
        local rc=0
        wait_for_port "$2" "$NS_PID" || rc=$?
        [ $rc = 0 ] || fail "$1: no 'listening on 127.0.0.1:<port>' in $(basename "$2") ($([ $rc = 2 ] && echo "the daemon exited" || echo "timed out")); journal: $(head -c 1500 "$TMP/$1.journal"); stderr: $(head -c 1000 "$TMP/$1.stderr")"
}

# has_fields FILE PATTERN FIELD...: an entry matching PATTERN carries every FIELD.
has_fields() {
        local file=$1 pat=$2 line f
        shift 2
        line=$(grep -E "$pat" "$file" | head -n 1)
        [ -n "$line" ] || { echo "no entry matches $pat"; return 1; }
        for f in "$@"; do
                case "|${line#* }|" in
                *"|$f|"*) ;;
                *) echo "missing $f in: $line"; return 1 ;;
                esac
        done
}

# ---- under systemd: the journal, with fields ----
ROOT="$TMP/root"
cp -a "$(tree $C)" "$ROOT"
mkdir -p "$ROOT/dev"
mkfifo "$ROOT/dev/kmsg"
mkdir -p "$ROOT/sys/fs/cgroup/test.slice"
printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n' >"$ROOT/sys/fs/cgroup/test.slice/memory.events"
CONF="$TMP/dmabufd.conf"
printf 'interval = 0.3\npsi_trigger =\ncooldown_oom_kill = 0\ncgroup = test.slice\n' >"$CONF"
ns_start main match --config "$CONF" --root "$ROOT" --state-dir "$TMP/state" --listen 127.0.0.1:0
J="$TMP/main.journal"
ns_port main "$J"
pass "the start-up entries reach the journal socket"
check "an info entry carries PRIORITY=6 and SYSLOG_IDENTIFIER=dmabufd" \
        has_fields "$J" "MESSAGE=listening on" PRIORITY=6 SYSLOG_IDENTIFIER=dmabufd
check "it names its code location: file, line and function" \
        grep -Eq 'MESSAGE=listening on.*\|CODE_FILE=[^|]*daemon/manager\.c\|CODE_LINE=[0-9]+\|CODE_FUNC=manager_new(\||$)' "$J"
check "an entry sent to the journal is not written to stderr as well" \
        sh -c "! grep -q 'listening on' '$TMP/main.stderr'"
# An error with an errno: the journal source cannot follow a missing directory.
check "an entry logged with an errno carries ERRNO=" has_fields "$J" "MESSAGE=journal: cannot follow" PRIORITY=4 ERRNO=2

# Kill seen: an OOM kill through the kernel log FIFO.
VPID=$(jq -r '[.processes[] | select(.rss_bytes > 0)][0].pid' "$(expected $C)")
VCOMM=$(jq -r --argjson p "$VPID" '.processes[] | select(.pid == $p) | .comm' "$(expected $C)")
printf '3,1700,4131230,-;Out of memory: Killed process %s (%s) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n' \
        "$VPID" "$VCOMM" >"$ROOT/dev/kmsg"
wait_for_line "$J" "MESSAGE_ID=e9f0f5b4e4b64b9396109b0ac26f9af3" || failc "no kill-seen entry within 10 s"
check "a kill seen is one entry with its MESSAGE_ID, PRIORITY=5 and the victim" \
        has_fields "$J" "MESSAGE_ID=e9f0f5b4e4b64b9396109b0ac26f9af3" PRIORITY=5 DMABUFD_TRIGGER=oom_kill \
        "DMABUFD_VICTIM_PID=$VPID" "DMABUFD_VICTIM_COMM=$VCOMM"
check "its message names the victim" grep -Eq "MESSAGE=kill seen \(oom_kill\): the kernel's OOM killer killed pid $VPID \($VCOMM\)" "$J"

# Snapshot taken, for the kill.
wait_for_line "$J" "MESSAGE_ID=40232686d3ad4a329f084da5a6fe10e5" || failc "no snapshot-taken entry within 10 s"
check "a snapshot taken is one entry with its MESSAGE_ID, PRIORITY=6 and the trigger" \
        has_fields "$J" "MESSAGE_ID=40232686d3ad4a329f084da5a6fe10e5" PRIORITY=6 DMABUFD_TRIGGER=oom_kill
id=$(grep -E "MESSAGE_ID=40232686d3ad4a329f084da5a6fe10e5" "$J" | grep -Eo "DMABUFD_SNAPSHOT_ID=$SNAP_ID_RE" | head -n 1)
id=${id#DMABUFD_SNAPSHOT_ID=}
fetch "$BASE/api/v1/snapshots"
check "DMABUFD_SNAPSHOT_ID ($id) is a snapshot the API lists" jq -e --arg id "$id" 'any(.[]; .id == $id)' "$TMP/b"

# Source lost: the sysfs stats go away under a running daemon.
fetch "$BASE/metrics"
check "sysfs is up before" test "$(metric_value "$TMP/b" 'dmabufd_source_up{source="sysfs"}')" = 1
rm -rf "$ROOT/sys/kernel/dmabuf"
wait_for_line "$J" "MESSAGE_ID=0729edbed8ca45b8821e8246bb9755af" || failc "no source-lost entry within 10 s"
check "a source lost is one entry with its MESSAGE_ID, PRIORITY=4 and the source" \
        has_fields "$J" "MESSAGE_ID=0729edbed8ca45b8821e8246bb9755af" PRIORITY=4 DMABUFD_SOURCE=sysfs
check "three more collections complete within 10 s" wait_for_collections 3 10
check "the loss is logged once, not on every collection" \
        test "$(grep -c 'MESSAGE_ID=0729edbed8ca45b8821e8246bb9755af' "$J")" = 1
# An event source lost: the one watched cgroup goes away.
rm -rf "$ROOT/sys/fs/cgroup/test.slice"
wait_for_line "$J" "MESSAGE_ID=0729edbed8ca45b8821e8246bb9755af.*DMABUFD_SOURCE=cgroup" ||
        failc "no source-lost entry for the cgroup source within 10 s"
check "an event source lost has the same MESSAGE_ID, PRIORITY=4 and DMABUFD_SOURCE=cgroup" \
        has_fields "$J" "MESSAGE_ID=0729edbed8ca45b8821e8246bb9755af.*DMABUFD_SOURCE=cgroup" PRIORITY=4 DMABUFD_SOURCE=cgroup
stop_daemon "$NS_PID"
check "the daemon exits 0 on SIGTERM" test "$DAEMON_RC" = 0

# ---- snapshot failed, and --log-level on the journal ----
: >"$TMP/not-a-directory"
PORT=$(free_port) || fail "no free port"
ns_start failing match --config "$CONF" --root "$(tree $C)" --state-dir "$TMP/not-a-directory" \
        --listen "127.0.0.1:$PORT" --log-level warning
J="$TMP/failing.journal"
BASE="http://127.0.0.1:$PORT"
for ((i = 0; i < 100; i++)); do
        fetch "$BASE/healthz"
        [ "$HTTP_CODE" = 200 ] && break
        sleep 0.1
done
check "the daemon with an unusable state directory serves" test "$HTTP_CODE" = 200
kill -USR1 "$NS_PID"
wait_for_line "$J" "MESSAGE_ID=370ffaa289ac4ccdb21616b01a2cc260" || failc "no snapshot-failed entry within 10 s"
check "a lost snapshot is one entry with its MESSAGE_ID, PRIORITY=3 and the trigger" \
        has_fields "$J" "MESSAGE_ID=370ffaa289ac4ccdb21616b01a2cc260" PRIORITY=3 DMABUFD_TRIGGER=manual
check "--log-level warning keeps info entries out of the journal" sh -c "! grep -q 'PRIORITY=6' '$J'"
check "--log-level warning lets warnings through" grep -q 'PRIORITY=4' "$J"
stop_daemon "$NS_PID"

# ---- not under systemd: stderr ----
ns_start plain mismatch --config "$CONF" --root "$(tree $C)" --state-dir "$TMP/state2" --listen 127.0.0.1:0
ns_port plain "$TMP/plain.stderr"
check "with JOURNAL_STREAM naming another file, lines go to stderr" \
        grep -q "^dmabufd: listening on 127.0.0.1:$PORT$" "$TMP/plain.stderr"
# Nothing must arrive: judged once two collections (which log through the same
# path) have run since the listening line.
check "two more collections complete within 10 s" wait_for_collections 2 10
check "and nothing goes to the journal socket" test ! -s "$TMP/plain.journal"
stop_daemon "$NS_PID"

finish
