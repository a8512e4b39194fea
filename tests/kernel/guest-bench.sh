#!/bin/sh
# /init of the benchmark guest (run.sh --bench; make bench-kernel). Builds the
# benchmark's world with `scenario world`, starts two dmabufd, one with bpf = auto
# and one with bpf = off, and times one collection three ways, interleaved, for
# BENCH_ROUNDS rounds:
#   floor   `scenario floor 1`: the procfs path's bare syscalls, wall and CPU time;
#   bpf     the bpf = auto daemon alone (the other one SIGSTOPped) for a window of
#           collections: its own dmabufd_collection_duration_seconds, and its CPU
#           time over the window (/proc/PID/stat utime+stime, in ticks of 10 ms)
#           with the number of collections the window saw (dmabufd_collections_total);
#   procfs  the same for the bpf = off daemon.
# Beside them, where run.sh could build it, guest-iter reads each of dmabufd's
# iterators whole once per round: the kernel's walk alone, without the daemon.
# debugfs is not mounted, as on production machines; both daemons read the same
# sources otherwise. Each figure is one line on the console, "BENCH-...", and the
# whole of it comes back as "bench-kernel" between markers; then "@@DONE@@".
export PATH=/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
dmesg -n 1
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

# The world: 500 processes x 100 fds, 5 of them dma-bufs (2,500 dma-buf fds over
# 250 buffers), 300 of the processes mapping one buffer too.
WORLD="500 100 5 300 250"
ROUNDS=5
INTERVAL=0.25
# Seconds each daemon runs alone per round: enough for about 15 BPF collections
# and a few procfs ones.
WINDOW_BPF=4
WINDOW_PROCFS=8

. /bin/guest-lib.sh
out() { echo "$*"; echo "$*" >>/tmp/bench-kernel; }
: >/tmp/bench-kernel
echo "@@BOOTED $(uname -r) at $(t)@@"
out "BENCH-KERNEL release=$(uname -r) btf=$([ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no) nproc=$(grep -c ^processor /proc/cpuinfo)"

if /bin/scenario world $WORLD >/tmp/world.out 2>&1; then
        out "BENCH-$(cat /tmp/world.out)"
else
        out "BENCH-FAIL scenario world: $(tail -n 2 /tmp/world.out)"
fi

# name port bpf-setting
for d in "bpf 10041 auto" "procfs 10042 off"; do
        set -- $d
        mkdir -p /var/lib/dmabufd-$1
        sed -e "s|^state_dir = .*|state_dir = /var/lib/dmabufd-$1|" -e "s|^interval = .*|interval = $INTERVAL|" \
                -e '/^cgroup = /d' /etc/dmabufd/dmabufd.conf >/tmp/$1.conf
        echo "bpf = $3" >>/tmp/$1.conf
        /usr/sbin/dmabufd --config /tmp/$1.conf --listen 127.0.0.1:$2 >/tmp/log-$1 2>&1 &
        eval "PID_$1=$! PORT_$1=$2"
done
for n in bpf procfs; do
        eval "port=\$PORT_$n"
        wait_until 60 /bin/guest-get "$port" /healthz /tmp/h 2>/dev/null ||
                out "BENCH-FAIL dmabufd $n did not answer /healthz within 60 s: $(tail -n 2 /tmp/log-$n | tr '\n' ' ')"
done
kill -STOP $PID_bpf $PID_procfs

metric() { # FILE NAME: the value of an unlabelled series
        awk -v s="$2" '$1 == s { print $2; exit }' "$1"
}
cpu_ticks() { # PID: utime + stime (fields 14 and 15; comm has no spaces here)
        awk '{ print $14 + $15 }' /proc/$1/stat
}
# window NAME SECONDS ROUND: the daemon alone for SECONDS.
window() {
        eval "pid=\$PID_$1 port=\$PORT_$1"
        kill -CONT "$pid"
        if ! /bin/guest-get "$port" /metrics /tmp/m0 2>>/tmp/get.err; then
                out "BENCH-FAIL round $3: GET /metrics of $1"
                kill -STOP "$pid"
                return
        fi
        c0=$(cpu_ticks "$pid")
        sleep "$2"
        /bin/guest-get "$port" /metrics /tmp/m1 2>>/tmp/get.err || out "BENCH-FAIL round $3: GET /metrics of $1"
        c1=$(cpu_ticks "$pid")
        kill -STOP "$pid"
        out "BENCH-DAEMON name=$1 round=$3 collections=$(( $(metric /tmp/m1 dmabufd_collections_total) - $(metric /tmp/m0 dmabufd_collections_total) )) cpu_ticks=$((c1 - c0)) last_duration_s=$(metric /tmp/m1 dmabufd_collection_duration_seconds) source_up_bpf=$(awk '$1 == "dmabufd_source_up{source=\"bpf\"}" { print $2 }' /tmp/m1)"
}
r=1
while [ $r -le $ROUNDS ]; do
        /bin/scenario floor 1 >/tmp/floor.out 2>&1
        out "BENCH-$(sed "s/round=1/round=$r/" /tmp/floor.out)"
        if [ -x /bin/guest-iter ]; then
                /bin/guest-iter 1 >/tmp/iter.out 2>&1 || out "BENCH-FAIL round $r: guest-iter: $(tail -n 1 /tmp/iter.out)"
                sed -n "s/^ITER \(.*\) rounds=1 /BENCH-ITER round=$r \1 /p" /tmp/iter.out | while read -r l; do out "$l"; done
        fi
        window bpf $WINDOW_BPF $r
        window procfs $WINDOW_PROCFS $r
        r=$((r + 1))
done

# What each daemon saw, for the host to check: bpf up in one and down in the other,
# and both see the whole world.
kill -CONT $PID_bpf $PID_procfs
sleep 1
for n in bpf procfs; do
        eval "port=\$PORT_$n"
        /bin/guest-get "$port" /api/v1/state /tmp/state-$n.json 2>>/tmp/get.err || out "BENCH-FAIL GET /api/v1/state of $n"
done
/bin/scenario world-down >/dev/null 2>&1
kill $PID_bpf $PID_procfs
sleep 1
emit bench-kernel /tmp/bench-kernel
for n in bpf procfs; do
        [ -s /tmp/state-$n.json ] && emit "bench-state-$n" /tmp/state-$n.json
        emit "bench-log-$n" /tmp/log-$n
done
echo "@@DONE@@"
poweroff -f
