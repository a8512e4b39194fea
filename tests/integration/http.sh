#!/bin/bash
# HTTP: every endpoint, content negotiation on /metrics, JSON errors, the SPEC's
# metric names and their values against the fixtures' expected JSON, top-N
# limits from the config, and unknown totals on a kernel without sysfs stats.
. "$(dirname "$0")/lib.sh"

require_tree linux-6.1
C=linux-6.1
E=$(expected $C)
start_daemon --root "$(tree $C)"

# ---- / ----
fetch "$BASE/"
if [ "$HTTP_CODE" = 200 ] && [[ $CTYPE == text/html* ]]; then
        pass "GET / is 200 text/html ($CTYPE)"
else
        failc "GET / is 200 text/html" "status $HTTP_CODE, Content-Type '$CTYPE'"
fi
for l in metrics api/v1/state healthz; do
        if grep -a -q -E "href=[\"']?(\\.?/)?${l}[\"' >]" "$TMP/b"; then
                pass "GET / links to /$l"
        else
                failc "GET / links to /$l" "body: $(head -c 600 "$TMP/b")"
        fi
done

# ---- /metrics, content negotiation ----
check_text() { # DESC: the last fetch is Prometheus text 0.0.4
        if [ "$HTTP_CODE" = 200 ] && [[ $CTYPE == "text/plain; version=0.0.4"* ]] && ! grep -a -q '^# EOF' "$TMP/b"; then
                pass "$1: 200 $CTYPE, no '# EOF'"
        else
                failc "$1: 200 text/plain; version=0.0.4" "status $HTTP_CODE, Content-Type '$CTYPE'" "last line: $(tail -n 1 "$TMP/b")"
        fi
}
check_om() { # DESC: the last fetch is OpenMetrics 1.0.0
        if [ "$HTTP_CODE" = 200 ] && [[ $CTYPE == "application/openmetrics-text; version=1.0.0"* ]] &&
                [ "$(tail -n 1 "$TMP/b")" = "# EOF" ]; then
                pass "$1: 200 $CTYPE, body ends with '# EOF'"
        else
                failc "$1: 200 application/openmetrics-text; version=1.0.0 ending in '# EOF'" \
                        "status $HTTP_CODE, Content-Type '$CTYPE'" "last line: $(tail -n 1 "$TMP/b" | head -c 200)"
        fi
}

fetch "$BASE/metrics"
check_text "GET /metrics without Accept"
cp "$TMP/b" "$TMP/metrics.txt"
fetch -H 'Accept: text/plain' "$BASE/metrics"
check_text "GET /metrics with Accept: text/plain"
fetch -H 'Accept: application/openmetrics-text;version=1.0.0' "$BASE/metrics"
check_om "GET /metrics with Accept: application/openmetrics-text;version=1.0.0"
cp "$TMP/b" "$TMP/metrics.om"
PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
fetch -H "Accept: $PROM_ACCEPT" "$BASE/metrics"
check_om "GET /metrics with Prometheus 2.42's Accept header"
fetch -H 'Accept: */*' "$BASE/metrics"
check_text "GET /metrics with Accept: */*"

if grep -a -q -E '^# TYPE dmabuf_bytes gauge$' "$TMP/metrics.om"; then
        pass "OpenMetrics body declares '# TYPE dmabuf_bytes gauge'"
else
        failc "OpenMetrics body declares '# TYPE dmabuf_bytes gauge'" "$(grep -a dmabuf_bytes "$TMP/metrics.om" | head -n 5)"
fi
# In OpenMetrics, a counter family is named without _total and its samples carry it.
bad=$(awk '/^# TYPE [^ ]+ counter$/ { if ($3 ~ /_total$/) print $3 }' "$TMP/metrics.om")
if [ -z "$bad" ]; then
        pass "OpenMetrics counter families are named without the _total suffix"
else
        failc "OpenMetrics counter families are named without the _total suffix" "$bad"
