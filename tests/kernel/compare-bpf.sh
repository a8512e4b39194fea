#!/bin/bash
# The BPF source's checks for one kernel line, on the files the guest sent back.
#   BTF=yes|no compare-bpf.sh DIR
# BTF=yes (a LINE+btf kernel):
#   - the guest saw /sys/kernel/btf/vmlinux;
#   - dmabufd (bpf = auto, root) has the bpf source up, in the state and in
#     /metrics, with debugfs and without, and logs no reason for it to be down;
#   - a second dmabufd with `bpf = off`, fetched at the same moments, serves the
#     same processes (pid, rss, pss, buffers) and the same holders of every buffer
#     (pid, fds, maps), item by item, with debugfs and without: what BPF's
#     iterators found equals what the procfs path found;
#   - dmabufd as uid 65534 with the unit's capabilities only (no CAP_BPF,
#     CAP_PERFMON) has bpf down and logs exactly one line saying so, naming the
#     missing capability (its other figures: compare.sh DIR nocap);
#   - dmabufd as uid 65534 with CAP_BPF and CAP_PERFMON added has bpf up.
# BTF=no (a kernel without BTF): the guest saw no /sys/kernel/btf/vmlinux, bpf is
# down in the state and in /metrics, and the log has exactly one line saying why,
# naming BTF.
# Prints one "ok:"/"FAIL:" line per item, then "N passed, M failed"; writes
# DIR/result-bpf.json.
set -u
dir=$1
BTF=${BTF:-no}
N_PASS=0 N_FAIL=0
pass() { N_PASS=$((N_PASS + 1)); echo "ok: $1"; }
failc() { N_FAIL=$((N_FAIL + 1)); echo "FAIL: $1"; [ $# -gt 1 ] && printf '    %s\n' "${@:2}"; }
eq() { if [ "$2" = "$3" ]; then pass "$1 = $2"; else failc "$1" "want: $2" "got: $3"; fi; }
metric_in() { # FILE SERIES: its value, or nothing
        awk -v s="$2" '!/^#/ && index($0, s " ") == 1 { v = substr($0, length(s) + 2); sub(/ .*/, "", v); print v; exit }' "$1" 2>/dev/null
}
bpf_up() { # STATE-FILE: .sources.bpf exactly (null when the key is missing)
        jq -c '.sources.bpf' "$1" 2>/dev/null || echo "missing"
}
# The log lines that say why bpf is down: they name bpf and one of the reasons
# (a line saying bpf is up, and which BTF it read, is not one).
why_lines() { # LOG-FILE
        grep -i 'bpf' "$1" 2>/dev/null |
                grep -Ei 'no (kernel )?BTF|lacks CAP_|without CAP_|CAP_BPF|CAP_PERFMON|too old|refused|lockdown|down' || true
}
one_why() { # DESCRIPTION LOG-FILE REGEX
        local lines n
        lines=$(why_lines "$2")
        n=$(printf '%s' "$lines" | grep -c . || true)
        if [ "$n" = 1 ] && printf '%s\n' "$lines" | grep -Eq "$3"; then
                pass "$1: one log line says why bpf is down: $lines"
        else
                failc "$1: exactly one log line says why bpf is down, matching /$3/" "found $n:" "$lines"
        fi
}
E="$dir/events"

if [ "$BTF" = yes ]; then want_btf="btf present"; else want_btf="btf absent"; fi
eq "the guest saw /sys/kernel/btf/vmlinux as" "$want_btf" "$(grep -o '^btf [a-z]*' "$E" 2>/dev/null | head -n 1)"

if [ "$BTF" != yes ]; then
        eq "dmabufd: sources.bpf (no BTF)" false "$(bpf_up "$dir/state.json")"
        eq "dmabufd: sources.bpf without debugfs (no BTF)" false "$(bpf_up "$dir/state-nodebugfs.json")"
        eq "dmabufd: metric dmabufd_source_up{source=\"bpf\"} (no BTF)" 0 \
                "$(metric_in "$dir/metrics.txt" 'dmabufd_source_up{source="bpf"}')"
        one_why "dmabufd (no BTF)" "$dir/dmabufd-log.out" 'BTF'
else
        for v in "" -nodebugfs; do
                eq "dmabufd: sources.bpf$v" true "$(bpf_up "$dir/state$v.json")"
                eq "dmabufd: metric dmabufd_source_up{source=\"bpf\"}$v" 1 \
                        "$(metric_in "$dir/metrics$v.txt" 'dmabufd_source_up{source="bpf"}')"
        done
        eq "dmabufd: no log line says bpf is down" "" "$(why_lines "$dir/dmabufd-log.out")"

        # bpf = auto against bpf = off, item by item.
        procs_of() { jq -c '[.processes[] | {pid, rss_bytes, pss_bytes, buffers: (.buffers | sort)}] | sort_by(.pid) | .[]' "$1"; }
        holders_of() { jq -c '[.buffers[] | {inode, holders: ([.holders[] | {pid, fds, maps}] | sort_by(.pid))}] | sort_by(.inode) | .[]' "$1"; }
        for v in "" -nodebugfs; do
                A="$dir/state$v.json" B="$dir/state-bpfoff$v.json"
                if ! jq -e . "$B" >/dev/null 2>&1; then
                        failc "bpf = off$v: the comparison daemon's state came back" "$(grep -i 'bpfoff' "$E")"
                        continue
                fi
                eq "bpf = off$v: sources.bpf" false "$(bpf_up "$B")"
                n_truth=$(jq '.processes | length' "$dir/truth.json")
                n_cmp=0
                for pid in $(jq -r --slurpfile b "$B" '[.processes[].pid] + [$b[0].processes[].pid] | unique | .[]' "$A"); do
                        a=$(jq -c --argjson p "$pid" '.processes[] | select(.pid == $p) | {pid, rss_bytes, pss_bytes, buffers: (.buffers | sort)}' "$A")
                        b=$(jq -c --argjson p "$pid" '.processes[] | select(.pid == $p) | {pid, rss_bytes, pss_bytes, buffers: (.buffers | sort)}' "$B")
                        # Where the procfs path cannot size a buffer (held by mappings only, no
                        # source listing buffers: 7.2 without debugfs) its rss and pss are null,
                        # and BPF, which sizes it, may know more; compare.sh holds that figure to
                        # the truth. Everything the procfs path knows must be the same.
                        if [ -n "$a" ] && [ -n "$b" ] && [ "$(jq -c .rss_bytes <<<"$b")" = null ]; then
                                a=$(jq -c '.rss_bytes = null | .pss_bytes = null' <<<"$a")
                                b="$b (rss and pss unknown to bpf = off)"
                                a="$a (rss and pss unknown to bpf = off)"
                        fi
                        eq "bpf = auto vs off$v: process $pid" "${b:-absent}" "${a:-absent}"
                        n_cmp=$((n_cmp + 1))
                done
                # Not vacuous: at least every process of the scenario was compared.
                if [ "$n_cmp" -ge "$n_truth" ] && [ "$n_truth" -gt 0 ]; then
                        pass "bpf = auto vs off$v: $n_cmp processes compared (the scenario has $n_truth)"
                else
                        failc "bpf = auto vs off$v: every scenario process compared" "compared $n_cmp, the scenario has $n_truth"
                fi
                # Every buffer that a process holds in either; a kernel-only buffer is
                # listed only by a source that lists buffers, which the two may differ in.
                for ino in $(jq -r --slurpfile b "$B" '[.buffers[], $b[0].buffers[] | select(.holders | length > 0) | .inode] | unique | .[]' "$A"); do
                        a=$(jq -c --argjson i "$ino" '.buffers[] | select(.inode == $i) | [.holders[] | {pid, fds, maps}] | sort_by(.pid)' "$A")
                        b=$(jq -c --argjson i "$ino" '.buffers[] | select(.inode == $i) | [.holders[] | {pid, fds, maps}] | sort_by(.pid)' "$B")
                        eq "bpf = auto vs off$v: buffer $ino holders" "${b:-absent}" "${a:-absent}"
                done
        done

        # Without CAP_BPF and CAP_PERFMON, and with them, as uid 65534.
        if jq -e . "$dir/state-nocap.json" >/dev/null 2>&1; then
                eq "uid 65534 without CAP_BPF/CAP_PERFMON: sources.bpf" false "$(bpf_up "$dir/state-nocap.json")"
                eq "uid 65534 without CAP_BPF/CAP_PERFMON: metric dmabufd_source_up{source=\"bpf\"}" 0 \
                        "$(metric_in "$dir/metrics-nocap.txt" 'dmabufd_source_up{source="bpf"}')"
        else
                failc "uid 65534 without CAP_BPF/CAP_PERFMON: its state came back" "$(tail -n 3 "$dir/log-nocap.out" 2>/dev/null)"
        fi
        one_why "uid 65534 without CAP_BPF/CAP_PERFMON" "$dir/log-nocap.out" 'CAP_BPF|CAP_PERFMON'
        if jq -e . "$dir/state-cap.json" >/dev/null 2>&1; then
                eq "uid 65534 with CAP_BPF and CAP_PERFMON: sources.bpf" true "$(bpf_up "$dir/state-cap.json")"
        else
                failc "uid 65534 with CAP_BPF and CAP_PERFMON: its state came back" "$(tail -n 3 "$dir/log-cap.out" 2>/dev/null)"
        fi
        eq "uid 65534 with CAP_BPF and CAP_PERFMON: no log line says bpf is down" "" "$(why_lines "$dir/log-cap.out")"
fi

echo "$N_PASS passed, $N_FAIL failed"
jq -n --argjson p $N_PASS --argjson f $N_FAIL '{passed: $p, failed: $f}' >"$dir/result-bpf.json"
[ $N_FAIL -eq 0 ]
