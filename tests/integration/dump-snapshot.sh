#!/bin/bash
# `dmabufd dump --snapshot`: an OOM snapshot taken by the daemon (a kill fed
# through a FIFO at <root>/dev/kmsg, on a tree whose totals and one size are
# unknown) is printed by id and by file name in every format: the trigger's
# summary first (on stderr for json, prom and csv), the state and `before`
# as stored, null figures still unknown; truncated, corrupt and
# unknown-schema copies get one error line naming the file, exit 1. --by cgroup
# prints the stored cgroups; the fixtures' snapshots with DRM clients, and one
# written with cgroup_depth = 1, print in every format and come back byte for
# byte.
. "$(dirname "$0")/lib.sh"

C=linux-7.2-nodebugfs
require_tree $C
ROOT="$TMP/root"
cp -a "$(tree $C)" "$ROOT"
mkdir -p "$ROOT/dev"
mkfifo "$ROOT/dev/kmsg"
STATE="$TMP/state"
CONF="$TMP/dmabufd.conf"
printf 'interval = 0.5\npsi_trigger =\nstate_dir = %s\n' "$STATE" >"$CONF"
start_daemon --config "$CONF" --root "$ROOT" --state-dir "$STATE"

timeout 5 sh -c 'cat >"$1"' _ "$ROOT/dev/kmsg" <<'EOF'
6,1560,4131201,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/,task=orphan-mapper,pid=4300,uid=1000
3,1561,4131230,-;Out of memory: Killed process 4300 (orphan-mapper) total-vm:238776kB, anon-rss:237556kB, file-rss:4kB, shmem-rss:648kB, UID:1000 pgtables:500kB oom_score_adj:0
EOF
check "the kill was written to dev/kmsg" test $? = 0
ID=$(newest_of_kind oom_kill) || ID=
[ -n "$ID" ] && fetch_snapshot "$ID" || fail "no complete oom_kill snapshot within 10 s: $(tail -5 "$DAEMON_ERR")"
stop_daemon
S="$STATE/$ID.json"
[ -f "$S" ] || fail "the snapshot $ID is not at $S"
note "snapshot $ID ($(wc -c <"$S") bytes)"

run() { # sets RC, OUT, ERR
        OUT="$TMP/run.out"
        ERR="$TMP/run.err"
        timeout -k 2 15 "$@" </dev/null >"$OUT" 2>"$ERR"
        RC=$?
}
lines() { # FILE: its number of lines, a last one without a newline included
        awk 'END { print NR }' "$1"
}

# ---- the table, by id: the state directory from --config, --state-dir ----
run "$DMABUFD" dump --config "$CONF" --snapshot "$ID"
check "dump --snapshot ID (state_dir from --config) exits 0 and prints nothing on stderr" \
        test "$RC" = 0 -a ! -s "$ERR"
check "the summary comes first: the snapshot's id and the trigger's kind" \
        sh -c "head -n 2 '$OUT' | grep -q -F 'snapshot $ID' && sed -n 2p '$OUT' | grep -q '^trigger: oom_kill at '"
check "the summary names the victim, and says what before says it held is unknown" \
        grep -q -F 'victim: pid 4300 (orphan-mapper) held by `before`: rss ? kB, pss ? kB in 2 buffers' "$OUT"
check "the summary carries the kernel's line" \
        grep -q -F '      Out of memory: Killed process 4300 (orphan-mapper)' "$OUT"
check "the table follows, with the victim and its unknown total" \
        sh -c "grep -q '^orphan-mapper:4300\$' '$OUT' && grep -q 'PROCESS TOTAL *? kB *? kB' '$OUT'"
check "the table's totals stay unknown" grep -q 'dmabuf total: ? kB kernel_rss: ? kB' "$OUT"
run "$DMABUFD" dump --config /dev/null --state-dir "$STATE" --snapshot "$ID" --before
check "dump --snapshot ID --before (--state-dir) exits 0 and says it shows before" \
        sh -c "test $RC = 0 && grep -q '^showing: before' '$OUT'"
STATE_DIRECTORY="$STATE" run "$DMABUFD" dump --config /dev/null --snapshot "$ID"
check "dump --snapshot ID finds the state directory in \$STATE_DIRECTORY" test "$RC" = 0

