#!/bin/bash
# Holds what dmabufd served in a guest to the scenario's truth, item by item.
#   compare.sh DIR [VARIANT]
# DIR holds the files the guest sent back: truth.json, state.json, metrics.txt,
# events and snap-*.json. With VARIANT (nodebugfs), state-VARIANT.json and
# metrics-VARIANT.txt are compared instead, and the events and the attachment
# probe are not. With PATCHED=yes (a kernel built with kernel-patches/LINE), what
# the series adds is required: sysfs stats, fdinfo ino: and the attachment
# statistics with their map counters. Prints one "ok:" or "FAIL:" line per item, then
# "N passed, M failed", and writes DIR/result.json for the matrix. Where the
# kernel cannot give a figure (its sources are down), the item passes only if
# dmabufd reports null, and says so.
set -u
dir=$1 variant=${2:+-$2}
PATCHED=${PATCHED:-no}
T="$dir/truth.json" S="$dir/state$variant.json" M="$dir/metrics$variant.txt"
N_PASS=0 N_FAIL=0 N_NULL=0
pass() { N_PASS=$((N_PASS + 1)); echo "ok: $1"; }
failc() { N_FAIL=$((N_FAIL + 1)); echo "FAIL: $1"; [ $# -gt 1 ] && printf '    %s\n' "${@:2}"; }
nullc() { N_PASS=$((N_PASS + 1)); N_NULL=$((N_NULL + 1)); echo "ok: $1 (null: $2)"; }

for f in "$T" "$S" "$M"; do
        if ! jq -e . "$f" >/dev/null 2>&1 && [ "$f" != "$M" ]; then
                failc "$(basename "$f") came back from the guest as JSON"
                echo "$N_PASS passed, $N_FAIL failed"
                exit 1
        fi
done
[ -s "$M" ] || failc "metrics.txt came back from the guest"

# eq DESCRIPTION WANT GOT
eq() {
        if [ "$2" = "$3" ]; then pass "$1 = $2"; else failc "$1" "truth: $2" "dmabufd: $3"; fi
}
# The kernel data sources dmabufd found up, as in state.sources.
src_up() { jq -r --arg s "$1" '.sources[$s] // false' "$S"; }
# BPF lists every buffer only where the kernel has iter/dmabuf (6.16); before, it
# gives holders only (iter/task_file, iter/task_vma).
kver=$(jq -r .kernel "$T" | awk -F. '{ print $1 * 1000 + $2 }')
bpf_lists=no
[ "$(src_up bpf)" = true ] && [ "${kver:-0}" -ge 6016 ] && bpf_lists=yes
listing=no # does any source list every buffer?
{ [ "$(src_up sysfs)" = true ] || [ "$(src_up debugfs)" = true ] || [ $bpf_lists = yes ]; } && listing=yes
# Buffers the kernel cannot size here: held by mappings only (a maps line has
# the name, not the size or the exporter) with no source that lists buffers.
unsized=""
[ $listing = no ] && unsized=$(jq -r '.buffers[] | select(.kernel_only | not) | select(all(.refs[]; .fds == 0)) | .inode' "$T" | paste -sd' ' -)
is_unsized() { case " $unsized " in *" $1 "*) return 0 ;; esac; return 1; }
# A process that holds an unsized buffer has an unknown rss and pss.
holds_unsized() { # PID
        local i
        for i in $unsized; do
                jq -e --argjson p "$1" --argjson i "$i" '.buffers[] | select(.inode == $i) | .holders | index($p)' "$T" \
                        >/dev/null && return 0
        done
        return 1
}

# ---- buffers ----
for ino in $(jq -r '.buffers[].inode' "$T"); do
        tb=$(jq -c --argjson i "$ino" '.buffers[] | select(.inode == $i)' "$T")
        sb=$(jq -c --argjson i "$ino" '[.buffers[] | select(.inode == $i)] | first // empty' "$S")
        label="buffer $ino ($(jq -r '.name // "unnamed"' <<<"$tb"), $(jq -r .exporter <<<"$tb"))"
        if [ -z "$sb" ]; then
                if [ "$(jq -r .kernel_only <<<"$tb")" = true ] && [ $listing = no ]; then
                        nullc "$label is not listed" "no source lists every buffer on this kernel"
                else
                        failc "$label is listed by dmabufd" "truth: $tb"
                fi
                continue
        fi
        for k in size exporter name; do
                got=$(jq -c ".$k" <<<"$sb")
                if [ "$k" != name ] && [ "$got" = null ] && is_unsized "$ino"; then
                        nullc "$label .$k" "held by mappings only, and no source lists buffers"
                elif [ "$k" = name ] && [ "$got" = null ] && [ "$(jq -r .kernel_only <<<"$tb")" = true ] &&
                        [ "$(src_up debugfs)" != true ] && [ $bpf_lists = no ]; then
                        nullc "$label .name" "no process holds it, and sysfs stats carry no name"
                else
                        eq "$label .$k" "$(jq -c ".$k" <<<"$tb")" "$got"
                fi
        done
        want_holders=$(jq -c '.holders | sort' <<<"$tb")
        got_holders=$(jq -c '[.holders[]?.pid] | sort' <<<"$sb")
        eq "$label holders" "$want_holders" "$got_holders"
        eq "$label holders' fds and maps" "$(jq -c '[.refs[] | {pid, fds, maps}] | sort_by(.pid)' <<<"$tb")" \
                "$(jq -c '[.holders[]? | {pid, fds, maps}] | sort_by(.pid)' <<<"$sb")"
        got_att=$(jq -c '.attachments' <<<"$sb")
        if [ "$PATCHED" = yes ]; then
                # sysfs lists attachments (it is read first, so it owns the list) and counts
                # mappings: vgem's import maps a buffer once (drm_gem_prime_import_dev).
                eq "$label attachments (sysfs attachment statistics)" "$(jq -c '.attached | sort' <<<"$tb")" \
                        "$(jq -c 'if . == null then null else sort end' <<<"$got_att")"
                eq "$label attachment map counters" "$(jq -c '[.attached[] | 1]' <<<"$tb")" \
                        "$(jq -c '[.attachment_stats[]?.map_counter]' <<<"$sb")"
        elif [ "$got_att" = null ]; then
                if [ "$(src_up debugfs)" = true ]; then
                        failc "$label attachments" "truth: $(jq -c .attached <<<"$tb")" "dmabufd: null with debugfs up"
                else
                        nullc "$label attachments" "the kernel shows attachments in debugfs only, and it is down"
                fi
        else
                eq "$label attachments" "$(jq -c '.attached | sort' <<<"$tb")" "$(jq -c 'sort' <<<"$got_att")"
        fi
done
extra=$(jq -r --slurpfile t "$T" '[.buffers[].inode] - [$t[0].buffers[].inode] | map(tostring) | join(" ")' "$S")
if [ -z "$extra" ]; then pass "dmabufd lists no buffer the scenario did not make"; else
        failc "dmabufd lists no buffer the scenario did not make" "extra inodes: $extra"; fi

if [ "$PATCHED" = yes ]; then
        eq "sysfs stats are up (kernel-patches)" true "$(src_up sysfs)"
fi

# ---- exporters ----
for e in $(jq -r '[.buffers[].exporter] | unique | .[]' "$T"); do
        # What dmabufd can attribute: not the buffers it cannot size.
        want=$(jq -c --arg e "$e" --arg u "$unsized" --arg listing $listing '($u | split(" ") | map(select(. != "") | tonumber)) as $un
                | [.buffers[] | select(.exporter == $e) | select(.inode as $i | $un | index($i) | not)
                   | select($listing == "yes" or (.kernel_only | not))]
                | {buffers: length, bytes: (map(.size) | add)}' "$T")
        got=$(jq -c --arg e "$e" '[.exporters[] | select(.name == $e)] | first // {} | {buffers, bytes}' "$S")
        if [ $listing = no ] && [ "$got" = '{"buffers":null,"bytes":null}' ]; then
                nullc "exporter $e" "no source lists every buffer"
        else
                eq "exporter $e {buffers, bytes}" "$want" "$got"
        fi
done

# ---- processes ----
for pid in $(jq -r '.processes[].pid' "$T"); do
        tp=$(jq -c --argjson p "$pid" '.processes[] | select(.pid == $p)' "$T")
        sp=$(jq -c --argjson p "$pid" '[.processes[] | select(.pid == $p)] | first // empty' "$S")
        label="process $pid ($(jq -r .comm <<<"$tp"))"
        if [ -z "$sp" ]; then failc "$label is listed" "truth: $tp"; continue; fi
        for k in rss_bytes pss_bytes; do
                got=$(jq -c ".$k" <<<"$sp")
                if [ "$got" = null ] && holds_unsized "$pid"; then
                        nullc "$label .$k" "it holds a buffer the kernel cannot size here"
                else
                        eq "$label .$k" "$(jq -c ".$k" <<<"$tp")" "$got"
                fi
        done
        eq "$label buffers" "$(jq -c '.buffers | sort' <<<"$tp")" "$(jq -c '.buffers | sort' <<<"$sp")"
done
extra=$(jq -r --slurpfile t "$T" '[.processes[] | select((.rss_bytes // 0) > 0) | .pid] - [$t[0].processes[].pid] | map(tostring) | join(" ")' "$S")
if [ -z "$extra" ]; then pass "no other process holds a buffer"; else
        failc "no other process holds a buffer" "extra pids: $extra"; fi

# ---- totals ----
for k in buffers bytes userspace_bytes kernel_only_bytes; do
        want=$(jq -c ".totals.$k" "$T")
        got=$(jq -c ".totals.$k" "$S")
        if [ "$got" = null ] && [ $listing = no ] && { [ "$k" != userspace_bytes ] || [ -n "$unsized" ]; }; then
                nullc "totals.$k" "no source lists every buffer on this kernel"
        else
                eq "totals.$k" "$want" "$got"
        fi
done

# ---- /metrics agrees with the truth too ----
metric_in() { # FILE SERIES: its value, or nothing
        awk -v s="$2" '!/^#/ && index($0, s " ") == 1 { v = substr($0, length(s) + 2); sub(/ .*/, "", v); print v; exit }' "$1" 2>/dev/null
}
metric() { metric_in "$M" "$1"; }
for pair in dmabuf_buffers:buffers dmabuf_bytes:bytes dmabuf_userspace_bytes:userspace_bytes \
        dmabuf_kernel_only_bytes:kernel_only_bytes; do
        want=$(jq -r ".totals.${pair#*:}" "$T")
        got=$(metric "${pair%%:*}")
        if [ -z "$got" ] && [ $listing = no ] && { [ "${pair%%:*}" != dmabuf_userspace_bytes ] || [ -n "$unsized" ]; }; then
                nullc "metric ${pair%%:*} is absent" "no source lists every buffer"
        else
                eq "metric ${pair%%:*}" "$want" "$got"
        fi
done
for pid in $(jq -r '.processes[].pid' "$T"); do
        tp=$(jq -c --argjson p "$pid" '.processes[] | select(.pid == $p)' "$T")
        comm=$(jq -r .comm <<<"$tp")
        for k in pss rss; do
                got=$(metric "dmabuf_process_${k}_bytes{pid=\"$pid\",comm=\"$comm\"}")
                if [ -z "$got" ] && holds_unsized "$pid"; then
                        nullc "metric dmabuf_process_${k}_bytes{pid=\"$pid\"} is absent" "it holds a buffer the kernel cannot size here"
                else
                        eq "metric dmabuf_process_${k}_bytes{pid=\"$pid\"}" "$(jq -r ".${k}_bytes" <<<"$tp")" "$got"
                fi
        done
done

if [ -n "$variant" ]; then
        echo "$N_PASS passed, $N_FAIL failed"
        jq -n --argjson p $N_PASS --argjson f $N_FAIL --argjson n $N_NULL '{passed: $p, failed: $f, null_items: $n}' \
                >"$dir/result$variant.json"
        [ $N_FAIL -eq 0 ]
        exit
fi

# ---- events ----
E="$dir/events"
hog_pids=$(sed -n 's/^hog pid \([0-9]*\) .*/\1/p' "$E" 2>/dev/null)
global_pid=$(echo "$hog_pids" | sed -n 1p)
memcg_pid=$(echo "$hog_pids" | sed -n 2p)
# snapshot_check NAME FILE KIND PID: the trigger names the victim, and `before`
# shows the buffer it held.
snapshot_check() {
        local name=$1 f=$2 kind=$3 pid=$4
        if [ ! -s "$f" ]; then failc "$name: a $kind snapshot was taken" "$(grep -i "$name" "$E" 2>/dev/null)"; return; fi
        pass "$name: a $kind snapshot was taken"
        eq "$name: trigger.kind" "\"$kind\"" "$(jq -c .trigger.kind "$f")"
        [ -n "$pid" ] || return
        eq "$name: trigger.pid names the victim" "$pid" "$(jq -c .trigger.pid "$f")"
        eq "$name: the victim is in before" true "$(jq -c .trigger.in_before "$f")"
        eq "$name: before shows the victim's buffer" '"oom-victim"' \
                "$(jq -c '[.trigger.buffers[]?.name] | map(select(. == "oom-victim")) | first' "$f")"
        eq "$name: and the same in before.processes" true \
                "$(jq -c --argjson p "$pid" '[.before.processes[] | select(.pid == $p)] | length == 1' "$f")"
}
snapshot_check "global OOM" "$dir/snap-oom.json" oom_kill "$global_pid"
[ -s "$dir/snap-oom.json" ] && eq "global OOM: the kernel called it global" true "$(jq -c .trigger.oom.global_oom "$dir/snap-oom.json")"
# The memcg kill is reported by the kernel log and by memory.events: one snapshot,
# of whichever kind came first, and both reports counted.
memcg_kind=$(jq -r .trigger.kind "$dir/snap-memcg.json" 2>/dev/null)
if [ "$memcg_kind" = cgroup_oom ]; then
        snapshot_check "memcg OOM" "$dir/snap-memcg.json" cgroup_oom ""
        eq "memcg OOM: the trigger names the cgroup" true \
                "$(jq -c '.trigger.cgroup | test("oomtest$")' "$dir/snap-memcg.json")"
else
        snapshot_check "memcg OOM" "$dir/snap-memcg.json" oom_kill "$memcg_pid"
        [ -s "$dir/snap-memcg.json" ] && eq "memcg OOM: the kernel names the cgroup" '"/oomtest"' \
                "$(jq -c .trigger.oom.oom_memcg "$dir/snap-memcg.json")"
fi
eq "memcg OOM: one snapshot for the kill both sources report (oom_kill and cgroup_oom snapshots, global OOM's included)" 2 \
        "$(jq '[.[] | select(.trigger.kind == "oom_kill" or .trigger.kind == "cgroup_oom")] | length' "$dir/snap-list-memcg.json" 2>/dev/null)"
MM=$dir/metrics-memcg.txt
eq "memcg OOM: the kernel log's report is counted (with the global OOM's)" 2 \
        "$(metric_in "$MM" 'dmabufd_events_total{kind="oom_kill"}')"
eq "memcg OOM: memory.events' report is counted" 1 "$(metric_in "$MM" 'dmabufd_events_total{kind="cgroup_oom"}')"
snapshot_check "PSI" "$dir/snap-psi.json" psi ""
for what in "after the global OOM" "after the memcg OOM" "after pressure"; do
        if grep -q "^dmabufd alive $what" "$E" 2>/dev/null; then pass "dmabufd survives $what"; else
                failc "dmabufd survives $what" "$(grep FAIL "$E" 2>/dev/null)"; fi
done
eq "dmabufd's oom_score_adj, as the unit sets it" -900 \
        "$(sed -n 's/^dmabufd alive after the global OOM, oom_score_adj \(-*[0-9]*\)$/\1/p' "$E" 2>/dev/null)"
other=$(grep '^FAIL' "$E" 2>/dev/null)
if [ -z "$other" ]; then pass "the guest reported no failure of its own"; else failc "the guest reported no failure of its own" "$other"; fi

# ---- the attachment probe (scenario attach) ----
# One system-heap buffer: exported, imported into vgem, the GEM handle closed, the fd
# closed; attach.json is what sysfs showed at each step, attach-state-* and
# attach-metrics-* what dmabufd served while it was attached and after the close.
A="$dir/attach.json"
probe_fail0=$N_FAIL
if ! jq -e .phases "$A" >/dev/null 2>&1; then
        failc "the attachment probe ran" "$(tail -n 3 "$dir/attach-out.out" 2>/dev/null)"
else
        pass "the attachment probe ran"
        ver=$(jq -r .kernel "$A" | awk -F. '{ print $1 * 1000 + $2 }')
        ino=$(jq .inode "$A")
        exp=$(jq -r .exporter "$A")
        phase() { jq -c ".phases.$1 | $2" "$A"; }
        # Mainline has sysfs stats from 5.15 until 7.0, and fdinfo ino: from 5.14.
        stats=false
        { [ "$PATCHED" = yes ] || { [ "$ver" -ge 5015 ] && [ "$ver" -lt 7000 ]; }; } && stats=true
        eq "probe: sysfs buffers/$ino/ exists" $stats "$(phase exported .buffer_dir)"
        if [ $stats = true ]; then
                eq "probe: sysfs exporter_name" "\"$exp\"" "$(phase exported .exporter_name)"
                eq "probe: sysfs size" "$(jq .size "$A")" "$(phase exported .size)"
        fi
        want_ino=null
        { [ "$PATCHED" = yes ] || [ "$ver" -ge 5014 ]; } && want_ino=$ino
        eq "probe: fdinfo ino:" "$want_ino" "$(jq -c .fdinfo_ino "$A")"
        if [ "$PATCHED" = yes ]; then
                eq "probe: attachments/ is there and empty before the import" '[]' "$(phase exported .attachments)"
                eq "probe: attachments/ after the import into vgem" '[{"device":"vgem","map_counter":1}]' \
                        "$(phase imported '[.attachments[]? | {device, map_counter}]')"
                eq "probe: attachments/ after DRM_IOCTL_GEM_CLOSE" '[]' "$(phase closed .attachments)"
        else
                eq "probe: no attachments/ on a kernel without kernel-patches" false \
                        "$(phase imported '.attachments_dir // false')"
        fi
        eq "probe: buffers/$ino/ is gone once the last fd is closed" false "$(phase released .buffer_dir)"

        # What dmabufd served. Unpatched, the attachment comes from bufinfo, which has no
        # map counter.
        if [ "$PATCHED" = yes ]; then mc=1; else mc=null; fi
        eq "probe: dmabufd while attached" "{\"attachments\":[\"vgem\"],\"attachment_stats\":[{\"device\":\"vgem\",\"map_counter\":$mc}]}" \
                "$(jq -c --argjson i "$ino" '[.buffers[] | select(.inode == $i)] | first | {attachments, attachment_stats}' \
                        "$dir/attach-state-imported.json" 2>&1)"
        eq "probe: dmabufd after DRM_IOCTL_GEM_CLOSE" '{"attachments":[],"attachment_stats":[]}' \
                "$(jq -c --argjson i "$ino" '[.buffers[] | select(.inode == $i)] | first | {attachments, attachment_stats}' \
                        "$dir/attach-state-closed.json" 2>&1)"
        series="{exporter=\"$exp\",device=\"vgem\"}"
        MI="$dir/attach-metrics-imported.txt" MC="$dir/attach-metrics-closed.txt"
        eq "probe: metric dmabuf_attachments$series while attached" 1 "$(metric_in "$MI" "dmabuf_attachments$series")"
        if [ "$PATCHED" = yes ]; then
                eq "probe: metric dmabuf_attachment_mappings$series while attached" 1 \
                        "$(metric_in "$MI" "dmabuf_attachment_mappings$series")"
        else
                eq "probe: no metric dmabuf_attachment_mappings without the statistics" "" \
                        "$(metric_in "$MI" "dmabuf_attachment_mappings$series")"
        fi
        eq "probe: no metric dmabuf_attachments$series after the close" "" "$(metric_in "$MC" "dmabuf_attachments$series")"
fi
if [ $N_FAIL -gt $probe_fail0 ]; then
        attach="no: $((N_FAIL - probe_fail0)) probe item(s) failed"
elif [ "$PATCHED" = yes ]; then
        attach="yes: vgem's import appears with map_counter 1 and is gone after GEM_CLOSE; dmabufd shows both"
else
        attach="not in this kernel: dmabufd shows vgem from bufinfo, without a map counter"
fi

# ---- the DRM probe (scenario drm) ----
# Two vgem clients with GEM objects of known sizes (drm.json); drm-fdinfo.out is the
# kernel's fdinfo of each of the probe's fds, read in the guest with cat, so these
# items hold the kernel to the scenario without dmabufd's parser. With VGEM_FDINFO=yes
# (kernel-patches/7.2's vgem patch) vgem must print the standard memory stats of
# drm_show_memory_stats(), exactly; without it, no line of any kernel here prints a
# drm- key for vgem (docs/kernel-matrix.md), and none may appear. Then what dmabufd
# served meanwhile is held to the same.
D="$dir/drm.json" DF="$dir/drm-fdinfo.out"
drm_fail0=$N_FAIL
# The fdinfo as {"FD": {"key": "value", ...}, ...}.
drm_fdinfo() {
        awk '/^== [0-9]+ / { fd = $2; next } fd != "" && index($0, ":") { k = substr($0, 1, index($0, ":") - 1)
                v = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", v); print fd "\t" k "\t" v }' "$DF" |
                jq -R -s 'split("\n") | map(select(. != "") | split("\t")) |
                        reduce .[] as $l ({}; .[$l[0]][$l[1]] = $l[2])'
}
if ! jq -e .clients "$D" >/dev/null 2>&1 || [ ! -s "$DF" ]; then
        failc "the DRM probe ran" "$(tail -n 3 "$dir/drm-out.out" 2>/dev/null)"
        drm="no: the probe did not run"
else
        pass "the DRM probe ran"
        FI=$(drm_fdinfo)
        drm_fds=$(jq -r '[.clients[].fds[]] | map(tostring) | join(" ")' "$D")
        eq "DRM probe: fdinfo was read for each of its $(wc -w <<<"$drm_fds") DRM fds" true \
                "$(jq -c --argjson fds "$(jq -c '[.clients[].fds[] | tostring]' "$D")" '[$fds[] as $f | has($f)] | all' <<<"$FI")"
        eq "DRM probe: the exported dma-buf's fdinfo size:" "$(jq .dmabuf.size "$D")" \
                "$(jq -r --arg f "$(jq .dmabuf.fd "$D")" '.[$f].size // "missing"' <<<"$FI")"
        eq "DRM probe: no drm- key on the fds that are not DRM fds" '[]' \
                "$(jq -c --argjson fds "$(jq -c '[.clients[].fds[] | tostring]' "$D")" \
                        '[to_entries[] | select(.key as $k | $fds | index($k) | not) | .value | keys[] |
                          select(startswith("drm-"))] | unique' <<<"$FI")"
        if [ "${VGEM_FDINFO:-no}" = yes ]; then
                # fdinfo sizes: "%llu%s" with " KiB" or " MiB" when a multiple (drm_fdinfo_print_size).
                bytes='def bytes: capture("^(?<n>[0-9]+)(?<u> KiB| MiB)?$") |
                        (.n | tonumber) * ({" KiB": 1024, " MiB": 1048576}[.u // ""] // 1);'
                nc=$(jq '.clients | length' "$D")
                for c in $(seq 0 $((nc - 1))); do
                        tc=$(jq -c ".clients[$c]" "$D")
                        lab="DRM probe: client $c (fds $(jq -r '.fds | map(tostring) | join(",")' <<<"$tc"))"
                        want=$(jq -c '{driver: "vgem", total, shared, resident}' <<<"$tc")
                        for fd in $(jq -r '.fds[]' <<<"$tc"); do
                                eq "$lab fd $fd: drm-driver and the memory stats" "$want" \
                                        "$(jq -c --arg f "$fd" "$bytes"' .[$f] | {driver: .["drm-driver"],
                                                total: (.["drm-total-memory"] // null | if . then bytes else null end),
                                                shared: (.["drm-shared-memory"] // null | if . then bytes else null end),
                                                resident: (.["drm-resident-memory"] // null | if . then bytes else null end)}' <<<"$FI" 2>&1)"
                                eq "$lab fd $fd: no other drm- key (no drm-pdev on a faux device, no purgeable or active)" \
                                        '["drm-client-id","drm-driver","drm-shared-memory","drm-total-memory"]' \
                                        "$(jq -c --arg f "$fd" '[.[$f] | keys[] | select(startswith("drm-")) |
                                                select(. != "drm-resident-memory")] | sort' <<<"$FI")"
                        done
                        eq "$lab: one drm-client-id on all its fds" 1 \
                                "$(jq --argjson fds "$(jq -c '.fds | map(tostring)' <<<"$tc")" \
                                        '[.[$fds[]]["drm-client-id"]] | unique | map(select(. != null)) | length' <<<"$FI")"
                done
                eq "DRM probe: the clients' drm-client-ids differ" "$nc" \
                        "$(jq --argjson fds "$(jq -c '[.clients[].fds[0] | tostring]' "$D")" \
                                '[.[$fds[]]["drm-client-id"]] | map(select(. != null)) | unique | length' <<<"$FI")"
        else
                eq "DRM probe: no drm- key in vgem's fdinfo on a kernel without the vgem patch" '[]' \
                        "$(jq -c '[.[] | keys[] | select(startswith("drm-"))] | unique' <<<"$FI")"
        fi
        # What dmabufd served meanwhile (drm-state.json, drm-metrics.txt): the probe's
        # process carries one "drm" client per drm-client-id (its fds counted), with the
        # kinds the kernel printed, and dmabuf_drm_client_bytes sums the clients.
        # On a kernel with BTF the main daemon walks with BPF; drm-state-bpfoff.json is the
        # bpf = off daemon's (the procfs walk), held to the same.
        DS="$dir/drm-state.json" DM="$dir/drm-metrics.txt" DB="$dir/drm-state-bpfoff.json"
        dpid=$(jq .pid "$D")
        drm_of() { jq -c --argjson p "$dpid" '[.processes[] | select(.pid == $p)] | first | .drm // null' "$1" 2>&1; }
        sdrm=$(drm_of "$DS")
        series() { printf 'dmabuf_drm_client_bytes{pid="%s",comm="sc-drm",driver="vgem",region="memory",kind="%s"}' "$dpid" "$1"; }
        if [ "${VGEM_FDINFO:-no}" = yes ]; then
                want=$(jq -c --argjson fdinfo "$FI" '{clients: [.clients[] | {driver: "vgem",
                                client_id: ($fdinfo[.fds[0] | tostring]["drm-client-id"] | tonumber), pdev: null,
                                fds: (.fds | length), regions: {memory: ({total, shared} +
                                        (if .resident == null then {} else {resident} end))}}] | sort_by(.client_id)}' "$D")
                eq "DRM probe: dmabufd's drm of the probe's process (one client per drm-client-id; bpf $(src_up bpf))" \
                        "$(jq -S -c . <<<"$want")" \
                        "$(jq -S -c 'if . == null then null else .clients |= sort_by(.client_id) end' <<<"$sdrm" 2>&1)"
                [ -s "$DB" ] && eq "DRM probe: the bpf = off daemon's drm of the probe's process" "$(jq -S -c . <<<"$want")" \
                        "$(jq -S -c 'if . == null then null else .clients |= sort_by(.client_id) end' <<<"$(drm_of "$DB")" 2>&1)"
                for m in "$DM" "$dir/drm-metrics-bpfoff.txt"; do
                        [ "$m" = "$DM" ] || [ -s "$m" ] || continue
                        from=""
                        [ "$m" = "$DM" ] || from=" (the bpf = off daemon)"
                        for k in total shared resident; do
                                eq "DRM probe: metric $(series $k)$from" "$(jq "[.clients[].$k // 0] | add" "$D")" \
                                        "$(metric_in "$m" "$(series $k)")"
                        done
                        for k in purgeable active; do
                                eq "DRM probe: no metric $(series $k) (the kernel printed none)$from" "" \
                                        "$(metric_in "$m" "$(series $k)")"
                        done
                done
        else
                eq "DRM probe: no drm in dmabufd's state for the probe's process" null "$sdrm"
                [ -s "$DB" ] && eq "DRM probe: no drm in the bpf = off daemon's state for the probe's process" null \
                        "$(drm_of "$DB")"
                eq "DRM probe: no metric dmabuf_drm_client_bytes for the probe's process" 0 \
                        "$(grep -c "^dmabuf_drm_client_bytes{pid=\"$dpid\"" "$DM" 2>/dev/null)"
        fi
        if [ $N_FAIL -gt $drm_fail0 ]; then
                drm="no: $((N_FAIL - drm_fail0)) DRM probe item(s) failed"
        elif [ "${VGEM_FDINFO:-no}" = yes ]; then
                drm="vgem: $(jq -c '[.[] | keys[] | select(startswith("drm-"))] | unique' <<<"$FI" | tr -d '[]"' |
                        sed 's/,/ /g'), exact; dmabufd serves them per client"
        else
                drm="vgem: no drm- keys; dmabufd shows no drm"
        fi
fi

# Event sources up, as /metrics says.
events_up=$(sed -n 's/^dmabufd_source_up{source="\(kmsg\|psi\|cgroup\|journal\)"} 1$/\1/p' "$M" | paste -sd, -)
jq -n --argjson p $N_PASS --argjson f $N_FAIL --argjson n $N_NULL --slurpfile s "$S" --arg ev "$events_up" \
        --arg attach "$attach" --arg drm "$drm" \
        '{passed: $p, failed: $f, null_items: $n, kernel: $s[0].kernel, attach: $attach, drm: $drm,
          sources: ($s[0].sources | to_entries | map(select(.value) | .key)),
          event_sources: ($ev | split(",") | map(select(. != "")))}' >"$dir/result.json"
echo "$N_PASS passed, $N_FAIL failed"
[ $N_FAIL -eq 0 ]
