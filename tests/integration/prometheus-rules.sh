#!/bin/bash
# The Prometheus examples in etc/prometheus/: the scrape config passes
# `promtool check config` (finding the rule file next to it), the rule file
# passes `promtool check rules`, its unit tests pass `promtool test rules` and
# catch a broken rule, and the metric families the rules use are the ones the
# daemon serves, with the same types.
. "$(dirname "$0")/lib.sh"

: "${top_srcdir:?top_srcdir must name the source tree}"
SRC="$top_srcdir/etc/prometheus"
FILES="prometheus.yml dmabufd-rules.yml dmabufd-rules.test.yml"

command -v promtool >/dev/null || fail "promtool is not installed (Debian: prometheus)"

for f in $FILES; do
        [ -f "$SRC/$f" ] || fail "$SRC/$f is missing"
done
pass "etc/prometheus has $FILES"

# The source tree may be read-only (make distcheck): work on a copy in $TMP,
# and run promtool from another directory, so that relative paths must be
# resolved from the files' own directory.
P="$TMP/prometheus"
mkdir -p "$P" "$TMP/cwd"
for f in $FILES; do cp "$SRC/$f" "$P/$f" || fail "cannot copy $SRC/$f to $P"; done
pt() { (cd "$TMP/cwd" && promtool "$@"); }