fi

# ---- metric names ----
for m in dmabuf_buffers dmabuf_bytes dmabuf_exporter_buffers dmabuf_exporter_bytes \
        dmabuf_userspace_bytes dmabuf_kernel_only_bytes dmabuf_process_rss_bytes \
        dmabuf_process_pss_bytes dmabuf_name_bytes dmabufd_source_up \
        dmabufd_collection_duration_seconds dmabufd_collection_timestamp_seconds dmabufd_build_info; do
        if grep -a -q -E "^# TYPE $m gauge$" "$TMP/metrics.txt" && grep -a -q -E "^$m(\{| )" "$TMP/metrics.txt"; then
                pass "/metrics has gauge $m with samples"
        else
                # dmabuf_name_bytes needs named buffers; the fixture may have none
                if [ "$m" = dmabuf_name_bytes ] && [ "$(jq '[.buffers[] | select(.name != null)] | length' "$E")" = 0 ]; then
                        grep -a -q -E "^# TYPE $m gauge$" "$TMP/metrics.txt" && pass "/metrics declares $m (no named buffers in $C)" ||
                                failc "/metrics declares gauge $m" "$(grep -a "$m" "$TMP/metrics.txt" | head -n 3)"
                else
                        failc "/metrics has gauge $m with samples" "$(grep -a "$m" "$TMP/metrics.txt" | head -n 3)"
                fi
        fi
