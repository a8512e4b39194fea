#!/bin/bash
# The unit's claim, checked on this machine's kernel: an unprivileged user with
# exactly CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_SYSLOG, CAP_BPF and
# CAP_PERFMON (as the unit's DynamicUser= with AmbientCapabilities= runs) reads
# other users' processes and /dev/kmsg, and loads the BPF iterators; the same
# user without them does not, and says why BPF is down. Under a /proc mounted
# hidepid=invisible (the unit's ProtectProc=invisible) the five still see every
# process and the daemon still runs and reads them. Everything here only
# reads: the machine's /proc, its kernel log (opened at its end) and, through
# the read-only iterators, its list of dma-bufs and of files.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
        echo "SKIP: running as another user with chosen capabilities needs root and setpriv(1)"
        exit 77
fi
NOBODY=65534
# cap_39 and cap_38 are CAP_BPF and CAP_PERFMON: util-linux 2.38 has no names for them.
CAPS3=+sys_ptrace,+dac_read_search,+syslog
CAPS=$CAPS3,+cap_39,+cap_38
# The daemon runs as nobody: it must reach its config and state directory.
chmod 755 "$TMP"
CONF="$TMP/dmabufd.conf"
printf 'interval = 0.5\npsi_trigger =\ncgroup =\njournal_match =\n' >"$CONF"
chmod 644 "$CONF"

# The unit's ProtectProc=invisible: a /proc of its own mounted hidepid=invisible,
# in a mount namespace of its own, as systemd mounts it for the service.
HIDEPID=(unshare --mount --propagation private
        sh -c 'mount -t proc -o hidepid=invisible proc /proc && exec "$0" "$@"')

# run_as_nobody NAME CAPS [hidepid]: the daemon as uid/gid 65534 with CAPS (or
# none), under a hidepid=invisible /proc with a third argument.
run_as_nobody() {
        local name=$1 caps=$2 prefix=()
        [ "${3:-}" = hidepid ] && prefix=("${HIDEPID[@]}")
        mkdir -p "$TMP/state-$name"
        chown "$NOBODY:$NOBODY" "$TMP/state-$name"
        if [ -n "$caps" ]; then
                DAEMON_WRAPPER=("${prefix[@]}" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all,$caps
                        --ambient-caps=-all,$caps --bounding-set=-all,$caps)
        else
                DAEMON_WRAPPER=("${prefix[@]}" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all
                        --bounding-set=-all)
        fi
        start_daemon --config "$CONF" --state-dir "$TMP/state-$name"
        DAEMON_WRAPPER=()
        wait_until 10 _collections_reached 2 || fail "$name: the daemon did not complete two collections within 10 s"
        fetch "$BASE/metrics"
        cp "$TMP/b" "$TMP/$name.prom"
        grep -E '^Cap(Prm|Eff|Amb|Bnd)' "/proc/$DAEMON_PID/status" >"$TMP/$name.caps"
        grep -E '^Uid' "/proc/$DAEMON_PID/status" >"$TMP/$name.uid"
        stop_daemon
        grep -a -E '^dmabufd: bpf source (up|down|off): ' "$DAEMON_ERR" >"$TMP/$name.bpf" || true
}

run_as_nobody with "$CAPS"
run_as_nobody three "$CAPS3"
run_as_nobody bpfonly "$CAPS3,+cap_39"
run_as_nobody without ""
run_as_nobody hidden "$CAPS" hidepid

# 0xc400080004: CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYSLOG (34),
# CAP_PERFMON (38), CAP_BPF (39).
check "with: the daemon ran as uid $NOBODY" grep -Eq "^Uid:[[:space:]]+$NOBODY[[:space:]]" "$TMP/with.uid"
check "with: it held exactly the five capabilities, effective and ambient" \
        test "$(awk '{print $2}' "$TMP/with.caps" | sort -u)" = 000000c400080004

# BPF: up with the five where this kernel and build can have it at all, down with
# the reason without CAP_BPF or CAP_PERFMON.
bpf_metric() { metric_value "$TMP/$1.prom" 'dmabufd_source_up{source="bpf"}'; }
note "bpf, with the five: $(cat "$TMP/with.bpf")"
if [ -r /sys/kernel/btf/vmlinux ] && grep -q '^#define HAVE_BPF 1' "$top_builddir/config.h" &&
        ! grep -qs '\[confidentiality\]' /sys/kernel/security/lockdown; then
        check "with the five: the bpf source is up (dmabufd_source_up and the log)" \
                sh -c "[ '$(bpf_metric with)' = 1 ] && grep -Eq 'bpf source up: .*iter/task(_file| \(fd tables\)), iter/task_vma' '$TMP/with.bpf'"
else
        skip "with the five: the bpf source is up" "this kernel has no readable BTF, or this build no BPF"
        check "with the five: the bpf source is down and says why" \
                sh -c "[ '$(bpf_metric with)' = 0 ] && grep -q 'bpf source down: ' '$TMP/with.bpf'"
fi
check "without CAP_BPF and CAP_PERFMON: bpf is down, and the log says why ($(cat "$TMP/three.bpf"))" \
        sh -c "[ '$(bpf_metric three)' = 0 ] && grep -q 'bpf source down: .*lacks CAP_BPF and CAP_PERFMON' '$TMP/three.bpf' ||
               grep -q 'bpf source down: built without BPF' '$TMP/three.bpf'"
