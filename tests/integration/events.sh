#!/bin/bash
# The other event sources end to end, each taking a snapshot of its own kind:
# a cgroup's memory.events oom_kill going up (inotify), and a userspace
# killer's journal message (real journal files under <root>/var/log/journal,
# written by systemd-journal-remote). Both name what they know; the journal's
# earlyoom kill names a victim whose buffers come from `before`. Last, one memcg
# kill reported by the kernel log and by memory.events takes one snapshot.
. "$(dirname "$0")/lib.sh"

JR=
for p in /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote; do
        [ -x "$p" ] && JR=$p && break
done
[ -n "$JR" ] || fail "systemd-journal-remote is missing: install Debian's systemd-journal-remote (./scripts/deps.sh test)"

C=linux-6.1
require_tree $C
ROOT="$TMP/root"
cp -a "$(tree $C)" "$ROOT"
mkdir -p "$ROOT/sys/fs/cgroup/test.slice" "$ROOT/var/log/journal"
events() { printf 'low 0\nhigh 0\nmax %d\noom %d\noom_kill %d\noom_group_kill 0\n' "$1" "$1" "$2"; }
events 0 3 >"$ROOT/sys/fs/cgroup/test.slice/memory.events"

# An earlyoom kill already in the journal before the start: history, no event.
export_entry() { # USEC IDENTIFIER MESSAGE
        printf '__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%s\n_BOOT_ID=3f8e2c6a1b7d4e5f9a0b1c2d3e4f5a6b\n' "$1" "$1"
        printf '_HOSTNAME=fixture\n_TRANSPORT=syslog\nPRIORITY=4\nSYSLOG_IDENTIFIER=%s\nMESSAGE=%s\n\n' "$2" "$3"
}
VPID=$(jq -r '[.processes[] | select((.buffers | length) > 0)][0].pid' "$(expected $C)")
VCOMM=$(jq -r --argjson p "$VPID" '.processes[] | select(.pid == $p) | .comm' "$(expected $C)")
VBUFS=$(jq -c --argjson p "$VPID" '.processes[] | select(.pid == $p) | .buffers | sort' "$(expected $C)")
export_entry 1700000000000000 earlyoom "sending SIGTERM to process 1 uid 0 \"init\": badness 900, VmRSS 20 MiB" |
        "$JR" --split-mode=none --output="$ROOT/var/log/journal/old.journal" - 2>"$TMP/jr.err" ||
        fail "systemd-journal-remote failed: $(cat "$TMP/jr.err")"

CONF="$TMP/dmabufd.conf"
printf 'interval = 0.5\npsi_trigger =\ncgroup = test.slice\ncooldown_cgroup_oom = 0\ncooldown_journal = 0\n' >"$CONF"
start_daemon --config "$CONF" --root "$ROOT"

fetch "$BASE/metrics"
check "dmabufd_source_up{source=\"cgroup\"} is 1" test "$(metric_value "$TMP/b" 'dmabufd_source_up{source="cgroup"}')" = 1
check "dmabufd_source_up{source=\"journal\"} is 1" test "$(metric_value "$TMP/b" 'dmabufd_source_up{source="journal"}')" = 1
check "dmabufd_source_up{source=\"psi\"} is 0 (no trigger configured)" \
        test "$(metric_value "$TMP/b" 'dmabufd_source_up{source="psi"}')" = 0
check "dmabufd_source_up{source=\"kmsg\"} is 0 (no dev/kmsg in the tree)" \
        test "$(metric_value "$TMP/b" 'dmabufd_source_up{source="kmsg"}')" = 0

# cgroup: max goes up without a kill (no event), then oom_kill goes 3 -> 5.
events 1 3 >"$ROOT/sys/fs/cgroup/test.slice/memory.events"
# The loop has handled that change once two collections have run on it since
# (else both writes could reach it as one, and the max-only change go unseen).
check "two collections complete within 10 s of the max-only change" wait_for_collections 2 10
events 2 5 >"$ROOT/sys/fs/cgroup/test.slice/memory.events"
if ID=$(newest_of_kind cgroup_oom); then
        fetch_snapshot "$ID"
        check "the cgroup_oom trigger names the cgroup and the increase" \
                jq -e '.trigger.cgroup == "/test.slice" and .trigger.oom_kill == 5 and .trigger.oom_kill_increase == 2' "$TMP/b"
else
        failc "a cgroup_oom snapshot within 10 s of oom_kill going up" "$(tail -5 "$DAEMON_ERR")"
