#!/bin/bash
# The real-kernel harness: for each kernel line, build (or take from the cache)
# a minimal kernel from Debian's linux-source, boot it under QEMU with dmabufd,
# the scenario program and tests/kernel/guest-init.sh as /init, and hold what
# dmabufd served to the scenario's truth (compare.sh).
#
#   run.sh --dmabufd PATH [--kernels "5.10 6.1 6.12 7.2"] [--matrix FILE] [--out DIR] [--bench]
#
# A line written LINE+patches (say 5.10+patches) is built with the series in
# kernel-patches/LINE applied, and compare.sh then requires what the series adds:
# sysfs stats, fdinfo ino: and the attachment statistics (5.10, 6.1, 6.12), or
# vgem's DRM fdinfo memory stats (7.2), told apart by the patches' names. Both
# suffixes may be given (7.2+btf+patches: the BTF flavour with the series). A line written LINE+btf
# (say 7.2+btf) is built with BPF and the kernel's BTF (build-kernel.sh --btf,
# kernel-bpf.config), and compare-bpf.sh then requires the bpf source up, its
# holders equal to the procfs path's, and bpf down with its reason for a daemon
# without CAP_BPF and CAP_PERFMON; on every other line it requires bpf down with
# its reason. On a line from 6.16 (7.2+btf), BPF lists every buffer, so compare.sh
# allows no null without debugfs but attachments.
# --matrix FILE: update FILE's rows for the lines run (docs/kernel-matrix.md).
# --bench: instead of the checks, boot each line with guest-bench.sh as /init
# (-m 1024M): the performance benchmark of the BPF source against the procfs path
# and the procfs floor, reported by bench-report.sh (docs/kernel-harness.md).
# Exits 0 only if every line booted and every item matched. A guest that does
# not finish within BOOT_TIMEOUT seconds (default 900) is killed; the line fails
# and the end of its console is shown.
set -u
here=$(cd "$(dirname "$0")" && pwd)
kernels="5.10 6.1 6.12 7.2"
dmabufd="" matrix="" out="" bench=no
while [ $# -gt 0 ]; do
        case $1 in
        --dmabufd) dmabufd=$2; shift 2 ;;
        --kernels) kernels=$2; shift 2 ;;
        --matrix) matrix=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --bench) bench=yes; shift ;;
        *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
        esac
done
[ -n "$dmabufd" ] && [ -x "$dmabufd" ] || { echo "run.sh: --dmabufd must name the built dmabufd" >&2; exit 2; }
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/dmabufd-kernel.XXXXXX")
mkdir -p "$out"
for t in qemu-system-x86_64 jq gcc cpio gzip base64; do
        command -v $t >/dev/null || { echo "run.sh: $t is missing (scripts/deps.sh kernel installs it)" >&2; exit 1; }
done

# The programs of the guest are static: nothing to copy but themselves.
for prog in scenario guest-get guest-caps; do
        gcc -static -O2 -Wall -Wextra -Werror -o "$out/$prog" "$here/$prog.c" || { echo "run.sh: $prog.c does not build" >&2; exit 1; }
done
# The benchmark's guest-iter times dmabufd's own iterators alone: it needs the
# skeleton of the build dmabufd comes from, and libbpf.a, libelf.a and libz.a.
extra_progs=()
skel_dir=$(dirname "$dmabufd")/daemon
if [ $bench = yes ] && [ -f "$skel_dir/bpf/dmabufd.skel.h" ]; then
        if gcc -static -O2 -Wall -Wextra -Werror -I "$skel_dir" -o "$out/guest-iter" "$here/guest-iter.c" \
                -lbpf -lelf -lz 2>"$out/guest-iter.err"; then
                extra_progs+=("$out/guest-iter")
        else
                echo "run.sh: guest-iter.c does not build; the benchmark runs without it:" >&2
                tail -n 5 "$out/guest-iter.err" >&2
        fi
fi

# The unit's capabilities, for the guest's daemons run as uid 65534 (guest-init.sh),
# given on the kernel command line as dmabufd.caps=sys_ptrace,... .
unit_caps=$(sed -n 's/^AmbientCapabilities=//p' "$here/../../systemd/dmabufd.service.in" | tr ' ' '\n' |
        sed -n 's/^CAP_//p' | tr 'A-Z' 'a-z' | paste -sd, -)
[ -n "$unit_caps" ] || { echo "run.sh: no AmbientCapabilities= in systemd/dmabufd.service.in" >&2; exit 1; }

status=0
rows="$out/rows"
: >"$rows"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

