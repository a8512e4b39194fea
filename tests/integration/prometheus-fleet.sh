#!/bin/bash
# The fleet examples in etc/prometheus/fleet/: promtool accepts the config and
# the rules, the rules' unit tests pass and catch a broken alert; then a real
# Prometheus finds three daemons on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (the same
# port on each), each over a different fixture tree, through the fleet's
# prometheus.yml and a file_sd targets.yml, and its recorded fleet series are
# the sums of the trees' figures, exactly.
. "$(dirname "$0")/lib.sh"

: "${top_srcdir:?top_srcdir must name the source tree}"
SRC="$top_srcdir/etc/prometheus"
FILES="prometheus.yml targets.yml fleet-rules.yml fleet-rules.test.yml"

command -v promtool >/dev/null || fail "promtool is not installed (Debian: prometheus)"
command -v prometheus >/dev/null || fail "prometheus is not installed (Debian: prometheus)"
for f in $FILES; do
        [ -f "$SRC/fleet/$f" ] || fail "$SRC/fleet/$f is missing"
done
pass "etc/prometheus/fleet has $FILES"

# Work on a copy laid out as installed (fleet/ below the single-host files, which
# prometheus.yml loads as ../dmabufd-rules.yml), and run promtool from elsewhere
# so that relative paths must resolve from the files' own directory.
P="$TMP/prometheus"
mkdir -p "$P/fleet" "$TMP/cwd"
cp "$SRC/dmabufd-rules.yml" "$P/" || fail "cannot copy dmabufd-rules.yml"
for f in $FILES; do cp "$SRC/fleet/$f" "$P/fleet/$f" || fail "cannot copy fleet/$f"; done
pt() { (cd "$TMP/cwd" && promtool "$@"); }

