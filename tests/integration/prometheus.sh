#!/bin/bash
# A real Prometheus server (2.42, Debian) scrapes the daemon: the scrape works
# (whatever format Prometheus negotiates) and the values it stores are the
# fixture's figures.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
E=$(expected $C)
start_daemon --root "$(tree $C)" --interval 1

cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dmabufd
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
if out=$(promtool check config "$TMP/prometheus.yml" 2>&1); then
        pass "promtool check config accepts the scrape config"
else
        fail "promtool check config rejects the scrape config: $out"
fi

start_prometheus "$TMP/prometheus.yml"

# query EXPR: prints the value of the first result, nothing if none
query() {
        curl -s --max-time 5 --noproxy '*' -G --data-urlencode "query=$1" "$PBASE/api/v1/query" |
                jq -r 'if .status == "success" and (.data.result | length) > 0 then .data.result[0].value[1] else empty end' 2>/dev/null
}

# Poll until the first scrape landed (bounded: 60 s).
v=
for ((i = 0; i < 120; i++)); do
        v=$(query dmabuf_bytes)
        [ -n "$v" ] && break
        sleep 0.5
done
if [ -z "$v" ]; then
        failc "prometheus has dmabuf_bytes within 60 s" \
                "targets: $(curl -s --max-time 5 "$PBASE/api/v1/targets" | jq -c '.data.activeTargets[] | {health, lastError, scrapeUrl}' 2>&1 | head -c 1000)" \
                "prometheus log: $(tail -n 10 "$TMP/prometheus.log")"
        finish
fi
want=$(jq -r '.totals.bytes' "$E")
if num_eq "$v" "$want"; then
        pass "prometheus: dmabuf_bytes = $want (expected totals.bytes)"
else
        failc "prometheus: dmabuf_bytes = $want (expected totals.bytes)" "got $v"
fi
for k in buffers userspace_bytes kernel_only_bytes; do
        want=$(jq -r --arg k $k '.totals[$k]' "$E")
        [ "$want" = null ] && continue
        m=$(totals_metric $k)
        v=$(query "$m")
        if [ -n "$v" ] && num_eq "$v" "$want"; then
                pass "prometheus: $m = $want"
        else
                failc "prometheus: $m = $want" "got '$v'"
        fi
done
v=$(query 'up{job="dmabufd"}')
if [ "$v" = 1 ]; then
        pass 'prometheus: up{job="dmabufd"} = 1'
else
        failc 'prometheus: up{job="dmabufd"} = 1' "got '$v'"
fi
want=$(jq -r '.sources.sysfs | if . then 1 else 0 end' "$E")
v=$(query 'dmabufd_source_up{source="sysfs"}')
if [ "$v" = "$want" ]; then
        pass "prometheus: dmabufd_source_up{source=\"sysfs\"} = $want"
else
        failc "prometheus: dmabufd_source_up{source=\"sysfs\"} = $want" "got '$v'"
fi
# the target is healthy and has no scrape error (e.g. a format Prometheus rejects)
t=$(curl -s --max-time 5 --noproxy '*' "$PBASE/api/v1/targets" | jq -c '[.data.activeTargets[] | select(.labels.job == "dmabufd") | {health, lastError}]')
if [ "$t" = '[{"health":"up","lastError":""}]' ]; then
        pass "prometheus: target health up, no scrape error"
else
        failc "prometheus: target health up, no scrape error" "$t"
fi
# The process series arrive with the pid and comm labels.
n=$(curl -s --max-time 5 --noproxy '*' -G --data-urlencode 'query=dmabuf_process_rss_bytes' "$PBASE/api/v1/query" |
        jq '[.data.result[] | select(.metric.pid != null and .metric.comm != null)] | length')
want=$(jq '[.processes[]] | length' "$E")
if [ "$n" -ge 1 ] || [ "$want" = 0 ]; then
        pass "prometheus: $n dmabuf_process_rss_bytes series with pid and comm labels"
else
        failc "prometheus: dmabuf_process_rss_bytes series with pid and comm labels" "got $n"
fi

_kill_bounded "$PROM_PID"
wait "$PROM_PID" 2>/dev/null
stop_daemon
if [ "$DAEMON_RC" = 0 ]; then
        pass "daemon exits 0 on SIGTERM"
else
        failc "daemon exits 0 on SIGTERM" "exit status $DAEMON_RC" "$(head -c 600 "$DAEMON_ERR")"
fi
finish