# ---- the scrape config ----
out=$(pt check config "$P/prometheus.yml" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q "SUCCESS" <<<"$out"; then
        pass "promtool check config accepts prometheus.yml"
else
        failc "promtool check config accepts prometheus.yml" "exit $rc" "$out"
fi
# rule_files is relative: promtool must have found and checked the rules
if grep -q "Checking $P/dmabufd-rules.yml" <<<"$out" && grep -q "SUCCESS: [1-9][0-9]* rules found" <<<"$out"; then
        pass "prometheus.yml's rule_files finds dmabufd-rules.yml next to it"
else
        failc "prometheus.yml's rule_files finds dmabufd-rules.yml next to it" "$out"
fi
if grep -q -E '^[[:space:]]*-[[:space:]]*job_name:[[:space:]]*dmabufd[[:space:]]*$' "$P/prometheus.yml" &&
        grep -q -F 'up{job="dmabufd"}' "$P/dmabufd-rules.yml"; then
        pass "the scrape job is named dmabufd, the job the rules select"
else
        failc "the scrape job is named dmabufd, the job the rules select" \
                "$(grep -n -E 'job_name|job=' "$P/prometheus.yml" "$P/dmabufd-rules.yml")"
fi
# Examples must not point anywhere but this host: every IPv4 address is
# 127.x, and no other host name than localhost appears in a target.
bad=$(cat "$P"/*.yml | grep -o -E '\b[0-9]{1,3}(\.[0-9]{1,3}){3}\b' | grep -v '^127\.' | sort -u)
badt=$(grep -h -E "targets:" "$P/prometheus.yml" | grep -v -E "targets:[[:space:]]*\[('(127\.[0-9.]+|localhost|\[::1\]):[0-9]+'(,[[:space:]]*)?)+\]")
if [ -z "$bad$badt" ]; then
        pass "etc/prometheus names loopback addresses only"
else
        failc "etc/prometheus names loopback addresses only" "$bad" "$badt"
fi

# ---- the rules ----
out=$(pt check rules "$P/dmabufd-rules.yml" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q "SUCCESS" <<<"$out"; then
        pass "promtool check rules accepts dmabufd-rules.yml ($(grep -o '[0-9]* rules found' <<<"$out"))"
else
        failc "promtool check rules accepts dmabufd-rules.yml" "exit $rc" "$out"
fi
for a in DmabufKernelOnlyBytesGrowing DmabufProcessPssGrowing DmabufUnitPssGrowing DmabufdSnapshotFailures \
        DmabufdSourceDown DmabufdDown DmabufdAbsent; do
        if grep -q -E "^[[:space:]]*- alert: $a\$" "$P/dmabufd-rules.yml" &&
                grep -q -E "alertname: $a\$" "$P/dmabufd-rules.test.yml"; then
                pass "alert $a is defined and unit-tested"
        else
                failc "alert $a is defined and unit-tested"
        fi
done

out=$(pt test rules "$P/dmabufd-rules.test.yml" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q "SUCCESS" <<<"$out"; then
        pass "promtool test rules: every unit test in dmabufd-rules.test.yml passes"
else
        failc "promtool test rules: every unit test in dmabufd-rules.test.yml passes" "exit $rc" "$out"
fi

# The unit tests are not vacuous: a source-down alert without its "was up"
# condition fires for bpf, which was never up, and the tests must say so.
B="$TMP/broken"
mkdir -p "$B"
cp "$P/dmabufd-rules.test.yml" "$B/"
sed 's/max_over_time1h\[1d\]) == 1/max_over_time1h[1d]) >= 0/' "$P/dmabufd-rules.yml" >"$B/dmabufd-rules.yml"
if cmp -s "$P/dmabufd-rules.yml" "$B/dmabufd-rules.yml"; then
        failc "a broken DmabufdSourceDown fails the unit tests" "the sed found nothing to break: update this test"
else
        out=$(pt test rules "$B/dmabufd-rules.test.yml" 2>&1)
        rc=$?
        if [ $rc != 0 ] && grep -q 'source="bpf"' <<<"$out"; then
                pass "a DmabufdSourceDown that fires for never-up sources fails the unit tests (bpf)"
        else
                failc "a DmabufdSourceDown that fires for never-up sources fails the unit tests (bpf)" "exit $rc" "$out"
        fi
fi

# Nor for units: summing the cgroups without a unit (label unit="") into a
# unit "" (a label Prometheus drops: the alert names no unit) must fail them.
sed 's/dmabuf_cgroup_pss_bytes{unit!=""}/dmabuf_cgroup_pss_bytes/' "$P/dmabufd-rules.yml" >"$B/dmabufd-rules.yml"
if cmp -s "$P/dmabufd-rules.yml" "$B/dmabufd-rules.yml"; then
        failc "a unit sum that keeps unit-less cgroups fails the unit tests" "the sed found nothing to break: update this test"
else
        out=$(pt test rules "$B/dmabufd-rules.test.yml" 2>&1)
        rc=$?
        if [ $rc != 0 ] && grep -q -F 'memory of unit  is growing' <<<"$out"; then
                pass "a unit sum that keeps unit-less cgroups fails the unit tests"
        else
                failc "a unit sum that keeps unit-less cgroups fails the unit tests" "exit $rc" "$out"
        fi
fi

# ---- the metrics the rules use are the daemon's ----
# The rules are only as good as the names they select: each family must be on
# /metrics with the type the rules assume (deriv/delta on gauges, increase on
# a counter).
C=linux-6.1
require_tree $C
start_daemon --root "$(tree $C)"
fetch "$BASE/metrics"
[ "$HTTP_CODE" = 200 ] || fail "GET /metrics: status $HTTP_CODE"
cp "$TMP/b" "$TMP/metrics.prom"
for ft in dmabuf_kernel_only_bytes:gauge dmabuf_process_pss_bytes:gauge \
        dmabuf_cgroup_pss_bytes:gauge dmabuf_cgroup_rss_bytes:gauge \
        dmabufd_snapshot_failures_total:counter dmabufd_source_up:gauge; do
        f=${ft%%:*} t=${ft#*:}
        if ! grep -q -E "(^|[^a-z_:])$f([^a-z_:]|\$)" "$P/dmabufd-rules.yml"; then
                failc "the rules use $f" "not found in dmabufd-rules.yml"
        elif grep -q -x "# TYPE $f $t" "$TMP/metrics.prom" && [ "$(series_count "$TMP/metrics.prom" "$f")" -gt 0 ]; then
                pass "the rules' $f is served by the daemon as a $t"
        else
                failc "the rules' $f is served by the daemon as a $t" "$(grep -E "^(# TYPE )?$f" "$TMP/metrics.prom" | head -n 5)"
        fi
done
# the sources the rules' comments and tests name are the daemon's
got=$(sed -n 's/^dmabufd_source_up{source="\([a-z]*\)"}.*/\1/p' "$TMP/metrics.prom" | sort | paste -s -d ' ')
want=$(printf '%s\n' sysfs procfs debugfs bpf kmsg psi cgroup journal | sort | paste -s -d ' ')
if [ "$got" = "$want" ]; then
        pass "dmabufd_source_up has the sources the rules expect: $got"
else
        failc "dmabufd_source_up has the sources the rules expect: $want" "got: $got"
fi
stop_daemon
if [ "$DAEMON_RC" = 0 ]; then
        pass "daemon exits 0 on SIGTERM"
else
        failc "daemon exits 0 on SIGTERM" "exit status $DAEMON_RC" "$(head -c 600 "$DAEMON_ERR")"
fi

finish