done
# Counters of the snapshot machinery (SPEC): declared as counters, with samples.
for m in dmabufd_events_total dmabufd_snapshots_total dmabufd_snapshot_failures_total; do
        base=${m%_total}
        if grep -a -q -E "^# TYPE ($m|$base) counter$" "$TMP/metrics.txt" &&
                [ "$(series_count "$TMP/metrics.txt" "$m")" -gt 0 ]; then
                pass "/metrics declares counter $m, with samples"
        else
                failc "/metrics declares counter $m, with samples" "$(grep -a -E "^(# TYPE )?($m|$base)[ {]" "$TMP/metrics.txt" | head -n 3)"
        fi
done
check_totals_metrics $C "$TMP/metrics.txt"

# exporters and sources against the expected JSON
while IFS=$'\t' read -r name buffers bytes; do
        got=$(metric_value "$TMP/metrics.txt" "dmabuf_exporter_bytes{exporter=\"$name\"}")
        gotb=$(metric_value "$TMP/metrics.txt" "dmabuf_exporter_buffers{exporter=\"$name\"}")
        if [ -n "$got" ] && num_eq "$got" "$bytes" && [ -n "$gotb" ] && num_eq "$gotb" "$buffers"; then
                pass "exporter $name: $buffers buffers, $bytes bytes"
        else
                failc "exporter $name: $buffers buffers, $bytes bytes" "got buffers '$gotb', bytes '$got'"
        fi
done < <(jq -r '.exporters[]? | select(.bytes != null) | [.name, .buffers, .bytes] | @tsv' "$E")
for s in sysfs procfs debugfs bpf; do
        want=$(jq -r --arg s $s '.sources[$s] | if . == true then 1 elif . == false then 0 else "" end' "$E")
        [ -n "$want" ] || continue
        got=$(metric_value "$TMP/metrics.txt" "dmabufd_source_up{source=\"$s\"}")
        if [ "$got" = "$want" ]; then
                pass "dmabufd_source_up{source=\"$s\"} $want"
        else
                failc "dmabufd_source_up{source=\"$s\"} $want" "got '$got'"
        fi
done
version=$(sed -n 's/^AC_INIT(\[dmabufd\], *\[\([^]]*\)\].*/\1/p' "${top_srcdir:-/nonexistent}/configure.ac" 2>/dev/null)
if [ -n "$version" ]; then
        got=$(metric_value "$TMP/metrics.txt" "dmabufd_build_info{version=\"$version\"}")
        if [ "$got" = 1 ]; then
                pass "dmabufd_build_info{version=\"$version\"} 1"
        else
                failc "dmabufd_build_info{version=\"$version\"} 1" "$(grep -a '^dmabufd_build_info' "$TMP/metrics.txt")"
        fi
fi
ts=$(metric_value "$TMP/metrics.txt" dmabufd_collection_timestamp_seconds)
now=$(date +%s)
if [ -n "$ts" ] && awk -v t="$ts" -v n="$now" 'BEGIN { exit !(t > n - 600 && t < n + 60) }'; then
        pass "dmabufd_collection_timestamp_seconds is a current Unix time ($ts)"
else
        failc "dmabufd_collection_timestamp_seconds is a current Unix time" "got '$ts', now $now"
fi

# ---- /api/v1/state ----
fetch "$BASE/api/v1/state"
cp "$TMP/b" "$TMP/state.json"
if [ "$HTTP_CODE" = 200 ] && [[ $CTYPE == application/json* ]] && jq -e 'type == "object"' "$TMP/state.json" >/dev/null 2>&1; then
        pass "GET /api/v1/state is 200 application/json"
        if out=$(expected_state_subset $C "$TMP/state.json"); then
                pass "/api/v1/state matches $(basename "$E")"
        else
                failc "/api/v1/state matches $(basename "$E")" "$out"
        fi
        ca=$(jq -r '.collected_at' "$TMP/state.json")
        if [[ $ca =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$ ]]; then
                pass "collected_at is RFC 3339 ($ca)"
        else
                failc "collected_at is RFC 3339" "got '$ca'"
        fi
else
        failc "GET /api/v1/state is 200 application/json" "status $HTTP_CODE, Content-Type '$CTYPE'" "$(head -c 300 "$TMP/b")"
fi

# ---- /healthz ----
fetch "$BASE/healthz"
if [ "$HTTP_CODE" = 200 ] && [ "$(tr -d '\r\n' <"$TMP/b")" = ok ]; then
        pass "GET /healthz is 200 ok"
else
        failc "GET /healthz is 200 ok" "status $HTTP_CODE, body '$(head -c 100 "$TMP/b")'"
fi

# ---- errors ----
check_json_error() { # DESC STATUS
        if [ "$HTTP_CODE" = "$2" ] && [[ $CTYPE == application/json* ]] &&
                jq -e '(.error | type) == "string" and (.error | length) > 0' "$TMP/b" >/dev/null 2>&1; then
                pass "$1: $2 with JSON {\"error\": $(jq -c .error "$TMP/b")}"
        else
                failc "$1: $2 with a JSON {\"error\": ...} body" "status $HTTP_CODE, Content-Type '$CTYPE'" "body: $(head -c 300 "$TMP/b")"
        fi
}
fetch "$BASE/no/such/path"
check_json_error "GET /no/such/path" 404
fetch "$BASE/metricsx"
check_json_error "GET /metricsx" 404
fetch -X POST --data 'x=1' "$BASE/metrics"
check_json_error "POST /metrics" 405
allow=$(header allow)
if [[ $allow == *GET* ]]; then
        pass "POST /metrics: Allow: $allow"
else
        failc "POST /metrics: 405 has an Allow header listing GET" "Allow: '$allow'"
fi
fetch -X DELETE "$BASE/api/v1/state"
check_json_error "DELETE /api/v1/state" 405
allow=$(header allow)
if [[ $allow == *GET* ]]; then
        pass "DELETE /api/v1/state: Allow: $allow"
else
        failc "DELETE /api/v1/state: 405 has an Allow header listing GET" "Allow: '$allow'"
fi
fetch -I "$BASE/healthz"
if [ "$HTTP_CODE" = 200 ] || [ "$HTTP_CODE" = 405 ]; then
        pass "HEAD /healthz answers ($HTTP_CODE)"
else
        failc "HEAD /healthz answers 200 or 405" "status $HTTP_CODE"
fi

# ---- snapshots (in the SPEC's HTTP table) ----
fetch "$BASE/api/v1/snapshots"
if [ "$HTTP_CODE" = 200 ] && jq -e 'type == "array"' "$TMP/b" >/dev/null 2>&1; then
        pass "GET /api/v1/snapshots is 200 with a JSON list"
else
        failc "GET /api/v1/snapshots is 200 with a JSON list" "status $HTTP_CODE" "$(head -c 300 "$TMP/b")"
fi
fetch -X POST "$BASE/api/v1/snapshots"
loc=$(header location)
if [ "$HTTP_CODE" = 201 ] && [ -n "$loc" ] && jq -e '.id != null' "$TMP/b" >/dev/null 2>&1; then
        pass "POST /api/v1/snapshots is 201 with Location: $loc"
        id=$(jq -r .id "$TMP/b")
        case $loc in http*) url=$loc ;; *) url="$BASE$loc" ;; esac
        fetch "$url"
        if [ "$HTTP_CODE" = 200 ] && jq -e --arg id "$id" '.schema == "dmabufd.snapshot/1" and (.id | tostring) == $id and .trigger.kind == "manual"' "$TMP/b" >/dev/null 2>&1; then
                pass "GET $loc is the manual snapshot, schema dmabufd.snapshot/1"
                jq '.state' "$TMP/b" >"$TMP/snapstate.json"
                if out=$(expected_state_subset $C "$TMP/snapstate.json"); then
                        pass "snapshot state matches $(basename "$E")"
                else
                        failc "snapshot state matches $(basename "$E")" "$out"
                fi
        else
                failc "GET $loc is the manual snapshot, schema dmabufd.snapshot/1" "status $HTTP_CODE" "$(head -c 400 "$TMP/b")"
        fi
        fetch "$BASE/api/v1/snapshots"
        if jq -e --arg id "$id" '.[0] | (.id | tostring) == $id and .trigger.kind == "manual" and has("taken_at") and has("bytes")' "$TMP/b" >/dev/null 2>&1; then
                pass "GET /api/v1/snapshots lists it first with id, taken_at, trigger.kind, bytes"
        else
                failc "GET /api/v1/snapshots lists it first with id, taken_at, trigger.kind, bytes" "$(head -c 400 "$TMP/b")"
        fi
