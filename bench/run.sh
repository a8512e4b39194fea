#!/bin/sh
# SPDX-License-Identifier: MIT
# `make bench`: the collector benchmark, then the real daemon on the same tree.
#
#   bench/run.sh BUILDDIR
#
# Runs BUILDDIR/bench/dmabufd-bench with its defaults on a generated tree (kept), then
# starts BUILDDIR/dmabufd with --root on that tree, scrapes /metrics and
# /api/v1/state once each, samples its VmRSS over the next collection, and prints
# the steady VmRSS (the median), where the bytes go, and VmHWM (targets: RSS <=
# 8 MiB, VmHWM <= 12 MiB) and the body sizes. The tree goes
# under $TMPDIR if set, else under /dev/shm when it is a writable tmpfs (a tree of
# ~900k files writes and deletes in seconds there, minutes on a disk), else /tmp.
#
# BENCH_ONLY=memory BENCH_TREE=DIR runs only the daemon's memory part, and
# BENCH_ONLY=latency BENCH_TREE=DIR only the snapshot latency part, on a tree
# an earlier `dmabufd-bench --tree DIR --keep` left (reused, not removed);
# BENCH_ONLY=http BENCH_TREE=DIR only the HTTP load part (HTTP_REQUESTS, default
# 500000 requests, so that the run spans collections, from 64 keep-alive clients
# on /metrics; targets p99 <= 5 ms and no error).
set -eu

builddir=${1:?usage: run.sh BUILDDIR}
builddir=$(cd "$builddir" && pwd)
bench=$builddir/bench/dmabufd-bench
daemon=$builddir/dmabufd
httpload=$builddir/bench/dmabufd-httpload
for f in "$bench" "$daemon" "$httpload"; do
        [ -x "$f" ] || { echo "run.sh: $f: not built" >&2; exit 1; }
done
command -v curl >/dev/null 2>&1 || { echo "run.sh: curl is required" >&2; exit 1; }

if [ -n "${TMPDIR:-}" ]; then
        base=$TMPDIR
elif [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
        base=/dev/shm
else
        base=/tmp
fi
only=${BENCH_ONLY:-}
case $only in
"") tree=$(mktemp -d "$base/dmabufd-bench.XXXXXX") ;;
memory | latency | http)
        tree=${BENCH_TREE:?BENCH_ONLY=$only needs BENCH_TREE, a tree from dmabufd-bench --tree DIR --keep}
        [ -d "$tree/proc" ] || { echo "run.sh: $tree/proc: no tree there" >&2; exit 1; }
        ;;
*) echo "run.sh: BENCH_ONLY=$only: only 'memory', 'latency' and 'http' are known" >&2; exit 1 ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/dmabufd-bench-run.XXXXXX")
dpid=

