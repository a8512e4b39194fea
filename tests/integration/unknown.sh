#!/bin/bash
# A figure no source can give is never shown as a number. On the 7.2 tree
# without debugfs or BPF (procfs only) the totals, the exporters' figures and
# one buffer's size are unknown (DMABUF_UNKNOWN, UINT64_MAX inside): `dmabufd
# dump` in every format, STATUS= on NOTIFY_SOCKET, /metrics, /api/v1/state, a
# snapshot whose victim's figures are unknown and the daemon's own log (at
# debug) must say "?", "unknown", null or leave the sample out, never
# 18446744073709551615, 17592186044416 (its MiB) or the like.
. "$(dirname "$0")/lib.sh"

C=linux-7.2-nodebugfs
require_tree $C
: "${top_builddir:?top_builddir must name the build tree}"
LISTEN="$top_builddir/tests/helpers/dgram-listen"
[ -x "$LISTEN" ] || fail "$LISTEN is not built"
check "the oracle says this tree's totals are unknown" jq -e '.totals.bytes == null and .totals.buffers == null' "$(expected $C)"

# no_big_number FILE: no run of 14 or more digits (no figure of this tree is
# near one, UINT64_MAX in bytes, KiB or MiB is), and no -1.
no_big_number() {
        ! grep -nE '[0-9]{14,}|(^|[ :,=([])-1([^0-9.]|$)|e\+19' "$1"
}

# ---- dmabufd dump ----
for args in "" "-a" "-b" "4300" "--format json" "--format prom"; do
        # shellcheck disable=SC2086 # the options are words
        "$DMABUFD" dump --root "$(tree $C)" $args >"$TMP/dump" 2>"$TMP/dump.err"
        rc=$?
        check "dump ${args:-(tables)} exits 0 (got $rc)" test $rc = 0
        check "dump ${args:-(tables)} prints no unknown figure as a number" no_big_number "$TMP/dump"
done
"$DMABUFD" dump --root "$(tree $C)" >"$TMP/dump" 2>/dev/null
check "dump's summary says ? for every total" \
        grep -qxF 'dmabuf total: ? kB kernel_rss: ? kB userspace_rss: ? kB userspace_pss: ? kB' "$TMP/dump"
"$DMABUFD" dump --root "$(tree $C)" -b >"$TMP/dump" 2>/dev/null
check "dump -b says ? for the totals" grep -qxF 'dmabuf total: ? buffers, ? bytes (userspace ?, kernel-only ?)' "$TMP/dump"
"$DMABUFD" dump --root "$(tree $C)" --format json >"$TMP/dump" 2>/dev/null
check "dump --format json has null totals and exporter figures" \
        jq -e '([.totals[]] | all(. == null)) and ([.exporters[] | .buffers, .bytes] | all(. == null))' "$TMP/dump"
"$DMABUFD" dump --root "$(tree $C)" --format prom >"$TMP/dump" 2>/dev/null
check "dump --format prom has no dmabuf_bytes, dmabuf_buffers or exporter sample" \
        sh -c "! grep -E '^dmabuf_(bytes|buffers|userspace_bytes|kernel_only_bytes|exporter_bytes|exporter_buffers)[ {]' '$TMP/dump'"

# ---- the daemon: STATUS=, /metrics, /api/v1/state, a snapshot, its log ----
ROOT="$TMP/root"
cp -a "$(tree $C)" "$ROOT"
mkdir -p "$ROOT/dev"
mkfifo "$ROOT/dev/kmsg"
NOTIFY="$TMP/notify.sock"
"$LISTEN" "$NOTIFY" 60 >"$TMP/notify.log" 2>"$TMP/notify.err" &
EXTRA_PIDS+=($!)
for ((i = 0; i < 50; i++)); do [ -S "$NOTIFY" ] && break; sleep 0.1; done
[ -S "$NOTIFY" ] || fail "the notify listener did not bind: $(cat "$TMP/notify.err")"

CONF="$TMP/dmabufd.conf"
printf 'interval = 0.5\npsi_trigger =\n' >"$CONF"
export NOTIFY_SOCKET="$NOTIFY"
start_daemon --config "$CONF" --root "$ROOT" --log-level debug
unset NOTIFY_SOCKET
wait_for_line "$TMP/notify.log" ' STATUS=' 10 || failc "a STATUS= line within 10 s" "$(cat "$TMP/notify.log")"
check "STATUS= says the total is unknown" \
        grep -q ' STATUS=total unknown (no source lists every buffer); 4 buffers, ? MiB held by processes in 3 processes; ' \
        "$TMP/notify.log"
check "STATUS= shows no unknown figure as a number" no_big_number "$TMP/notify.log"

fetch "$BASE/metrics"
check "GET /metrics answers 200" test "$HTTP_CODE" = 200
check "/metrics shows no unknown figure as a number" no_big_number "$TMP/b"
check "/metrics has no dmabuf_bytes, dmabuf_buffers or exporter sample" \
        sh -c "! grep -E '^dmabuf_(bytes|buffers|userspace_bytes|kernel_only_bytes|exporter_bytes|exporter_buffers)[ {]' '$TMP/b'"
check "/metrics keeps the figures that are known" \
        grep -qxF 'dmabuf_process_rss_bytes{pid="4100",comm="gst-launch-1.0"} 5308416' "$TMP/b"
fetch "$BASE/api/v1/state"
check "GET /api/v1/state answers 200" test "$HTTP_CODE" = 200
check "/api/v1/state shows no unknown figure as a number" no_big_number "$TMP/b"
check "/api/v1/state has null totals and a null size for the map-only buffer" \
        jq -e '([.totals[]] | all(. == null)) and (.buffers[] | select(.inode == 2003) | .size == null)' "$TMP/b"

# A global OOM kill of 4300, which holds the buffer of unknown size.
timeout 5 sh -c 'cat >"$1"' _ "$ROOT/dev/kmsg" <<'EOF'
6,1560,4131201,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/,task=orphan-mapper,pid=4300,uid=1000
3,1561,4131230,-;Out of memory: Killed process 4300 (orphan-mapper) total-vm:238776kB, anon-rss:237556kB, file-rss:4kB, shmem-rss:648kB, UID:1000 pgtables:500kB oom_score_adj:0
EOF
check "the kill was written to dev/kmsg" test $? = 0
ID=$(newest_of_kind oom_kill) || ID=
if [ -n "$ID" ] && fetch_snapshot "$ID"; then
        check "the snapshot shows no unknown figure as a number" no_big_number "$TMP/b"
        check "the trigger names 4300, whose rss and pss are null (known to be held, size unknown)" \
                jq -e '.trigger.pid == 4300 and .trigger.in_before and .trigger.rss_bytes == null and
                        .trigger.pss_bytes == null and (.trigger.buffers[] | select(.inode == 2003) | .size == null)' "$TMP/b"
        check "the snapshot's states have null totals" \
                jq -e '([.state.totals[], .before.totals[]] | all(. == null))' "$TMP/b"
else
        failc "an oom_kill snapshot within 10 s" "$(tail -5 "$DAEMON_ERR")"
fi
stop_daemon
check "the daemon exits 0 on SIGTERM (got $DAEMON_RC)" test "$DAEMON_RC" = 0
check "the daemon logged at debug level" grep -q 'collected 4 buffers and 3 processes' "$DAEMON_ERR"
check "the daemon's log shows no unknown figure as a number" no_big_number "$DAEMON_ERR"

finish