check "with CAP_BPF alone: bpf is down for want of CAP_PERFMON ($(cat "$TMP/bpfonly.bpf"))" \
        sh -c "[ '$(bpf_metric bpfonly)' = 0 ] && grep -q 'lacks CAP_PERFMON' '$TMP/bpfonly.bpf' ||
               grep -q 'bpf source down: built without BPF' '$TMP/bpfonly.bpf'"
check "without BPF, the other sources are as they were: procfs and kmsg up" \
        test "$(metric_value "$TMP/three.prom" 'dmabufd_source_up{source="procfs"}')$(metric_value "$TMP/three.prom" 'dmabufd_source_up{source="kmsg"}')" = 11
check "without: it held none" test "$(awk '{print $2}' "$TMP/without.caps" | sort -u)" = 0000000000000000

other=$(ps -e -o uid= | awk -v me=$NOBODY '$1 != me' | wc -l)
u_with=$(metric_value "$TMP/with.prom" 'dmabufd_scan_skipped_total{reason="unreadable"}')
u_without=$(metric_value "$TMP/without.prom" 'dmabufd_scan_skipped_total{reason="unreadable"}')
note "processes of other users: $other; unreadable in two collections: $u_without without, $u_with with the capabilities"
# Without them, each collection finds every other user's /proc/<pid>/fd closed.
check "without the capabilities, other users' processes are unreadable ($u_without)" test "${u_without:-0}" -ge "$other"
# With them, nearly all open. A sandbox's own PID 1 may still refuse a ptrace
# check (it does on this CI's VM), so the bound is a tenth, not zero.
check "with them, other users' processes are read (unreadable $u_with, a tenth of $u_without at most)" \
        test $((${u_with:-999999} * 10)) -le "${u_without:-0}"

# ProtectProc=invisible hides other users' processes from /proc, except those
# the reader may ptrace: CAP_SYS_PTRACE passes that check for every one.
# (unshare's mount namespace ends with the command, so each count gets its own.)
visible_pids() { # CAPS: entries in /proc/ seen by uid 65534 with CAPS under hidepid=invisible
        local caps=(--inh-caps=-all --bounding-set=-all)
        [ -n "$1" ] && caps=(--inh-caps=-all,$1 --ambient-caps=-all,$1 --bounding-set=-all,$1)
        "${HIDEPID[@]}" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "${caps[@]}" \
                sh -c 'grep -q "hidepid=invisible" /proc/mounts || exit 1; ls /proc' | grep -c '^[0-9]'
}
host_pids=$(ls /proc | grep -c '^[0-9]')
pids_with=$(visible_pids "$CAPS")
pids_without=$(visible_pids "")
note "/proc under hidepid=invisible: $pids_with processes with the five capabilities, $pids_without without, $host_pids for root"
# Processes come and go between the counts: a tenth of the host's is the slack.
check "hidepid=invisible: uid $NOBODY with the five capabilities sees every process ($pids_with of $host_pids)" \
        test "${pids_with:-0}" -gt 0 -a $((${pids_with:-0} * 10)) -ge $((host_pids * 9))
check "hidepid=invisible: uid $NOBODY without them sees hardly any ($pids_without of $host_pids)" \
        test "${pids_without:-999999}" -lt "$other"
u_hidden=$(metric_value "$TMP/hidden.prom" 'dmabufd_scan_skipped_total{reason="unreadable"}')
note "unreadable in two collections under hidepid=invisible with the five capabilities: $u_hidden"
# No process here holds a dma-buf and no metric counts the processes listed, so
# that the daemon lists them all rests on the count above (the same kernel check
# guards readdir and lookup under /proc); here: none of those it lists is refused.
check "hidepid=invisible with the five: no process the daemon lists is unreadable ($u_hidden, a tenth of $u_without at most)" \
        test $((${u_hidden:-999999} * 10)) -le "${u_without:-0}"
check "hidepid=invisible with the five: procfs up" \
        test "$(metric_value "$TMP/hidden.prom" 'dmabufd_source_up{source="procfs"}')" = 1
check "hidepid=invisible with the five: the daemon held exactly the five capabilities" \
        test "$(awk '{print $2}' "$TMP/hidden.caps" | sort -u)" = 000000c400080004

if [ "$(cat /proc/sys/kernel/dmesg_restrict 2>/dev/null)" = 1 ]; then
        check "without CAP_SYSLOG, /dev/kmsg is refused (kernel.dmesg_restrict = 1)" \
                test "$(metric_value "$TMP/without.prom" 'dmabufd_source_up{source="kmsg"}')" = 0
else
        skip "without CAP_SYSLOG, /dev/kmsg is refused" "kernel.dmesg_restrict is not 1 here: anyone may read /dev/kmsg"
fi
check "with CAP_SYSLOG, /dev/kmsg is followed" \
        test "$(metric_value "$TMP/with.prom" 'dmabufd_source_up{source="kmsg"}')" = 1
check "with: the procfs source is up" test "$(metric_value "$TMP/with.prom" 'dmabufd_source_up{source="procfs"}')" = 1
finish