cleanup() {
        if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
                kill -TERM "$dpid" 2>/dev/null || :
                i=0
                while kill -0 "$dpid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
                kill -KILL "$dpid" 2>/dev/null || :
        fi
        [ -n "$only" ] || rm -rf "$tree"
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# http_load TREE: the daemon with the shipped defaults (interval 10 s, 64
# connections, 16 per address) on TREE, and dmabufd-httpload on its /metrics
# once the first collection is in.
http_load() {
        printf 'psi_trigger =\ncgroup =\njournal_match =\n' >"$work/http.conf"
        : >"$work/httpd.log"
        "$daemon" --config "$work/http.conf" --root "$1" --state-dir "$work/httpstate" --listen 127.0.0.1:0 \
                2>"$work/httpd.log" &
        dpid=$!
        port=
        i=0
        while [ $i -lt 600 ]; do
                port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/httpd.log" | head -n 1)
                [ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")" = 200 ] && break
                kill -0 "$dpid" 2>/dev/null || { echo "run.sh: dmabufd exited:" >&2; cat "$work/httpd.log" >&2; exit 1; }
                sleep 0.1
                i=$((i + 1))
        done
        [ $i -lt 600 ] || { echo "run.sh: /metrics did not answer 200 within 60 s" >&2; exit 1; }
        echo "dmabufd pid $dpid on 127.0.0.1:$port; /metrics is $(curl -s "http://127.0.0.1:$port/metrics" | wc -c) bytes"
        "$httpload" --port "$port" --clients 64 --requests "${HTTP_REQUESTS:-500000}" --daemon-pid "$dpid"
        kill -TERM "$dpid"
        i=0
        while kill -0 "$dpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        wait "$dpid" 2>/dev/null || :
        dpid=
}

if [ "$only" = http ]; then
        echo "== HTTP load on $tree: 64 keep-alive clients on /metrics =="
        http_load "$tree"
        exit 0
fi

if [ -z "$only" ] || [ "$only" = memory ]; then
if [ "$only" != memory ]; then
echo "== dmabufd-bench =="
"$bench" --tree "$tree" --keep
fi

echo
echo "== dmabufd on the same tree =="
printf 'psi_trigger =\n' >"$work/plain.conf"
"$daemon" --config "$work/plain.conf" --root "$tree" --state-dir "$work/state" --listen 127.0.0.1:0 \
        2>"$work/daemon.log" &
dpid=$!

# It logs "listening on 127.0.0.1:PORT" once it serves.
port=
i=0
while [ $i -lt 300 ]; do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/daemon.log" | head -n 1)
        [ -n "$port" ] && break
        if ! kill -0 "$dpid" 2>/dev/null; then
                echo "run.sh: dmabufd exited before listening:" >&2
                cat "$work/daemon.log" >&2
                exit 1
        fi
        sleep 0.1
        i=$((i + 1))
done
if [ -z "$port" ]; then
        echo "run.sh: dmabufd did not log 'listening on 127.0.0.1:PORT' within 30 s:" >&2
        cat "$work/daemon.log" >&2
        exit 1
fi
# The first collection is done before the server starts, so a state is there.
echo "dmabufd pid $dpid listening on 127.0.0.1:$port (interval 10 s, the default)"
kill -0 "$dpid" 2>/dev/null || { echo "run.sh: dmabufd died:" >&2; cat "$work/daemon.log" >&2; exit 1; }

status_kib() { # FIELD: from the daemon's /proc status, in KiB
        sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$dpid/status"
}
rss0=$(status_kib VmRSS)
hwm0=$(status_kib VmHWM)

scrape() { # PATH OUTFILE: prints "bytes seconds http_code"
        curl -sS --max-time 30 -o "$2" -w '%{size_download} %{time_total} %{http_code}' "http://127.0.0.1:$port$1"
}
m=$(scrape /metrics "$work/metrics")
s=$(scrape /api/v1/state "$work/state.json")

# Steady RSS: VmRSS every 0.1 s for 12 s after serving both, which spans the next
# collection (about 1.5 s of every 10 on this tree). The median is the daemon
# between collections; the max is one in progress, with two states alive.
i=0
while [ $i -lt 120 ]; do
        status_kib VmRSS
        sleep 0.1
        i=$((i + 1))
done >"$work/rss-samples"
kill -0 "$dpid" 2>/dev/null || { echo "run.sh: dmabufd died:" >&2; cat "$work/daemon.log" >&2; exit 1; }
sort -n "$work/rss-samples" >"$work/rss-sorted"
rss_min=$(sed -n 1p "$work/rss-sorted")
rss=$(sed -n 60p "$work/rss-sorted")
rss_max=$(sed -n '$p' "$work/rss-sorted")
# Where the bytes go, read at a moment between collections (at most 12 s more).
i=0
while [ "$(status_kib VmRSS)" -gt "$rss" ] && [ $i -lt 120 ]; do sleep 0.1; i=$((i + 1)); done
cp "/proc/$dpid/smaps" "$work/smaps"
hwm=$(status_kib VmHWM)
anon=$(status_kib RssAnon)
file=$(status_kib RssFile)
threads=$(sed -n 's/^Threads:[[:space:]]*\([0-9]*\)/\1/p' "/proc/$dpid/status")
# GnuTLS and what it links: Debian's libmicrohttpd links it and initialises it
# in its constructor, though the daemon serves no TLS. Their file-backed pages and
# their relocated data (anonymous), in KiB.
tls_re='/lib(gnutls|p11-kit|nettle|hogweed|gmp|tasn1|unistring|idn2|ffi)[.-]'
tls=$(awk -v re="$tls_re" '/^[0-9a-f]+-[0-9a-f]+ / { lib = ($6 ~ re) }
        lib && /^Rss:/ { rss += $2 } lib && /^Anonymous:/ { an += $2 }
        END { printf "%d %d", rss - an, an }' "$work/smaps")
tls_file=${tls% *}
tls_anon=${tls#* }
dur=$(sed -n 's/^dmabufd_collection_duration_seconds \([0-9.eE+-]*\)$/\1/p' "$work/metrics" | head -n 1)

fmt_mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
fmt_body() { # "bytes seconds code"
        echo "$1" | awk '{ printf "%10d bytes (%.1f KiB) in %.3f s, HTTP %s", $1, $1 / 1024, $2, $3 }'
}
echo
printf '%-26s %s\n' "/metrics body" "$(fmt_body "$m")"
printf '%-26s %s\n' "/api/v1/state body" "$(fmt_body "$s")"
printf '%-26s %s\n' "collection duration" "${dur:-?} s (dmabufd_collection_duration_seconds)"
printf '%-26s %s, VmHWM %s\n' "daemon before scraping" "VmRSS $(fmt_mib "$rss0")" "$(fmt_mib "$hwm0")"
printf '%-26s %s   (target: RSS <= 8 MiB: %s)\n' "daemon steady VmRSS" "$(fmt_mib "$rss")" \
        "$(awk -v k="$rss" 'BEGIN { print (k <= 8192 ? "met" : "MISSED") }')"
printf '%-26s min %s, median %s, max %s (120 samples over 12 s)\n' "  sampled" "$(fmt_mib "$rss_min")" \
        "$(fmt_mib "$rss")" "$(fmt_mib "$rss_max")"
printf '%-26s %s anonymous, %s file-backed (the libraries)\n' "  of which" "$(fmt_mib "$anon")" "$(fmt_mib "$file")"
printf '%-26s %s file-backed + %s relocated data\n' "  GnuTLS and its deps" "$(fmt_mib "$tls_file")" \
        "$(fmt_mib "$tls_anon")"
printf '%-26s %s (the steady VmRSS less the above: libmicrohttpd built without HTTPS)\n' "  without them" \
        "$(fmt_mib $((rss - tls_file - tls_anon)))"
printf '%-26s %s   (target: VmHWM <= 12 MiB: %s)\n' "daemon VmHWM" "$(fmt_mib "$hwm")" \
        "$(awk -v k="$hwm" 'BEGIN { print (k <= 12288 ? "met" : "MISSED") }')"
printf '%-26s %s\n' "daemon threads" "$threads"
case $m in *" 200") ;; *) echo "run.sh: /metrics did not answer 200" >&2; exit 1 ;; esac
case $s in *" 200") ;; *) echo "run.sh: /api/v1/state did not answer 200" >&2; exit 1 ;; esac