fi
fetch "$BASE/metrics"
check "one cgroup_oom event (the max-only change was none)" \
        test "$(metric_value "$TMP/b" 'dmabufd_events_total{kind="cgroup_oom"}')" = 1

# journal: a forged line under another identifier, then earlyoom's real kill.
{
        export_entry 1700000100000000 forger "sending SIGTERM to process $VPID uid 0 \"$VCOMM\": badness 900, VmRSS 20 MiB"
        export_entry 1700000101000000 earlyoom "sending SIGTERM to process $VPID uid 1000 \"$VCOMM\": badness 900, VmRSS 2048 MiB"
} | "$JR" --split-mode=none --output="$ROOT/var/log/journal/new.journal" - 2>"$TMP/jr.err" ||
        fail "systemd-journal-remote failed: $(cat "$TMP/jr.err")"
if ID=$(newest_of_kind journal); then
        fetch_snapshot "$ID"
        cp "$TMP/b" "$TMP/journal.json"
        check "the journal trigger names earlyoom's victim" \
                jq -e --argjson p "$VPID" --arg c "$VCOMM" \
                '.trigger.identifier == "earlyoom" and .trigger.pid == $p and .trigger.comm == $c and (.trigger.line | startswith("sending SIGTERM"))' "$TMP/journal.json"
        check "... with the buffers 'before' says it held" \
                jq -e --argjson b "$VBUFS" '([.trigger.buffers[].inode] | sort) == $b' "$TMP/journal.json"
else
        failc "a journal snapshot within 10 s of earlyoom's kill" "$(tail -5 "$DAEMON_ERR")"
fi
fetch "$BASE/metrics"
check "exactly one journal event: the old kill and the forged identifier were none" \
        test "$(metric_value "$TMP/b" 'dmabufd_events_total{kind="journal"}')" = 1

stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" = 0

# One kill seen by two sources, the cgroup's memory.events first: its snapshot
# collects afresh, after the victim died. The second source's event (here the
# journal; on a real memcg kill, the kernel log) must still find the victim in
# `before`: the collection that snapshot replaced. A long interval keeps a
# periodic collection out of the way.
V2=$(jq -r --argjson p "$VPID" '[.processes[] | select((.buffers | length) > 0) | select(.pid != $p)][0].pid' "$(expected $C)")
V2COMM=$(jq -r --argjson p "$V2" '.processes[] | select(.pid == $p) | .comm' "$(expected $C)")
V2BUFS=$(jq -c --argjson p "$V2" '.processes[] | select(.pid == $p) | .buffers | sort' "$(expected $C)")
printf 'interval = 60\npsi_trigger =\ncgroup = test.slice\ncooldown_cgroup_oom = 0\ncooldown_journal = 0\n' >"$CONF"
start_daemon --config "$CONF" --root "$ROOT"
wait_for_line "$DAEMON_ERR" 'listening on' 5 >/dev/null
fetch "$BASE/api/v1/state"
check "the second victim ($V2COMM, $V2) is in the first collection" \
        jq -e --argjson p "$V2" '[.processes[] | select(.pid == $p)] | length == 1' "$TMP/b"
mv "$ROOT/proc/$V2" "$TMP/proc-$V2-gone"
events 3 6 >"$ROOT/sys/fs/cgroup/test.slice/memory.events"
if ID=$(newest_of_kind cgroup_oom) && fetch_snapshot "$ID"; then
        check "the cgroup_oom snapshot's fresh collection no longer shows $V2" \
                jq -e --argjson p "$V2" '[.state.processes[] | select(.pid == $p)] | length == 0' "$TMP/b"
else
        failc "a cgroup_oom snapshot within 10 s" "$(tail -5 "$DAEMON_ERR")"
fi
export_entry 1700000200000000 earlyoom "sending SIGTERM to process $V2 uid 1000 \"$V2COMM\": badness 900, VmRSS 512 MiB" |
        "$JR" --split-mode=none --output="$ROOT/var/log/journal/second.journal" - 2>"$TMP/jr.err" ||
        fail "systemd-journal-remote failed: $(cat "$TMP/jr.err")"
if ID=$(newest_of_kind journal) && fetch_snapshot "$ID"; then
        check "the second source's snapshot still finds $V2 in before, with its buffers" \
                jq -e --argjson p "$V2" --argjson b "$V2BUFS" \
                '.trigger.pid == $p and .trigger.in_before and ([.trigger.buffers[].inode] | sort) == $b
                 and ([.before.processes[] | select(.pid == $p)] | length == 1)' "$TMP/b"
else
        failc "a journal snapshot within 10 s of the second kill" "$(tail -5 "$DAEMON_ERR")"