# ---- json: the stored states ----
for which in state before; do
        flag=()
        [ $which = before ] && flag=(--before)
        run "$DMABUFD" dump --snapshot "$S" "${flag[@]}" --format json
        # Both through jq: it prints numbers its own way (0.010000 as 0.01), and the
        # stored text keeps the daemon's; test-reader checks the bytes themselves.
        jq -c ".$which" "$S" >"$TMP/want.json"
        jq -c . "$OUT" >"$TMP/got.json" 2>/dev/null
        check "dump --snapshot FILE ${flag[*]} --format json is the stored $which" \
                cmp -s "$TMP/got.json" "$TMP/want.json"
        check "... with the summary on stderr" grep -q '^trigger: oom_kill' "$ERR"
done
run "$DMABUFD" dump --snapshot "$S" --format json 4100
check "dump --snapshot FILE --format json 4100 lists only pid 4100, with its whole-system pss" \
        jq -e --slurpfile s "$S" '[.processes[].pid] == [4100] and
                .processes[0] == ($s[0].state.processes[] | select(.pid == 4100))' "$OUT"

# ---- prom and csv ----
run "$DMABUFD" dump --snapshot "$S" --format prom
check "dump --snapshot --format prom exits 0" test "$RC" = 0
if command -v promtool >/dev/null; then
        check "promtool check metrics accepts it" sh -c "promtool check metrics <'$OUT' >/dev/null 2>&1"
fi
check "... with no sample of the unknown totals" \
        sh -c "! grep -E '^dmabuf_(bytes|buffers|kernel_only_bytes)[ {]' '$OUT'"
run "$DMABUFD" dump --snapshot "$S" --format csv
check "dump --snapshot --format csv: the header, then 4100's three buffers, 4200's one, 4300's two" \
        test "$RC" = 0 -a "$(lines "$OUT")" = 7
check "the unsized buffer 2003 has empty exporter, size and pss fields, not 0" \
        grep -q -x -F "$(printf '4300,"orphan-mapper",2003,"orphan-map",,,,1,0,1\r')" "$OUT"
run "$DMABUFD" dump --snapshot "$S" --format csv -b
check "dump --snapshot --format csv -b: per-exporter buffers and bytes are empty (unknown)" \
        awk -F, 'NR > 1 && !($2 == "" && $3 == "\r") { bad = 1 } END { exit bad || NR < 2 }' "$OUT"

# ---- --by cgroup: the stored snapshot's cgroups ----
run "$DMABUFD" dump --snapshot "$S" --by cgroup --format json
check "dump --snapshot --by cgroup --format json is the stored state's cgroups" \
        jq -e --slurpfile s "$S" '. == $s[0].state.cgroups and length == 1' "$OUT"
run "$DMABUFD" dump --snapshot "$S" --by cgroup
check "dump --snapshot --by cgroup: the summary, then session-3.scope's 3 processes, rss and pss unknown" \
        sh -c "test $RC = 0 && grep -q '^trigger: oom_kill' '$OUT' &&
                grep -q -E '^ +\\? kB +\\? kB +3  session-3\\.scope +/user\\.slice/user-1000\\.slice/session-3\\.scope\$' '$OUT'"
run "$DMABUFD" dump --snapshot "$S" --by cgroup --before --format prom
check "dump --snapshot --before --by cgroup --format prom: no sample of the cgroup's unknown rss and pss" \
        sh -c "test $RC = 0 && ! grep -q '^dmabuf_cgroup' '$OUT'"
run "$DMABUFD" dump --snapshot "$S" --by cgroup --format csv
check "dump --snapshot --by cgroup --format csv is a usage error (2)" test "$RC" = 2

# ---- DRM clients and rolled-up cgroups, from snapshots of the fixtures ----
D="$SRC_FIXTURES/snapshots/manual-drm-fdinfo.json"
run "$DMABUFD" dump --snapshot "$D" --format json
jq -c .state "$D" >"$TMP/want.json"
check "a snapshot with DRM clients: --format json is the stored state, byte for byte" cmp -s "$OUT" "$TMP/want.json"
run "$DMABUFD" dump --snapshot "$D"
check "... the table lists client 13's two fds and weston's msm client without a dma-buf" \
        sh -c "test $RC = 0 && grep -q -F '  DRM i915 client 13 on 0000:00:02.0, 2 fds' '$OUT' &&
                grep -q -F '  DRM msm client 3, 1 fd' '$OUT' && grep -q '^weston:8500\$' '$OUT'"