kill -TERM "$dpid"
i=0
while kill -0 "$dpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$dpid" 2>/dev/null; then
        echo "run.sh: dmabufd did not exit within 10 s of SIGTERM; killing it" >&2
        kill -KILL "$dpid" 2>/dev/null || :
fi
wait "$dpid" 2>/dev/null && st=0 || st=$?
echo "dmabufd stopped (exit status $st)"
dpid=
[ "$only" != memory ] || exit 0

echo
echo "== HTTP load on the same tree (2000 processes): 64 keep-alive clients on /metrics =="
http_load "$tree"
fi

# ---- snapshots: kmsg OOM line -> file renamed, and RSS across the store turning over ----
snapbench=$builddir/bench/dmabufd-snapbench

# snapshots TREE COUNT INTERVAL: COUNT OOM kills through a FIFO at TREE/dev/kmsg,
# retention 50, collections every INTERVAL seconds
snapshots() {
        t=$1
        mkdir -p "$t/dev"
        rm -f "$t/dev/kmsg"
        mkfifo "$t/dev/kmsg"
        # A victim the tree holds buffers for: the first fd link to a dma-buf.
        link=$(find "$t/proc" -mindepth 3 -maxdepth 3 -path '*/fd/*' -lname '/dmabuf:*' -print -quit)
        victim=$(basename "$(dirname "$(dirname "$link")")")
        vcomm=$(cat "$t/proc/$victim/comm" 2>/dev/null || echo victim)
        printf 'interval = %s\ncooldown_oom_kill = 0\nsnapshot_max_count = 50\nsnapshot_max_bytes = 4G\npsi_trigger =\ncgroup =\njournal_match =\n' \
                "$3" >"$work/snap.conf"
        rm -rf "$work/snapstate"
        : >"$work/snapd.log"
        "$daemon" --config "$work/snap.conf" --root "$t" --state-dir "$work/snapstate" --listen 127.0.0.1:0 \
                2>"$work/snapd.log" &
        dpid=$!
        i=0
        while [ $i -lt 300 ] && ! grep -q "listening on" "$work/snapd.log"; do sleep 0.1; i=$((i + 1)); done
        grep -q "listening on" "$work/snapd.log" || { echo "run.sh: dmabufd did not start:" >&2; cat "$work/snapd.log" >&2; exit 1; }
        echo "dmabufd pid $dpid; state directory $work/snapstate; victim pid $victim ($vcomm)"
        "$snapbench" --fifo "$t/dev/kmsg" --state-dir "$work/snapstate" --pid "$victim" --comm "$vcomm" \
                --daemon-pid "$dpid" --count "$2" --timed "$(( $2 < 101 ? $2 : 101 ))"
        ls -l "$work/snapstate" | awk '/\.json$/ { s += $5; n++ } END { if (n) printf "store: %d files, %.2f MiB each on average\n", n, s / n / 1048576 }'
        kill -TERM "$dpid"
        i=0
        while kill -0 "$dpid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        wait "$dpid" 2>/dev/null || :
        dpid=
}

echo
# Collections back to back (the interval is shorter than one): a kill must not
# wait for the collection in progress.
echo "== snapshot latency on the same tree (2000 processes), collections back to back: ${LATENCY_SNAPSHOTS:-101} OOM kills =="
snapshots "$tree" "${LATENCY_SNAPSHOTS:-101}" 0.2

[ -z "$only" ] || exit 0

# 1000 snapshots of the big tree take half an hour (each completes with a
# 1.4 s collection); memory growth per snapshot shows as well on a small one.
small=$tree/rss-tree
echo
echo "== RSS across ${RSS_SNAPSHOTS:-1000} snapshots, retention 50, on a 200-process tree =="
"$bench" --tree "$small" --keep --procs 200 --fds 50 --runs 1 >/dev/null
snapshots "$small" "${RSS_SNAPSHOTS:-1000}" 10