else
        failc "POST /api/v1/snapshots is 201 with a Location header and the summary" "status $HTTP_CODE, Location '$loc'" "$(head -c 300 "$TMP/b")"
fi
fetch "$BASE/api/v1/snapshots/no-such-snapshot"
check_json_error "GET /api/v1/snapshots/no-such-snapshot" 404

stop_daemon
if [ "$DAEMON_RC" = 0 ]; then
        pass "daemon exits 0 on SIGTERM"
else
        failc "daemon exits 0 on SIGTERM" "exit status $DAEMON_RC" "$(head -c 600 "$DAEMON_ERR")"
fi

# ---- top_processes / top_names ----
n_proc=$(jq '[.processes[]] | length' "$E")
n_names=$(jq '[.buffers[] | .name | select(. != null and . != "")] | unique | length' "$E")
conf="$TMP/top.conf"
printf '# limit the per-process, per-name and per-cgroup series\ntop_processes = 1\ntop_names = 1\ntop_cgroups = 1\n' >"$conf"
start_daemon --config "$conf" --root "$(tree $C)"
fetch "$BASE/metrics"
cp "$TMP/b" "$TMP/top.txt"
want=$((n_proc > 0 ? 1 : 0))
for m in dmabuf_process_rss_bytes dmabuf_process_pss_bytes; do
        got=$(series_count "$TMP/top.txt" $m)
        if [ "$got" = "$want" ]; then
                pass "top_processes = 1: $got $m series ($n_proc processes)"
        else
                failc "top_processes = 1: $want $m series ($n_proc processes)" "got $got" "$(grep -a "^$m" "$TMP/top.txt" | head -n 5)"
        fi
