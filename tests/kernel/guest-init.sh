#!/bin/sh
# /init of the guest. Builds the scenario's world, runs dmabufd as the unit
# runs it (oom_score_adj -900), and sends back over the serial console, each
# base64-encoded between "@@BEGIN name@@" and "@@END name@@":
#   truth, state, metrics   the scenario's truth and what dmabufd served
#   state-nodebugfs, metrics-nodebugfs   the same with debugfs unmounted
#   bufinfo, fdinfo         what the kernel itself showed, for diagnosis
#   attach, attach-state-*, attach-metrics-*   the attachment probe: what sysfs
#                           showed at each step, and what dmabufd served meanwhile
#   drm, drm-fdinfo, drm-state, drm-metrics   the DRM probe: its truth, the kernel's
#                           fdinfo of its fds, and what dmabufd served meanwhile
#   drm-state-bpfoff, drm-metrics-bpfoff   the same from the bpf = off daemon (BTF)
#   snap-oom, snap-memcg, snap-psi   the snapshot each real event produced
#   snap-list-memcg, metrics-memcg   the snapshot list and /metrics after the memcg kill
#   events                  one line per event check
#   bench                   scenario bench: the cost of a buffer and of an attachment
#   dmabufd-log             the daemon's log
# On a kernel with BTF (/sys/kernel/btf/vmlinux), three more daemons watch the same
# world, each on its own port and state directory, fetched at the same moments:
#   state-bpfoff[-nodebugfs]   bpf = off: the procfs path, to hold BPF's holders to
#   state-nocap, metrics-nocap, log-nocap   uid 65534 with the unit's capabilities
#                           less CAP_BPF and CAP_PERFMON: bpf down with its reason
#   state-cap, log-cap      uid 65534 with exactly the unit's capabilities: bpf up
# The unit's capabilities come on the kernel command line (dmabufd.caps=, from
# AmbientCapabilities= of systemd/dmabufd.service.in; run.sh).
# then "@@DONE@@", and powers off. Every wait is bounded.
export PATH=/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
dmesg -n 1
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
mkdir -p /sys/fs/cgroup/oomtest

. /bin/guest-lib.sh
event() { echo "$*" >>/tmp/events; }
get() { # PATH FILE
        /bin/guest-get 10040 "$1" "$2" 2>>/tmp/get.err
}
getp() { # PORT PATH FILE
        /bin/guest-get "$1" "$2" "$3" 2>>/tmp/get.err
}
: >/tmp/events
: >/tmp/get.err
echo "@@BOOTED $(uname -r) at $(t)@@"

# dmabufd, with the unit's oom_score_adj.
(echo -900 >/proc/self/oom_score_adj && exec /usr/sbin/dmabufd --config /etc/dmabufd/dmabufd.conf --listen 127.0.0.1:10040) >/tmp/dmabufd.log 2>&1 &
DPID=$!
wait_until 30 get /healthz /tmp/h || event "FAIL dmabufd did not answer /healthz within 30 s"

