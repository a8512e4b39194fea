#!/bin/bash
# The machine's own /proc and /sys (no --root): no DMA-BUF support here, so the
# daemon must report procfs up, sysfs and debugfs down, no buffers, and no parse
# errors or warnings from reading a real, busy /proc.
. "$(dirname "$0")/lib.sh"

if [ -d /sys/kernel/dmabuf/buffers ] || [ -e /sys/kernel/debug/dma_buf/bufinfo ]; then
        note "this machine has DMA-BUF sysfs or debugfs; checks expecting them down will fail"
fi

timeout -k 2 60 "$DMABUFD" dump --format json </dev/null >"$TMP/dump.json" 2>"$TMP/dump.err"
rc=$?
if [ $rc = 0 ]; then
        pass "dump --format json on the real /proc exits 0"
else
        failc "dump --format json on the real /proc exits 0" "exit $rc" "$(head -c 600 "$TMP/dump.err")"
fi
if [ ! -s "$TMP/dump.err" ]; then
        pass "dump --format json on the real /proc: empty stderr"
else
        failc "dump --format json on the real /proc: empty stderr" "$(head -c 1000 "$TMP/dump.err")"
fi
J="$TMP/dump.json"
jcheck() { # DESC JQ_EXPR
        if jq -e "$2" "$J" >/dev/null 2>&1; then
                pass "$1"
        else
                failc "$1" "jq '$2' is not true" "$(jq -c "${3:-.}" "$J" 2>&1 | head -c 600)"
        fi
}
jcheck "sources.sysfs is false" '.sources.sysfs == false' .sources
jcheck "sources.debugfs is false" '.sources.debugfs == false' .sources
jcheck "sources.procfs is true" '.sources.procfs == true' .sources
jcheck "buffers is []" '.buffers == []' .buffers
jcheck "processes is []" '.processes == []' .processes
jcheck "totals.userspace_bytes is 0 (procfs is up and saw no buffer)" '.totals.userspace_bytes == 0' .totals
if jq -e '.sources.bpf == true' "$J" >/dev/null 2>&1; then
        jcheck "totals.bytes is 0 (the bpf iterator is up and saw no buffer)" '.totals.bytes == 0' .totals
else
        jcheck "totals.bytes is null (no source lists every buffer)" '.totals | has("bytes") and .bytes == null' .totals
fi

# Parse errors: the JSON's scan stats.
pe=$(jq -c '.scan.parse_errors // empty' "$J" 2>/dev/null)
if [ -n "$pe" ] && jq -e '[.. | numbers] | all(. == 0)' <<<"$pe" >/dev/null; then
        pass "JSON scan stats: parse_errors all 0 ($pe)"
else
        failc "JSON scan stats: parse_errors all 0" "${pe:-no .scan.parse_errors}" "first error: $(jq -r '.scan.first_error // empty' "$J" | head -n 1)"
fi

# The daemon on the real /proc, collecting often enough that the checks of its
# stderr below see several collections.
start_daemon --interval 0.2
fetch "$BASE/metrics"
cp "$TMP/b" "$TMP/m.txt"
for s in procfs:1 sysfs:0 debugfs:0; do
        src=${s%:*}
        want=${s#*:}
        got=$(metric_value "$TMP/m.txt" "dmabufd_source_up{source=\"$src\"}")
        if [ "$got" = "$want" ]; then
                pass "dmabufd_source_up{source=\"$src\"} $want"
        else
                failc "dmabufd_source_up{source=\"$src\"} $want" "got '$got'"
        fi
done
pe=$(grep -a -E '^dmabufd_parse_errors(_total)?(\{| )' "$TMP/m.txt")
if [ -n "$pe" ] && awk '$NF + 0 != 0 { bad = 1 } END { exit bad }' <<<"$pe"; then
        pass "daemon: dmabufd_parse_errors_total all 0"
else
        failc "daemon: dmabufd_parse_errors_total all 0" "${pe:-no dmabufd_parse_errors_total sample}"
fi
fetch "$BASE/healthz"
if [ "$HTTP_CODE" = 200 ]; then
        pass "daemon on the real /proc: /healthz 200"
else
        failc "daemon on the real /proc: /healthz 200" "status $HTTP_CODE"
fi
check "three more collections complete within 10 s (before stderr is judged)" wait_for_collections 3 10
# The one line that says whether the BPF source is in use, and why not.
bpf_lines=$(grep -a -c -E '^dmabufd: bpf source (up|down|off): ' "$DAEMON_ERR")
check "daemon stderr says once whether the bpf source is up ($bpf_lines lines)" test "$bpf_lines" = 1
fetch "$BASE/metrics"
bpf_up=$(metric_value "$TMP/b" 'dmabufd_source_up{source="bpf"}')
if grep -a -q 'bpf source up: ' "$DAEMON_ERR"; then
        check "the log says bpf is up, and so does dmabufd_source_up" test "$bpf_up" = 1
else
        check "the log says bpf is down, and so does dmabufd_source_up" test "$bpf_up" = 0
fi
leftover=$(grep -a -v -E 'listening on |^dmabufd: bpf source (up|down|off): ' "$DAEMON_ERR" | head -n 10)
if [ -z "$leftover" ]; then
        pass "daemon stderr while running holds nothing but the listening and bpf lines"
else
        failc "daemon stderr while running holds nothing but the listening and bpf lines" "$leftover"
fi
stop_daemon
if [ "$DAEMON_RC" = 0 ]; then
        pass "daemon exits 0 on SIGTERM"
else
        failc "daemon exits 0 on SIGTERM" "exit status $DAEMON_RC"
fi
# a notice that the signal was received is fine; warnings are not
leftover=$(grep -a -v -E 'listening on |^dmabufd: bpf source (up|down|off): ' "$DAEMON_ERR" | grep -a -v -i -E 'SIGTERM|exiting|stopping|shutting down' | head -n 10)
if [ -z "$leftover" ]; then
        pass "daemon stderr after SIGTERM holds no warning or error ($(grep -a -c '' "$DAEMON_ERR") lines)"
else
        failc "daemon stderr after SIGTERM holds no warning or error" "$leftover"
fi

finish