run "$DMABUFD" dump --snapshot "$D" --format prom
check "... --format prom has the DRM client series" \
        sh -c "test $RC = 0 && grep -q '^dmabuf_drm_client_bytes{.*driver=\"xe\"' '$OUT'"
run "$DMABUFD" dump --snapshot "$D" --format csv 8100
check "... --format csv 8100: the header and the one buffer gnome-shell holds" \
        sh -c "test $RC = 0 && test \"\$(awk 'END { print NR }' '$OUT')\" = 2 && grep -q '^8100,\"gnome-shell\",5001,' '$OUT'"
run "$DMABUFD" dump --snapshot "$D" --by cgroup --format json
check "... --by cgroup --format json is its five stored cgroups" \
        jq -e --slurpfile s "$D" '. == $s[0].state.cgroups and length == 5' "$OUT"
run "$DMABUFD" dump --snapshot "$D" --by cgroup --format prom
check "... --by cgroup --format prom: rss and pss of each, weston.service's 0" \
        sh -c "test $RC = 0 && test \$(grep -c '^dmabuf_cgroup_[rp]ss_bytes{' '$OUT') = 10 &&
                grep -q -x 'dmabuf_cgroup_pss_bytes{cgroup=\"/system.slice/weston.service\",unit=\"weston.service\"} 0' '$OUT'"
R="$SRC_FIXTURES/snapshots/manual-linux-6.1-cgroup-depth-1.json"
run "$DMABUFD" dump --snapshot "$R" --format json
jq -c .state "$R" >"$TMP/want.json"
check "a snapshot written with cgroup_depth = 1 comes back byte for byte, rolled up to /user.slice" \
        sh -c "cmp -s '$OUT' '$TMP/want.json' && jq -e '.cgroups | map(.path) == [\"/user.slice\"]' '$OUT' >/dev/null"
jq -c '.state.cgroups[0].pss_bytes = 1' "$D" >"$TMP/cgroup.json"

# ---- bad files: one line naming the file and the fault, exit 1 ----
expect_bad() { # DESC FILE NEEDLE
        run "$DMABUFD" dump --snapshot "$2"
        if [ "$RC" = 1 ] && [ "$(lines "$ERR")" = 1 ] && grep -q -F -e "$2" "$ERR" && grep -q -F -e "$3" "$ERR" &&
                [ ! -s "$OUT" ]; then
                pass "$1: exit 1, one line: $(cat "$ERR")"
        else
                failc "$1: exit 1, one stderr line naming $2 and '$3', nothing on stdout" "exit $RC" \
                        "stderr: $(head -c 600 "$ERR")" "stdout: $(head -c 200 "$OUT")"
        fi
}
head -c $(($(wc -c <"$S") / 2)) "$S" >"$TMP/truncated.json"
expect_bad "a truncated snapshot" "$TMP/truncated.json" "truncated JSON at byte"
sed 's/"dmabufd\.snapshot\/1"/"dmabufd.snapshot\/2"/' "$S" >"$TMP/schema.json"
expect_bad "an unknown schema" "$TMP/schema.json" 'schema "dmabufd.snapshot/2"'
jq -c '.state.buffers[1].holders[0].fds = "one"' "$S" >"$TMP/corrupt.json"
expect_bad "a holder's fds that is a string" "$TMP/corrupt.json" "state.buffers[1].holders[0].fds"
jq -c 'del(.before.processes)' "$S" >"$TMP/missing.json"
expect_bad "a state without processes" "$TMP/missing.json" 'before: no "processes" member'
expect_bad "stored cgroups the processes do not give" "$TMP/cgroup.json" \
        "state.cgroups[0].pss_bytes: 1, where the buffers give 5529600"
jq -c '.state.processes[0].drm.clients[0].regions.system0.total = "lots"' "$D" >"$TMP/drm.json"
expect_bad "a DRM region's figure that is a string" "$TMP/drm.json" \
        "state.processes[0].drm.clients[0].regions.system0.total: expected a whole number, got string"
jq -c '.state = null' "$S" >"$TMP/nostate.json"
expect_bad "a snapshot whose state is null" "$TMP/nostate.json" '"state" is null'
expect_bad "a missing file" "$TMP/nonexistent.json" "No such file or directory"

run "$DMABUFD" dump --snapshot "$S" --root "$ROOT"
check "dump --snapshot with --root is a usage error (2)" test "$RC" = 2
run "$DMABUFD" dump --before
check "dump --before without --snapshot is a usage error (2)" test "$RC" = 2

finish