# The BPF comparison daemons, on a kernel with BTF only.
UNIT_CAPS=$(sed -n 's/.*dmabufd\.caps=\([^ ]*\).*/\1/p' /proc/cmdline)
NO_BPF_CAPS=$(echo ",$UNIT_CAPS," | sed -e 's/,bpf,/,/' -e 's/,perfmon,/,/' -e 's/^,//' -e 's/,$//')
event "unit caps $UNIT_CAPS; without bpf and perfmon: $NO_BPF_CAPS"
[ -n "$UNIT_CAPS" ] || event "FAIL no dmabufd.caps= on the kernel command line"
EXTRA=""
if [ -e /sys/kernel/btf/vmlinux ]; then
        event "btf present $(wc -c </sys/kernel/btf/vmlinux)"
        # name port uid caps conf-extra
        for d in "bpfoff 10041 0 - bpf = off" "nocap 10042 65534 ${NO_BPF_CAPS:-none}" "cap 10043 65534 ${UNIT_CAPS:-none}"; do
                set -- $d
                name=$1 port=$2 uid=$3 caps=$4
                shift 4
                mkdir -p /var/lib/dmabufd-$name
                chown "$uid:$uid" /var/lib/dmabufd-$name
                sed "s|^state_dir = .*|state_dir = /var/lib/dmabufd-$name|" /etc/dmabufd/dmabufd.conf >/tmp/$name.conf
                [ $# -gt 0 ] && echo "$*" >>/tmp/$name.conf
                if [ "$uid" = 0 ]; then
                        /usr/sbin/dmabufd --config /tmp/$name.conf --listen 127.0.0.1:$port >/tmp/log-$name 2>&1 &
                else
                        /bin/guest-caps "$uid" "$caps" /usr/sbin/dmabufd --config /tmp/$name.conf \
                                --listen 127.0.0.1:$port >/tmp/log-$name 2>&1 &
                fi
                EXTRA="$EXTRA $name:$port:$!"
        done
        for d in $EXTRA; do
                port=${d#*:}
                port=${port%%:*}
                wait_until 30 getp "$port" /healthz /tmp/h ||
                        event "FAIL dmabufd ${d%%:*} did not answer /healthz within 30 s: $(tail -n 2 /tmp/log-${d%%:*})"
        done
else
        event "btf absent"
fi
# extra_states SUFFIX: each comparison daemon's state (and the nocap one's metrics).
extra_states() {
        for d in $EXTRA; do
                name=${d%%:*} port=${d#*:}
                port=${port%%:*}
                getp "$port" /api/v1/state "/tmp/state-$name$1.json" || event "FAIL GET /api/v1/state of dmabufd $name$1"
                [ "$name" = nocap ] && { getp "$port" /metrics "/tmp/metrics-$name$1.txt" ||
                        event "FAIL GET /metrics of dmabufd $name$1"; }
        done
}
T_CHECK0=$(t)

/bin/scenario setup /tmp/truth.json >/tmp/scenario.out 2>&1 || event "FAIL scenario setup: $(tail -n 3 /tmp/scenario.out)"
# Two collections after the world is built (interval = 1).
sleep 3
get /api/v1/state /tmp/state.json || event "FAIL GET /api/v1/state"
get /metrics /tmp/metrics.txt || event "FAIL GET /metrics"
extra_states ""
cat /sys/kernel/debug/dma_buf/bufinfo >/tmp/bufinfo 2>&1
for p in $(cat /tmp/scenario.pids 2>/dev/null); do
        for f in /proc/$p/fdinfo/*; do
                grep -q '^exp_name:' "$f" 2>/dev/null && { echo "== $f"; cat "$f"; }
        done
done >/tmp/fdinfo 2>&1
T_CHECK1=$(t)
emit truth /tmp/truth.json
emit state /tmp/state.json
emit metrics /tmp/metrics.txt
emit bufinfo /tmp/bufinfo
emit fdinfo /tmp/fdinfo
emit scenario-out /tmp/scenario.out
for d in $EXTRA; do
        name=${d%%:*}
        for f in /tmp/state-$name.json /tmp/metrics-$name.txt; do
                [ -s "$f" ] && emit "$(basename "${f%.*}")" "$f"
        done
done

# The same world with debugfs gone, as on machines that do not mount it: where
# no other source lists every buffer (5.10, and 7.2 without sysfs stats), the
# totals and the kernel-only buffer cannot be known, and must come back null.
umount /sys/kernel/debug 2>/dev/null
sleep 3
get /api/v1/state /tmp/state-nodebugfs.json || event "FAIL GET /api/v1/state without debugfs"
get /metrics /tmp/metrics-nodebugfs.txt || event "FAIL GET /metrics without debugfs"
extra_states -nodebugfs
emit state-nodebugfs /tmp/state-nodebugfs.json
emit metrics-nodebugfs /tmp/metrics-nodebugfs.txt
[ -s /tmp/state-bpfoff-nodebugfs.json ] && emit state-bpfoff-nodebugfs /tmp/state-bpfoff-nodebugfs.json
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
/bin/scenario teardown >/dev/null 2>&1

# ---- the DRM probe: two vgem clients with GEM objects of known sizes ----
# drm.json is the scenario's truth; drm-fdinfo what the kernel printed in each of the
# probe's fdinfo files (read here, not through dmabufd); drm-state and drm-metrics
# what dmabufd served meanwhile (and, on a kernel with BTF, the bpf = off daemon's
# state and metrics: the procfs walk, drm-state-bpfoff and drm-metrics-bpfoff).
/bin/scenario drm /tmp/drm.json /tmp/go-drm >/tmp/drm.out 2>&1 &
DRMPROBE=$!
if wait_until 30 grep -q '^DRM READY' /tmp/drm.out; then
        sleep 3 # two collections (interval = 1)
        get /api/v1/state /tmp/drm-state.json || event "FAIL GET /api/v1/state during the DRM probe"
        get /metrics /tmp/drm-metrics.txt || event "FAIL GET /metrics during the DRM probe"
        for d in $EXTRA; do
                port=${d#*:}
                port=${port%%:*}
                [ "${d%%:*}" = bpfoff ] || continue
                getp "$port" /api/v1/state /tmp/drm-state-bpfoff.json ||
                        event "FAIL GET /api/v1/state of dmabufd bpfoff during the DRM probe"
                getp "$port" /metrics /tmp/drm-metrics-bpfoff.txt ||
                        event "FAIL GET /metrics of dmabufd bpfoff during the DRM probe"
        done
        p=$(sed -n 's/^DRM READY pid=\([0-9]*\)$/\1/p' /tmp/drm.out)
        for f in /proc/$p/fdinfo/*; do
                echo "== ${f##*/} $(readlink "/proc/$p/fd/${f##*/}")"
                cat "$f"
        done >/tmp/drm-fdinfo 2>&1
        touch /tmp/go-drm
        wait_until 30 grep -q '^DRM DONE' /tmp/drm.out || event "FAIL DRM probe: no DRM DONE within 30 s: $(tail -n 2 /tmp/drm.out)"
else
        event "FAIL DRM probe did not start: $(tail -n 2 /tmp/drm.out)"
fi
kill $DRMPROBE 2>/dev/null
wait $DRMPROBE 2>/dev/null
for f in drm.json drm-state.json drm-metrics.txt drm-state-bpfoff.json drm-metrics-bpfoff.txt; do
        [ -s /tmp/$f ] && emit "${f%.*}" /tmp/$f
done
[ -s /tmp/drm-fdinfo ] && emit drm-fdinfo /tmp/drm-fdinfo
emit drm-out /tmp/drm.out

# The comparison daemons are done: out of the way of the OOM killer and the events.
for d in $EXTRA; do
        name=${d%%:*} pid=${d##*:}
        kill "$pid" 2>/dev/null
        # Gone, or a zombie the wait below reaps.
        wait_until 5 sh -c "! grep -q '^State:[[:space:]]*[^Z]' /proc/$pid/status 2>/dev/null" ||
                { event "FAIL dmabufd $name did not stop on SIGTERM"; kill -9 "$pid" 2>/dev/null; }
        wait "$pid" 2>/dev/null
        emit "log-$name" "/tmp/log-$name"
done

# ---- the attachment probe: one buffer imported into vgem, then let go ----
# The world is gone, so the probe's buffer is the only one. What sysfs shows at each
# step is in attach.json; what dmabufd served while the buffer was attached and after
# the GEM handle was closed is in attach-state-*.json and attach-metrics-*.txt.
/bin/scenario attach /tmp/attach.json /tmp/go-attach1 /tmp/go-attach2 >/tmp/attach.out 2>&1 &
PROBE=$!
if wait_until 30 grep -q '^ATTACH IMPORTED' /tmp/attach.out; then
        sleep 3 # two collections (interval = 1)
        get /api/v1/state /tmp/attach-state-imported.json || event "FAIL GET /api/v1/state while attached"
        get /metrics /tmp/attach-metrics-imported.txt || event "FAIL GET /metrics while attached"
        touch /tmp/go-attach1
        if wait_until 30 grep -q '^ATTACH CLOSED' /tmp/attach.out; then
                sleep 3
                get /api/v1/state /tmp/attach-state-closed.json || event "FAIL GET /api/v1/state after GEM_CLOSE"
                get /metrics /tmp/attach-metrics-closed.txt || event "FAIL GET /metrics after GEM_CLOSE"
        else
                event "FAIL attach probe: no ATTACH CLOSED within 30 s: $(tail -n 2 /tmp/attach.out)"
        fi
        touch /tmp/go-attach2
        wait_until 30 grep -q '^ATTACH DONE' /tmp/attach.out || event "FAIL attach probe: no ATTACH DONE within 30 s: $(tail -n 2 /tmp/attach.out)"
else
        event "FAIL attach probe did not import: $(tail -n 2 /tmp/attach.out)"
fi
kill $PROBE 2>/dev/null
wait $PROBE 2>/dev/null
for f in attach.json attach-state-imported.json attach-metrics-imported.txt attach-state-closed.json attach-metrics-closed.txt; do
        [ -s /tmp/$f ] && emit "${f%.*}" /tmp/$f
done
emit attach-out /tmp/attach.out

# ---- events: each must produce one snapshot naming the victim ----
snapshot_of() { # KIND OUT: the newest snapshot of KIND, complete
        get /api/v1/snapshots /tmp/list || return 1
        # Ids end in the kind ("20261121T152105.487Z-oom_kill"); the list is newest first.
        id=$(grep -o '"id":"[^"]*"' /tmp/list | sed 's/^"id":"\(.*\)"$/\1/' | grep -E -- "-$1(-[0-9]+)?\$" | head -n 1)
        [ -n "$id" ] || return 1
        get "/api/v1/snapshots/$id" "$2" || return 1
        ! grep -q '"partial":true' "$2"
}
hog() { # NAME [--wait-file F]: start the hog, wait for it to be killed
        /bin/scenario oomhog "$@" >/tmp/hog.out 2>&1 &
        HOG=$!
        wait_until 30 grep -q 'OOMHOG READY' /tmp/hog.out || { event "FAIL oomhog did not start: $(cat /tmp/hog.out)"; return 1; }
        event "hog pid $HOG $(grep 'OOMHOG READY' /tmp/hog.out)"
}
hog_gone() { ! kill -0 "$HOG" 2>/dev/null; }

# Global OOM: the whole guest (-m 256M) runs out.
if hog --wait-file /tmp/go-global; then
        sleep 2 # a collection that sees the victim's buffer: the snapshot's `before`
        touch /tmp/go-global
        wait_until 120 hog_gone && event "global: hog killed at $(t)" || event "FAIL global: hog still alive after 120 s"
        wait $HOG 2>/dev/null
        wait_until 30 snapshot_of oom_kill /tmp/snap-oom.json && emit snap-oom /tmp/snap-oom.json ||
                event "FAIL global: no complete oom_kill snapshot within 30 s"
        echo "$id" >/tmp/global-id
fi
kill -0 $DPID 2>/dev/null && event "dmabufd alive after the global OOM, oom_score_adj $(cat /proc/$DPID/oom_score_adj)" ||
        event "FAIL dmabufd died in the global OOM"

# memcg OOM: the hog moved into a cgroup v2 group with memory.max.
echo 48M >/sys/fs/cgroup/oomtest/memory.max
if hog --wait-file /tmp/go-memcg; then
        echo "$HOG" >/sys/fs/cgroup/oomtest/cgroup.procs
        sleep 2
        touch /tmp/go-memcg
        wait_until 120 hog_gone && event "memcg: hog killed at $(t)" || event "FAIL memcg: hog still alive after 120 s"
        wait $HOG 2>/dev/null
        # The kill is reported twice, by the kernel log (oom_kill) and by the
        # group's memory.events (cgroup_oom), in either order: one snapshot, of the
        # kind that came first, holds it (the list is newest first, and the global
        # OOM's came before).
        memcg_snapshot() {
                get /api/v1/snapshots /tmp/list || return 1
                id=$(grep -o '"id":"[^"]*"' /tmp/list | sed 's/^"id":"\(.*\)"$/\1/' | head -n 1)
                case $id in *-oom_kill | *-oom_kill-* | *-cgroup_oom | *-cgroup_oom-*) ;; *) return 1 ;; esac
                [ "$id" != "$(cat /tmp/global-id 2>/dev/null)" ] || return 1
                get "/api/v1/snapshots/$id" /tmp/snap-memcg.json || return 1
                ! grep -q '"partial":true' /tmp/snap-memcg.json
        }
        wait_until 30 memcg_snapshot && emit snap-memcg /tmp/snap-memcg.json ||
                event "FAIL memcg: no complete snapshot of the memcg kill within 30 s"
        # Past the fold window (2 s): a second report would have had its snapshot by now.
        sleep 3
        get /api/v1/snapshots /tmp/memcg-list.json && emit snap-list-memcg /tmp/memcg-list.json
        get /metrics /tmp/metrics-memcg.txt && emit metrics-memcg /tmp/metrics-memcg.txt
fi
kill -0 $DPID 2>/dev/null && event "dmabufd alive after the memcg OOM" || event "FAIL dmabufd died in the memcg OOM"

# PSI: pressure without a kill.
/bin/scenario pressure 20 >/tmp/pressure.out 2>&1 &
PRESSURE=$!
wait_until 40 snapshot_of psi /tmp/snap-psi.json && emit snap-psi /tmp/snap-psi.json ||
        event "FAIL psi: no complete psi snapshot within 40 s"
kill $PRESSURE 2>/dev/null
wait $PRESSURE 2>/dev/null
kill -0 $DPID 2>/dev/null && event "dmabufd alive after pressure" || event "FAIL dmabufd died under pressure"
cat /proc/pressure/memory >>/tmp/events 2>&1

event "check $T_CHECK0 $T_CHECK1"
emit events /tmp/events
emit pressure-out /tmp/pressure.out
emit get-err /tmp/get.err
kill $DPID 2>/dev/null
wait_until 5 sh -c "! kill -0 $DPID 2>/dev/null"
emit dmabufd-log /tmp/dmabufd.log
# What a buffer and an attachment cost this kernel (kernel-patches/README.md), with
# dmabufd stopped so that its own allocations stay out of Slab.
/bin/scenario bench 2000 >/tmp/bench.out 2>&1
cat /tmp/bench.out
emit bench /tmp/bench.out
echo "@@DONE@@"
poweroff -f