fi
stop_daemon
mv "$TMP/proc-$V2-gone" "$ROOT/proc/$V2"

# One memcg OOM kill reported by both the kernel log (a FIFO at dev/kmsg) and
# test.slice's memory.events, in either order: one snapshot, both events
# counted. Cooldowns are off, so only the folding keeps the second report from
# taking a snapshot of its own.
mkdir -p "$ROOT/dev"
mkfifo "$ROOT/dev/kmsg"
printf 'interval = 60\npsi_trigger =\ncgroup = test.slice\ncooldown_cgroup_oom = 0\ncooldown_oom_kill = 0\n' >"$CONF"
start_daemon --config "$CONF" --root "$ROOT"
memcg_kill() { # SEQ: the kernel's report of a memcg OOM kill of $VPID in test.slice/app.service
        printf '6,%d,5131201,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=/test.slice,task_memcg=/test.slice/app.service,task=%s,pid=%s,uid=1000\n' "$1" "$VCOMM" "$VPID"
        printf '3,%d,5131230,-;Memory cgroup out of memory: Killed process %s (%s) total-vm:238776kB, anon-rss:237556kB, file-rss:4kB, shmem-rss:648kB, UID:1000 pgtables:500kB oom_score_adj:0\n' $(($1 + 1)) "$VPID" "$VCOMM"
}
snapshot_count() { fetch "$BASE/api/v1/snapshots"; jq length "$TMP/b"; }

# The kernel log first: memory.events changes once the loop has the kill (both
# ready at once, the loop could take either first).
memcg_kill 2000 >"$ROOT/dev/kmsg"
wait_for_line "$DAEMON_ERR" 'kill seen \(oom_kill\)' 10 || failc "the kernel's kill seen within 10 s" "$(tail -5 "$DAEMON_ERR")"
events 4 7 >"$ROOT/sys/fs/cgroup/test.slice/memory.events"
if wait_for_line "$DAEMON_ERR" 'cgroup_oom event is a second report of a kill' 10; then
        ID=$(newest_of_kind oom_kill)
        check "kernel log first: one snapshot, the oom_kill's" test "$(snapshot_count)" = 1 -a -n "$ID"
        fetch "$BASE/metrics"
        check "... both reports counted in dmabufd_events_total" \
                test "$(metric_value "$TMP/b" 'dmabufd_events_total{kind="oom_kill"}')" = 1 -a \
                "$(metric_value "$TMP/b" 'dmabufd_events_total{kind="cgroup_oom"}')" = 1
        check "... and one snapshot in dmabufd_snapshots_total" \
                test "$(metric_value "$TMP/b" 'dmabufd_snapshots_total')" = 1
        if grep -q 'no second snapshot, recorded in' "$DAEMON_ERR"; then
                fetch_snapshot "$ID"
                check "... the cgroup_oom report is in that snapshot's suppressed list" \
                        jq -e '.trigger.kind == "oom_kill" and .suppressed.by_kind.cgroup_oom == 1' "$TMP/b"
        else
                # The snapshot was complete before the cgroup_oom report came.
                check "... the cgroup_oom report, after the snapshot was complete, is logged as a second report" \
                        grep -q 'cgroup_oom event is a second report of a kill: no second snapshot (the first report' "$DAEMON_ERR"
        fi
else
        failc "the cgroup_oom report folded into the oom_kill snapshot within 10 s" "$(tail -5 "$DAEMON_ERR")"
fi

# memory.events first, a second kill.
events 5 8 >"$ROOT/sys/fs/cgroup/test.slice/memory.events"
if ID=$(newest_of_kind cgroup_oom); then
        memcg_kill 2002 >"$ROOT/dev/kmsg"
        if wait_for_line "$DAEMON_ERR" 'oom_kill event is a second report of a kill' 10; then
                check "memory.events first: one more snapshot, the cgroup_oom's" test "$(snapshot_count)" = 2
                fetch "$BASE/metrics"
                check "... both reports counted" \
                        test "$(metric_value "$TMP/b" 'dmabufd_events_total{kind="oom_kill"}')" = 2 -a \
                        "$(metric_value "$TMP/b" 'dmabufd_events_total{kind="cgroup_oom"}')" = 2
        else
                failc "the oom_kill report folded into the cgroup_oom snapshot within 10 s" "$(tail -5 "$DAEMON_ERR")"
        fi
else
        failc "a cgroup_oom snapshot within 10 s" "$(tail -5 "$DAEMON_ERR")"
fi
stop_daemon
rm "$ROOT/dev/kmsg"
finish
