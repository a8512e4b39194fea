#!/bin/bash
# SIGHUP re-reads the configuration: a valid file takes effect and the listener
# stays up; an invalid one is reported with file and line, and the running
# configuration stays in force.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
CONF="$TMP/dmabufd.conf"
printf 'interval = 0.2\ntop_processes = 5\ntop_names = 5\n' >"$CONF"
start_daemon --config "$CONF" --root "$(tree $C)"
port_before=$PORT

fetch "$BASE/metrics"
n=$(series_count "$TMP/b" dmabuf_process_rss_bytes)
check "top_processes = 5 gives more than one process series" test "$n" -gt 1

# Valid change: one process series once the next collection is rendered.
printf 'interval = 0.2\ntop_processes = 1\ntop_names = 5\n' >"$CONF"
kill -HUP "$DAEMON_PID"
for ((i = 0; i < 50; i++)); do
        fetch "$BASE/metrics"
        n=$(series_count "$TMP/b" dmabuf_process_rss_bytes)
        [ "$n" = 1 ] && break
        sleep 0.1
done
check "after SIGHUP with top_processes = 1, one process series (got $n)" test "$n" = 1
check "the daemon logged the reload" grep -q "configuration reloaded" "$DAEMON_ERR"
check "the daemon is still running" kill -0 "$DAEMON_PID"
fetch "$BASE/healthz"
check "the same listener still answers /healthz after reload" test "$HTTP_CODE" = 200 -a "$PORT" = "$port_before"

# cgroup_depth reaches the collection thread: every cgroup of the tree is under
# /user.slice, so at depth 1 the state has that one cgroup and one pss series.
printf 'interval = 0.2\ntop_processes = 1\ntop_names = 5\ncgroup_depth = 1\n' >"$CONF"
kill -HUP "$DAEMON_PID"
for ((i = 0; i < 50; i++)); do
        fetch "$BASE/api/v1/state"
        paths=$(jq -r '[.cgroups[].path] | join(" ")' "$TMP/b" 2>/dev/null)
        [ "$paths" = /user.slice ] && break
        sleep 0.1
done
check "after SIGHUP with cgroup_depth = 1, the state's cgroups are rolled up (got: $paths)" test "$paths" = /user.slice
fetch "$BASE/metrics"
check "and the metrics show /user.slice alone" \
        test "$(grep -a -c '^dmabuf_cgroup_pss_bytes{cgroup="/user.slice",unit=""}' "$TMP/b")" = 1 -a \
        "$(series_count "$TMP/b" dmabuf_cgroup_pss_bytes)" = 1

# Invalid change: reported with file:line, old configuration kept.
printf 'interval = 0.2\ntop_processes = 3\nbogus = 1\n' >"$CONF"
kill -HUP "$DAEMON_PID"
wait_for_line "$DAEMON_ERR" "reload failed" 5
check "an invalid file is reported naming file and line" grep -q "reload failed.*$CONF:3: unknown option 'bogus'" "$DAEMON_ERR"
check "two more collections complete within 10 s" wait_for_collections 2 10
fetch "$BASE/metrics"
n=$(series_count "$TMP/b" dmabuf_process_rss_bytes)
check "the running configuration stays (still one process series, got $n)" test "$n" = 1
check "the daemon is still running after a bad reload" kill -0 "$DAEMON_PID"

stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" = 0
finish