done
# the one shown is the largest by rss (when the largest is unique)
top=$(jq -r '[.processes[] | select(.rss_bytes != null)] | sort_by(-.rss_bytes) |
        if length == 0 then "" elif length == 1 or .[0].rss_bytes > .[1].rss_bytes then .[0].pid | tostring else "" end' "$E")
if [ -n "$top" ]; then
        if grep -a -q -E "^dmabuf_process_rss_bytes\{.*pid=\"$top\"" "$TMP/top.txt"; then
                pass "top_processes = 1 keeps pid $top, the largest by rss"
        else
                failc "top_processes = 1 keeps pid $top, the largest by rss" "$(grep -a '^dmabuf_process_rss_bytes' "$TMP/top.txt")"
        fi
fi
want=$((n_names > 0 ? 1 : 0))
got=$(series_count "$TMP/top.txt" dmabuf_name_bytes)
if [ "$got" = "$want" ]; then
        pass "top_names = 1: $got dmabuf_name_bytes series ($n_names names)"
else
        failc "top_names = 1: $want dmabuf_name_bytes series ($n_names names)" "got $got" "$(grep -a '^dmabuf_name_bytes' "$TMP/top.txt" | head -n 5)"
fi
n_cg=$(series_count "$TMP/metrics.txt" dmabuf_cgroup_pss_bytes)
got=$(series_count "$TMP/top.txt" dmabuf_cgroup_pss_bytes)
if [ "$got" = $((n_cg > 0 ? 1 : 0)) ] && [ "$(series_count "$TMP/top.txt" dmabuf_cgroup_rss_bytes)" = "$got" ]; then
        pass "top_cgroups = 1: $got dmabuf_cgroup_pss_bytes and _rss_bytes series ($n_cg cgroups without it)"
else
        failc "top_cgroups = 1: one series per cgroup family ($n_cg cgroups without it)" "got $got" "$(grep -a '^dmabuf_cgroup' "$TMP/top.txt" | head -n 5)"
fi
got=$(series_count "$TMP/metrics.txt" dmabuf_process_rss_bytes)
if [ "$n_proc" -le 1 ] || [ "$got" -gt 1 ]; then
        pass "without the config limit, $got dmabuf_process_rss_bytes series ($n_proc processes)"
else
        failc "without the config limit, more than 1 dmabuf_process_rss_bytes series ($n_proc processes)" "got $got"
fi
stop_daemon

# ---- a kernel without a source of totals ----
C2=linux-7.2-nodebugfs
require_tree $C2
start_daemon --root "$(tree $C2)"
fetch "$BASE/metrics"
cp "$TMP/b" "$TMP/m2.txt"
if [ "$HTTP_CODE" = 200 ] && ! grep -a -q -E '^dmabuf_bytes(\{| )' "$TMP/m2.txt"; then
        pass "$C2: no dmabuf_bytes sample (unknown, not 0)"
else
        failc "$C2: no dmabuf_bytes sample (unknown, not 0)" "status $HTTP_CODE" "$(grep -a '^dmabuf_bytes' "$TMP/m2.txt")"
fi
check_totals_metrics $C2 "$TMP/m2.txt"
fetch "$BASE/api/v1/state"
if jq -e '.totals | has("bytes") and .bytes == null' "$TMP/b" >/dev/null 2>&1; then
        pass "$C2: /api/v1/state totals.bytes is null"
else
        failc "$C2: /api/v1/state totals.bytes is null" "totals: $(jq -c .totals "$TMP/b" 2>&1 | head -c 300)"
fi
cp "$TMP/b" "$TMP/s2.json"
if out=$(expected_state_subset $C2 "$TMP/s2.json"); then
        pass "$C2: /api/v1/state matches $(basename "$(expected $C2)")"
else
        failc "$C2: /api/v1/state matches $(basename "$(expected $C2)")" "$out"
fi
stop_daemon

finish
