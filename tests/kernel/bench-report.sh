#!/bin/bash
# Reports the benchmark guest's figures (guest-bench.sh) and checks that they mean
# something: the world was built whole, the floor walked it, the bpf = auto daemon
# had bpf up and the bpf = off one had it down, and both saw every process of the
# world. Then the target: one BPF collection at least 10 times faster (wall time)
# than the procfs floor.
#   bench-report.sh DIR      (DIR holds bench-kernel.txt and bench-state-*.json)
# Prints the figures and one "ok:"/"FAIL:" line per check; exits 0 only if every
# check and the target hold.
set -u
dir=$1
B="$dir/bench-kernel.txt"
N_FAIL=0
ok() { echo "ok: $1"; }
failc() { N_FAIL=$((N_FAIL + 1)); echo "FAIL: $1"; }
[ -s "$B" ] || { echo "FAIL: the guest sent no benchmark figures"; exit 1; }
grep '^BENCH-FAIL' "$B" | sed 's/^/FAIL: guest: /' && N_FAIL=$((N_FAIL + $(grep -c '^BENCH-FAIL' "$B")))
kv() { # LINE KEY
        printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

world=$(grep '^BENCH-WORLD READY' "$B" | head -n 1)
if [ -z "$world" ]; then
        failc "the world was built"
else
        procs=$(kv "$world" procs) fds=$(kv "$world" fds) dfds=$(kv "$world" dmabuf_fds) maps=$(kv "$world" maps)
        if [ "$procs" -ge 500 ] && [ "$fds" -ge 50000 ] && [ "$dfds" -ge 2000 ] && [ "$maps" -ge 200 ]; then
                ok "the world: $procs processes, $fds fds, $dfds dma-buf fds, $maps mappings"
        else
                failc "the world is at least 500 processes x 100 fds, 2,000 dma-buf fds, 200 mappings: $world"
        fi
fi

# Least of each figure over the rounds: the one the machine's noise disturbs least.
floor=$(awk '/^BENCH-FLOOR/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if (n == 0 || v["wall_us"] < w) w = v["wall_us"]; if (n == 0 || v["cpu_us"] < c) c = v["cpu_us"]
        if (n == 0 || v["details_us"] < dt) dt = v["details_us"]; n++
        f = v["fds"]; d = v["dmabuf_fds"]; m = v["dmabuf_maps"] }
        END { if (n) printf "%d %d %d %d %d %d %d\n", w, c, n, f, d, m, dt }' "$B")
read -r floor_wall floor_cpu floor_n floor_fds floor_dfds floor_dmaps floor_details <<<"${floor:-0 0 0 0 0 0 0}"
if [ "$floor_n" -gt 0 ] && [ "$floor_dfds" -ge "${dfds:-2000}" ] && [ "$floor_dmaps" -ge "${maps:-200}" ]; then
        ok "the floor walked $floor_fds fds, $floor_dfds dma-buf fds and $floor_dmaps dma-buf mappings ($floor_n rounds)"
else
        failc "the floor walked the world: rounds $floor_n, fds $floor_fds, dma-buf fds $floor_dfds, dma-buf mappings $floor_dmaps"
fi
daemon() { # NAME -> "wall_us cpu_us_per_collection rounds collections"
        awk -v n="$1" '$1 == "BENCH-DAEMON" { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                if (v["name"] != n || v["collections"] + 0 < 1 || v["last_duration_s"] == "") next
                w1 = v["last_duration_s"] * 1e6; c1 = v["cpu_ticks"] * 10000 / v["collections"]
                if (r == 0 || w1 < w) w = w1; if (r == 0 || c1 < c) c = c1; r++; k += v["collections"] }
                END { if (r) printf "%d %d %d %d\n", w, c, r, k }' "$B"
}
read -r bpf_wall bpf_cpu bpf_r bpf_k <<<"$(daemon bpf || true)"
read -r pfs_wall pfs_cpu pfs_r pfs_k <<<"$(daemon procfs || true)"

for n in bpf procfs; do
        S="$dir/bench-state-$n.json"
        want=true; [ $n = procfs ] && want=false
        got=$(jq -c '.sources.bpf' "$S" 2>/dev/null)
        [ "$got" = "$want" ] && ok "dmabufd $n: sources.bpf = $got" || failc "dmabufd $n: sources.bpf = ${got:-missing}, not $want"
        seen=$(jq '[.processes[] | select((.buffers | length) > 0)] | length' "$S" 2>/dev/null)
        if [ -n "${procs:-}" ] && [ "${seen:-0}" -ge "$procs" ]; then
                ok "dmabufd $n sees $seen processes holding buffers (the world has $procs)"
        else
                failc "dmabufd $n sees ${seen:-no} processes holding buffers (the world has ${procs:-?})"
        fi
done

ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }
echo "release: $(sed -n 's/^BENCH-KERNEL release=\([^ ]*\).*/\1/p' "$B"); least of each figure over the rounds"
printf '%-44s %16s %22s\n' "method" "wall/collection" "CPU/collection"
printf '%-44s %16s %22s\n' "floor (bare syscalls of the procfs path)" "$(ms "$floor_wall")" "$(ms "$floor_cpu")"
printf '%-44s %16s %22s\n' "dmabufd, bpf = off (procfs path)" "${pfs_wall:+$(ms "$pfs_wall")}" \
        "${pfs_cpu:+$(ms "$pfs_cpu") ($pfs_k coll.)}"
printf '%-44s %16s %22s\n' "dmabufd, bpf = auto" "${bpf_wall:+$(ms "$bpf_wall")}" \
        "${bpf_cpu:+$(ms "$bpf_cpu") ($bpf_k coll.)}"
printf '%-44s %16s\n' "comm and cgroup of every process" "$(ms "$floor_details")"
# The kernel's walk alone (guest-iter): each iterator read whole, least per iterator.
awk '$1 == "BENCH-ITER" { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        n = v["name"]; if (!(n in best) || v["best_us"] + 0 < best[n]) { best[n] = v["best_us"] + 0; bytes[n] = v["bytes"] } }
        END { for (n in best) { printf "%-44s %16.2f ms  (%d bytes)\n", "iter/" n " alone", best[n] / 1000, bytes[n]; t += best[n] }
              if (t) printf "%-44s %16.2f ms\n", "the iterators together", t / 1000 }' "$B" | sort
echo "procfs path / floor: $(ratio "${pfs_wall:-0}" "$floor_wall")x wall, $(ratio "${pfs_cpu:-0}" "$floor_cpu")x CPU"
echo "floor / BPF: $(ratio "$floor_wall" "${bpf_wall:-0}")x wall, $(ratio "$floor_cpu" "${bpf_cpu:-0}")x CPU"
if [ -n "${bpf_wall:-}" ] && [ "$bpf_wall" -gt 0 ] && [ $((floor_wall)) -ge $((10 * bpf_wall)) ]; then
        ok "target: one BPF collection is at least 10x faster than the floor ($(ratio "$floor_wall" "$bpf_wall")x)"
else
        failc "target: one BPF collection is at least 10x faster than the floor (floor $floor_wall us, BPF ${bpf_wall:-none} us)"
fi
[ $N_FAIL -eq 0 ]