# ---- promtool ----
out=$(pt check config "$P/fleet/prometheus.yml" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q "Checking $P/fleet/fleet-rules.yml" <<<"$out" &&
        grep -q "Checking $P/dmabufd-rules.yml" <<<"$out"; then
        pass "promtool check config accepts fleet/prometheus.yml and finds both rule files"
else
        failc "promtool check config accepts fleet/prometheus.yml and finds both rule files" "exit $rc" "$out"
fi
if grep -q -E '^[[:space:]]*-[[:space:]]*job_name:[[:space:]]*dmabufd[[:space:]]*$' "$P/fleet/prometheus.yml" &&
        grep -q -E '^[[:space:]]*file_sd_configs:' "$P/fleet/prometheus.yml" &&
        ! grep -q -E '^[[:space:]]*static_configs:' "$P/fleet/prometheus.yml"; then
        pass "the fleet's job is dmabufd, with file_sd_configs and no static targets"
else
        failc "the fleet's job is dmabufd, with file_sd_configs and no static targets" "$(grep -n -E 'job_name|_configs' "$P/fleet/prometheus.yml")"
fi
out=$(pt check rules "$P/fleet/fleet-rules.yml" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q SUCCESS <<<"$out"; then
        pass "promtool check rules accepts fleet-rules.yml ($(grep -o '[0-9]* rules found' <<<"$out"))"
else
        failc "promtool check rules accepts fleet-rules.yml" "exit $rc" "$out"
fi
n=$(sed -n 's/^[[:space:]]*-[[:space:]]\{1,\}\([A-Za-z0-9.-]*:[0-9][0-9]*\)[[:space:]]*$/\1/p' "$P/fleet/targets.yml" | wc -l)
check "targets.yml lists HOST:PORT targets ($n)" test "$n" -ge 2
out=$(pt test rules "$P/fleet/fleet-rules.test.yml" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q SUCCESS <<<"$out"; then
        pass "promtool test rules: every unit test in fleet-rules.test.yml passes"
else
        failc "promtool test rules: every unit test in fleet-rules.test.yml passes" "exit $rc" "$out"
fi
if grep -q -E '^[[:space:]]*- alert: DmabufFleetKernelOnlyOutlier$' "$P/fleet/fleet-rules.yml" &&
        grep -q -E 'alertname: DmabufFleetKernelOnlyOutlier$' "$P/fleet/fleet-rules.test.yml"; then
        pass "alert DmabufFleetKernelOnlyOutlier is defined and unit-tested"
else
        failc "alert DmabufFleetKernelOnlyOutlier is defined and unit-tested"
fi
# Not vacuous: an outlier alert that compares with nothing (no median) fires for
# a fleet that grows together, and the tests must say so.
B="$TMP/broken"
mkdir -p "$B"
cp "$P/fleet/fleet-rules.test.yml" "$B/"
sed 's/^\([[:space:]]*\)job:dmabuf_kernel_only_bytes:deriv1h_median$/\1(0 * job:dmabuf_kernel_only_bytes:deriv1h_median)/' \
        "$P/fleet/fleet-rules.yml" >"$B/fleet-rules.yml"
if cmp -s "$P/fleet/fleet-rules.yml" "$B/fleet-rules.yml"; then
        failc "an outlier alert that ignores the median fails the unit tests" "the sed found nothing to break: update this test"
else
        out=$(pt test rules "$B/fleet-rules.test.yml" 2>&1)
        rc=$?
        if [ $rc != 0 ] && grep -q 'a fleet growing together has no outlier' <<<"$out"; then
                pass "an outlier alert that ignores the median fails the unit tests"
        else
                failc "an outlier alert that ignores the median fails the unit tests" "exit $rc" "$out"
        fi
fi

# docs/fleet.md's remote_write snippets: each, added to the fleet's config, is
# a valid Prometheus configuration.
DOC="$top_srcdir/docs/fleet.md"
[ -f "$DOC" ] || fail "$DOC is missing"
awk -v dir="$TMP" '
        /^```yaml$/ { n++; f = dir "/remote-write." n ".yml"; inb = 1; next }
        /^```$/ { inb = 0; next }
        inb { print > f }' "$DOC"
n=0
for f in "$TMP"/remote-write.*.yml; do
        [ -e "$f" ] || continue
        head -n 1 "$f" | grep -q '^remote_write:$' || continue
        n=$((n + 1))
        url=$(sed -n 's/^ *- url: *//p' "$f" | head -n 1)
        cat "$P/fleet/prometheus.yml" "$f" >"$P/fleet/remote-write.yml"
        if out=$(pt check config "$P/fleet/remote-write.yml" 2>&1); then
                pass "docs/fleet.md's remote_write to $url is a valid config"
        else
                failc "docs/fleet.md's remote_write to $url is a valid config" "$out"
        fi
        rm -f "$P/fleet/remote-write.yml"
done
check "docs/fleet.md has the Thanos, Mimir and VictoriaMetrics snippets ($n)" test "$n" = 3

# ---- three daemons, one Prometheus ----
# Three trees with different exporters: system on all three, udmabuf on two,
# i915 and amdgpu on one each; every total known.
CASES=(linux-6.1 attach-stats linux-7.2-debugfs)
for c in "${CASES[@]}"; do
        require_tree "$c"
        jq -e '.totals.bytes != null and .totals.kernel_only_bytes != null and all(.exporters[]; .bytes != null)' \
                "$(expected "$c")" >/dev/null || fail "$c: a total or an exporter's bytes is unknown; pick a tree with every figure"
done
# The first daemon on 127.0.0.1 picks a free port; the others take the same
# port on 127.0.0.2 and 127.0.0.3 (start_daemon also gives each an ephemeral
# 127.0.0.1 port of its own, which Prometheus does not use).
start_daemon --root "$(tree "${CASES[0]}")" --interval 1
FPORT=$PORT
PIDS=("$DAEMON_PID")
ADDRS=("127.0.0.1:$FPORT")
for i in 2 3; do
        a="127.0.0.$i:$FPORT"
        start_daemon --root "$(tree "${CASES[i - 1]}")" --interval 1 --listen "$a"
        ok=0
        for ((w = 0; w < 50; w++)); do # 5 s
                grep -q "listening on $a" "$DAEMON_ERR" && { ok=1; break; }
                sleep 0.1
        done
        [ $ok = 1 ] || fail "daemon $i does not log 'listening on $a'; stderr: $(head -c 1000 "$DAEMON_ERR")"
        PIDS+=("$DAEMON_PID")
        ADDRS+=("$a")
done
pass "three daemons listen on ${ADDRS[*]}"

# The fleet's prometheus.yml as shipped, but scraping and evaluating every
# second instead of 10 s and 30 s; its targets.yml names the three daemons.
sed -e 's/^\([[:space:]]*scrape_interval:\).*/\1 1s/' -e 's/^\([[:space:]]*scrape_timeout:\).*/\1 1s/' \
        -e 's/^\([[:space:]]*evaluation_interval:\).*/\1 1s/' "$SRC/fleet/prometheus.yml" >"$P/fleet/prometheus.yml"
check "only the intervals of the fleet's prometheus.yml were changed" \
        test "$(diff "$SRC/fleet/prometheus.yml" "$P/fleet/prometheus.yml" | grep -c '^>')" = 3
{
        echo "# written by prometheus-fleet.sh"
        echo "- targets: ['${ADDRS[0]}', '${ADDRS[1]}']"
        echo "  labels: {site: a}"
        echo "- targets: ['${ADDRS[2]}']"
        echo "  labels: {site: b}"
} >"$P/fleet/targets.yml.tmp" && mv "$P/fleet/targets.yml.tmp" "$P/fleet/targets.yml"
out=$(pt check config "$P/fleet/prometheus.yml" 2>&1) || failc "promtool check config accepts the test's copy" "$out"

start_prometheus "$P/fleet/prometheus.yml" "$TMP/cwd"

# qjson EXPR: the query's result as JSON [{metric, value}]
qjson() {
        curl -s --max-time 5 --noproxy '*' -G --data-urlencode "query=$1" "$PBASE/api/v1/query" |
                jq -c 'if .status == "success" then [.data.result[] | {metric, value: .value[1]}] else empty end' 2>/dev/null
}
# query EXPR: the value of the first result, nothing if none
query() { qjson "$1" | jq -r '.[0].value // empty' 2>/dev/null; }

# Until every target is up and the rules have run over all three (bounded: 60 s).
up=
for ((i = 0; i < 120; i++)); do
        up=$(query 'job:up:sum{job="dmabufd"}')
        n=$(query 'count(dmabuf_bytes{job="dmabufd"})')
        [ "$up" = 3 ] && [ "$n" = 3 ] && [ -n "$(query 'job:dmabuf_bytes:sum')" ] && break
        sleep 0.5
done
if [ "$up" = 3 ]; then
        pass "file_sd found the three targets and all are up (job:up:sum = 3)"
else
        failc "file_sd found the three targets and all are up (job:up:sum = 3)" "got '$up'" \
                "targets: $(curl -s --max-time 5 --noproxy '*' "$PBASE/api/v1/targets" | jq -c '.data.activeTargets[] | {scrapeUrl, health, lastError}' 2>&1 | head -c 1500)" \
                "prometheus log: $(tail -n 10 "$TMP/prometheus.log")"
        finish
fi
got=$(curl -s --max-time 5 --noproxy '*' "$PBASE/api/v1/targets" |
        jq -r '[.data.activeTargets[] | select(.labels.job == "dmabufd") | .labels.instance + "/" + .labels.site + "/" + .discoveredLabels.__meta_filepath] | sort | join(" ")')
want=$(printf '%s\n' "${ADDRS[0]}/a/$P/fleet/targets.yml" "${ADDRS[1]}/a/$P/fleet/targets.yml" "${ADDRS[2]}/b/$P/fleet/targets.yml" | sort | paste -s -d ' ')
if [ "$got" = "$want" ]; then
        pass "the targets came from targets.yml through file_sd, with their group's labels"
else
        failc "the targets came from targets.yml through file_sd, with their group's labels" "want: $want" "got:  $got"
fi

# ---- the recorded series against the trees ----
# Per exporter: the sum over the three trees' expected JSON.
WANT="$TMP/want-exporters.json"
for c in "${CASES[@]}"; do jq -c '.exporters[]' "$(expected "$c")"; done |
        jq -s -c 'group_by(.name) | map({key: .[0].name, value: {bytes: (map(.bytes) | add), buffers: (map(.buffers) | add), hosts: length}}) | from_entries' >"$WANT"
check_exporters() { # the recorded series match $WANT exactly; prints the mismatches
        local rec field
        for rec in bytes:sum:bytes buffers:sum:buffers bytes:instances:hosts; do
                field=${rec##*:}
                got=$(qjson "job_exporter:dmabuf_exporter_${rec%:*}" | jq -c 'map({key: .metric.exporter, value: (.value | tonumber)}) | from_entries')
                w=$(jq -c --arg f "$field" 'map_values(.[$f])' "$WANT")
                [ "$got" = "$(jq -c -S . <<<"$w")" ] || [ "$(jq -S . <<<"$got")" = "$(jq -S . <<<"$w")" ] ||
                        echo "job_exporter:dmabuf_exporter_${rec%:*}: want $w, got $got"
        done
}
# The rules run every second on the latest scrapes: poll until they agree
# (bounded: 20 s), then report.
for ((i = 0; i < 40; i++)); do
        [ -z "$(check_exporters)" ] && break
        sleep 0.5
done
out=$(check_exporters)
if [ -z "$out" ]; then
        pass "per-exporter fleet sums equal the three trees' figures: $(jq -c 'map_values(.bytes)' "$WANT")"
else
        failc "per-exporter fleet sums equal the three trees' figures" "$out"
fi
for k in bytes userspace_bytes kernel_only_bytes; do
        want=0
        for c in "${CASES[@]}"; do want=$((want + $(jq -r --arg k $k '.totals[$k]' "$(expected "$c")"))); done
        got=$(query "job:dmabuf_${k}:sum")
        if [ -n "$got" ] && num_eq "$got" "$want"; then
                pass "job:dmabuf_${k}:sum = $want, the sum of the trees' totals"
        else
                failc "job:dmabuf_${k}:sum = $want, the sum of the trees' totals" "got '$got'"
        fi
done
n=$(query 'job:dmabuf_kernel_only_bytes:deriv1h_instances')
check "the fleet's median slope is taken over the three hosts (got '$n')" test "$n" = 3
v=$(query 'job:dmabuf_kernel_only_bytes:deriv1h_median')
check "the median slope of three flat trees is 0 (got '$v')" num_eq "$v" 0
v=$(qjson 'ALERTS{alertname="DmabufFleetKernelOnlyOutlier"}')
check "no outlier alert for three flat trees" test "$v" = "[]"

# Per unit: the sum of what the three daemons serve (the unit label is the
# daemon's to derive from the cgroup), where they serve dmabuf_cgroup_pss_bytes.
: >"$TMP/units.prom"
for a in "${ADDRS[@]}"; do
        curl -s --max-time 5 --noproxy '*' "http://$a/metrics" | grep '^dmabuf_cgroup_pss_bytes{' >>"$TMP/units.prom"
done
if [ ! -s "$TMP/units.prom" ]; then
        skip "per-unit fleet sums equal the sums of the daemons' dmabuf_cgroup_pss_bytes" \
                "this daemon serves no dmabuf_cgroup_pss_bytes"
else
        # unit<TAB>value; an empty unit label (a cgroup in no unit) is "-" on
        # both sides, as Prometheus drops empty labels.
        want=$(sed -n 's/.*[{,]unit="\([^"]*\)".*} \([0-9.e+]*\)$/\1\t\2/p' "$TMP/units.prom" |
                awk -F '\t' '{ s[$1 == "" ? "-" : $1] += $2 } END { for (u in s) printf "%s\t%.3f\n", u, s[u] }' | sort)
        units() {
                qjson 'job_unit:dmabuf_cgroup_pss_bytes:sum' | jq -r '.[] | "\(.metric.unit // "-")\t\(.value)"' |
                        awk -F '\t' '{ printf "%s\t%.3f\n", $1, $2 }' | sort
        }
        for ((i = 0; i < 40; i++)); do
                [ "$(units)" = "$want" ] && break
                sleep 0.5
        done
        got=$(units)
        if [ -n "$want" ] && [ "$got" = "$want" ]; then
                pass "per-unit fleet sums equal the sums of the daemons' dmabuf_cgroup_pss_bytes ($(wc -l <<<"$want") units)"
        else
                failc "per-unit fleet sums equal the sums of the daemons' dmabuf_cgroup_pss_bytes" "want: $want" "got:  $got"
        fi
fi

_kill_bounded "$PROM_PID"
wait "$PROM_PID" 2>/dev/null
for p in "${PIDS[@]}"; do
        stop_daemon "$p"
        [ "$DAEMON_RC" = 0 ] || failc "daemon $p exits 0 on SIGTERM" "exit status $DAEMON_RC"
done
pass "the three daemons stopped"
finish