for v in $kernels; do
        echo "=== linux $v"
        # LINE, then +btf and +patches in either order, each at most once.
        line=$v patches="" btf=no want_patches=no
        case $line in *+patches) line=${line%+patches} want_patches=yes ;; esac
        case $line in *+btf) line=${line%+btf} btf=yes ;; esac
        case $line in *+patches) [ $want_patches = no ] && line=${line%+patches} want_patches=yes ;; esac
        case $line in
        5.10 | 6.1 | 6.12 | 7.2) ;;
        *) echo "FAIL: linux $v: unknown line '$line' (5.10, 6.1, 6.12 or 7.2, each optionally +patches, +btf or both)"; status=1; continue ;;
        esac
        label=$line
        [ $btf = yes ] && label="$label + BTF"
        if [ $want_patches = yes ]; then
                patches=$(cd "$here/../../kernel-patches/$line" 2>/dev/null && pwd)
                if [ -z "$patches" ]; then
                        echo "FAIL: linux $v: there is no kernel-patches/$line"
                        status=1
                        continue
                fi
                label="$label + kernel-patches/$line"
        fi
        d="$out/$v"
        mkdir -p "$d"
        t0=$(now)
        bz=$("$here/build-kernel.sh" $([ $btf = yes ] && echo --btf) "$line" ${patches:+"$patches"} 2>"$d/build.err")
        rc=$?
        t1=$(now)
        if [ $rc != 0 ] || [ ! -f "$bz" ]; then
                echo "FAIL: linux $v: the kernel did not build"
                tail -n 40 "$d/build.err" | sed 's/^/    /'
                echo "| $label | build failed | | $(secs "$t0" "$t1") | | no: $(tail -n 1 "$d/build.err" | tr '|' '/') | not run | not run | not run |" >>"$rows"
                status=1
                continue
        fi
        init=$here/guest-init.sh mem=256M
        [ $bench = yes ] && init=$here/guest-bench.sh mem=1024M
        "$here/mk-initramfs.sh" "$d/initramfs.gz" "$dmabufd" "$out/scenario" "$out/guest-get" "$init" \
                "$here/guest.conf" "$out/guest-caps" ${extra_progs[@]+"${extra_progs[@]}"} || {
                echo "FAIL: linux $v: the initramfs could not be built"
                status=1
                continue
        }
        t2=$(now)
        timeout -s KILL "${BOOT_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg -kernel "$bz" -initrd "$d/initramfs.gz" \
                -append "console=ttyS0 panic=-1 quiet dmabufd.caps=$unit_caps" -nographic -m $mem -no-reboot -smp 1 \
                </dev/null >"$d/console.log" 2>&1
        qrc=$?
        t3=$(now)
        tr -d '\r' <"$d/console.log" >"$d/console.txt"
        if ! grep -q '^@@DONE@@' "$d/console.txt"; then
                echo "FAIL: linux $v: the guest did not finish (qemu exit $qrc after $(secs "$t2" "$t3") s); its console ends:"
                tail -n 40 "$d/console.txt" | sed 's/^/    /'
                echo "| $label | $(sed -n 's/.*@@BOOTED \([^ ]*\) .*/\1/p' "$d/console.txt") | | $(secs "$t0" "$t1") | $(secs "$t2" "$t3") | no: the guest did not finish | not run | not run | not run |" >>"$rows"
                status=1
                continue
        fi
        # Each file the guest sent, base64 between its markers.
        for name in $(sed -n 's/^@@BEGIN \(.*\)@@$/\1/p' "$d/console.txt"); do
                awk -v n="$name" '$0 == "@@END " n "@@" { on = 0 } on { print } $0 == "@@BEGIN " n "@@" { on = 1 }' \
                        "$d/console.txt" | base64 -d >"$d/$name.out" 2>/dev/null
                case $name in
                truth | state | state-* | snap-* | attach | attach-state-* | drm | drm-state | drm-state-*) mv "$d/$name.out" "$d/$name.json" ;;
                metrics | metrics-* | attach-metrics-* | drm-metrics | drm-metrics-*) mv "$d/$name.out" "$d/$name.txt" ;;
                events) mv "$d/$name.out" "$d/events" ;;
                bench-kernel) mv "$d/$name.out" "$d/bench-kernel.txt" ;;
                bench-state-*) mv "$d/$name.out" "$d/$name.json" ;;
                bench) mv "$d/$name.out" "$d/bench.txt" ;;
                esac
        done
        if [ $bench = yes ]; then
                echo "=== linux $v: benchmark (guest $(secs "$t2" "$t3") s)"
                BTF=$btf "$here/bench-report.sh" "$d" | tee "$d/bench-report.out"
                [ "${PIPESTATUS[0]}" = 0 ] || status=1
                continue
        fi
        # What the series adds, by its patches' names: the attachment statistics (the
        # 5.10, 6.1 and 6.12 series) and vgem's fdinfo memory stats (the 7.2 series).
        patched=no vgem_fdinfo=no
        for p in ${patches:+"$patches"/*.patch}; do
                case ${p##*/} in
                *-sysfs-stats-add-per-attachment-statistics.patch) patched=yes ;;
                *-drm-vgem-print-the-standard-fdinfo-memory-stats.patch) vgem_fdinfo=yes ;;
                esac
        done
        VGEM_FDINFO=$vgem_fdinfo PATCHED=$patched "$here/compare.sh" "$d" | tee "$d/compare.out" | grep -v '^ok:'
        crc=${PIPESTATUS[0]}
        PATCHED=$patched "$here/compare.sh" "$d" nodebugfs | tee "$d/compare-nodebugfs.out" | grep -v '^ok:'
        nrc=${PIPESTATUS[0]}
        BTF=$btf "$here/compare-bpf.sh" "$d" | tee "$d/compare-bpf.out" | grep -v '^ok:'
        brc=${PIPESTATUS[0]}
        # The daemon without CAP_BPF and CAP_PERFMON: everything but bpf as procfs gives it.
        nocap_sum='{"passed":0,"failed":0}'
        if [ $btf = yes ]; then
                PATCHED=$patched "$here/compare.sh" "$d" nocap | tee "$d/compare-nocap.out" | grep -v '^ok:' | sed 's/^/nocap: /'
                [ "${PIPESTATUS[0]}" = 0 ] || brc=1
                nocap_sum=$(cat "$d/result-nocap.json" 2>/dev/null || echo '{"passed":0,"failed":1}')
        fi
        [ $crc = 0 ] && [ $nrc = 0 ] && [ $brc = 0 ] || status=1
        # Figures only, checked by no one: kernel-patches/README.md compares them.
        grep '^BENCH' "$d/bench.txt" 2>/dev/null | sed "s|^|=== linux $v: |"
        nodebugfs="$(jq -r '"\(.passed) passed, \(.failed) failed, \(.null_items) null"' "$d/result-nodebugfs.json" 2>/dev/null)"
        if [ $nrc = 0 ]; then nodebugfs="yes: $nodebugfs"; else nodebugfs="no: $nodebugfs"; fi
        release=$(jq -r '.kernel // "?"' "$d/state.json" 2>/dev/null)
        sources=$(jq -r '(.sources | join(", ")) + "; events: " + (.event_sources | join(", "))' "$d/result.json" 2>/dev/null)
        check=$(sed -n 's/^check \([0-9.]*\) \([0-9.]*\)$/\1 \2/p' "$d/events" | awk '{ printf "%.1f", $2 - $1 }')
        verdict=$(tail -n 1 "$d/compare.out")
        verdict="$verdict; bpf: $(jq -n -r --slurpfile b "$d/result-bpf.json" --argjson c "$nocap_sum" \
                '"\($b[0].passed + $c.passed) passed, \($b[0].failed + $c.failed) failed"' 2>/dev/null || echo "missing")"
        if [ $crc = 0 ] && [ $brc = 0 ]; then verdict="yes: $verdict"; else verdict="no: $verdict"; fi
        attach=$(jq -r '.attach // "missing"' "$d/result.json" 2>/dev/null)
        drm=$(jq -r '.drm // "missing"' "$d/result.json" 2>/dev/null)
        echo "| $label | $release | $sources | $(secs "$t0" "$t1") | $(secs "$t2" "$t3") (check ${check:-?}) | $verdict | ${nodebugfs:-missing} | ${attach:-missing} | ${drm:-missing} |" >>"$rows"
        # One closing line per kernel line, both comparisons summed.
        echo "=== linux $v: $(jq -n --slurpfile a "$d/result.json" --slurpfile b "$d/result-nodebugfs.json" \
                --slurpfile c "$d/result-bpf.json" --argjson n "$nocap_sum" \
                '"\($a[0].passed + $b[0].passed + $c[0].passed + $n.passed) passed, \($a[0].failed + $b[0].failed + $c[0].failed + $n.failed) failed"' \
                -r 2>/dev/null || echo "0 passed, 1 failed")"
done

if [ -n "$matrix" ]; then
        "$here/matrix.sh" "$matrix" "$rows"
fi
echo "results in $out"
exit $status
