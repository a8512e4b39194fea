#!/bin/bash
# The live page (GET /) in a real browser: headless Chromium loads it from a
# daemon on a copy of the linux-6.1 tree whose buffer 8 is named
# "<img src=x onerror=alert(1)>", after an OOM kill (fed through the FIFO at
# <root>/dev/kmsg) took a snapshot. The charts must have the series and points
# /api/v1/history gives, the tables the state's processes and buffers, the
# hostile name must be text that runs nothing, the snapshot page must show the
# victim and the process gone, and corrupt or missing snapshot files one error
# naming the file. Screenshots are kept next to the log.
. "$(dirname "$0")/lib.sh"

C=linux-6.1
require_tree $C
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || fail "chromium is not installed: scripts/deps.sh test installs it (Debian package chromium)"
# Kept after the run, named in the log: the test's build directory.
ARTIFACTS="$PWD/tests/integration"
mkdir -p "$ARTIFACTS"

HOSTILE='<img src=x onerror=alert(1)>'
ROOT="$TMP/root"
cp -a "$(tree $C)" "$ROOT"
# Buffer 8 ("udmabuf-test") renamed wherever the tree says its name: fdinfo,
# bufinfo and the fd links.
while IFS= read -r f; do
        sed -i "s/udmabuf-test/$HOSTILE/" "$f"
done < <(grep -rla -e udmabuf-test "$ROOT")
while IFS= read -r l; do
        ln -sfn "/dmabuf:$HOSTILE" "$l"
done < <(find "$ROOT/proc" -type l -lname '/dmabuf:udmabuf-test')
mkdir -p "$ROOT/dev" "$ROOT/proc/pressure"
cp "$SRC_FIXTURES/pressure/meminfo-6.1.txt" "$ROOT/proc/meminfo"
cp "$SRC_FIXTURES/pressure/pressure-memory-busy.txt" "$ROOT/proc/pressure/memory"
mkfifo "$ROOT/dev/kmsg"

# One collection at start, then only the snapshots' own: the history stays put
# while the browser and the checks read it.
cat >"$TMP/web.conf" <<EOF
interval = 3600
cooldown_manual = 0
cooldown_oom_kill = 0
psi_trigger =
EOF
STATE="$TMP/state"
start_daemon --config "$TMP/web.conf" --root "$ROOT" --state-dir "$STATE"
wait_until 10 _collections_reached 1 || fail "no collection within 10 s"
fetch "$BASE/api/v1/state"
check "the tree's buffer 8 carries the hostile name" \
        jq -e --arg n "$HOSTILE" '.buffers[] | select(.inode == 8) | .name == $n' "$TMP/b"

# The victim holds the hostile buffer; its /proc entry goes before the kill is
# reported, as a killed process's does.
VPID=2304
VCOMM=$(jq -r --argjson p $VPID '.processes[] | select(.pid == $p) | .comm' "$TMP/b")
[ "$VCOMM" = cheese ] || fail "the tree's pid $VPID is not cheese ($VCOMM)"
snapshot_count() { fetch "$BASE/api/v1/snapshots"; jq length "$TMP/b"; }
snapshots_at_least() { [ "$(snapshot_count)" -ge "$1" ]; }
mv "$ROOT/proc/$VPID" "$TMP/proc-$VPID"
printf '3,1600,4131230,-;Out of memory: Killed process %s (%s) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n' \
        $VPID "$VCOMM" >"$ROOT/dev/kmsg"
wait_until 15 snapshots_at_least 1 || fail "no snapshot within 15 s of the kill"
KILL_ID=$(jq -r '.[0].id' "$TMP/b")
fetch_snapshot "$KILL_ID" || fail "snapshot $KILL_ID not complete within 10 s"
check "the kill's snapshot names the victim" jq -e --argjson p $VPID '.trigger.pid == $p' "$TMP/b"

# Two manual snapshots, damaged in place (same size and inode, so the store
# still serves them): one not JSON, one of an unknown schema.
take_manual() {
        fetch -X POST "$BASE/api/v1/snapshots"
        [ "$HTTP_CODE" = 201 ] || fail "POST /api/v1/snapshots: $HTTP_CODE $(head -c 300 "$TMP/b")"
        local id
        id=$(jq -r .id "$TMP/b")
        fetch_snapshot "$id" || fail "snapshot $id not complete within 10 s"
        echo "$id"
}
GARBAGE_ID=$(take_manual)
SCHEMA_ID=$(take_manual)
[ -n "$GARBAGE_ID" ] && [ -n "$SCHEMA_ID" ] || fail "the manual snapshots were not taken"
printf 'garbage!' | dd of="$STATE/$GARBAGE_ID.json" bs=1 conv=notrunc status=none
off=$(grep -bo '"dmabufd.snapshot/1"' "$STATE/$SCHEMA_ID.json" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || fail "no schema string in $STATE/$SCHEMA_ID.json"
printf '"dmabufd.snapshot/9"' | dd of="$STATE/$SCHEMA_ID.json" bs=1 seek="$off" conv=notrunc status=none
fetch "$BASE/api/v1/snapshots/$GARBAGE_ID"
check "the damaged file is still served as it is ($HTTP_CODE)" test "$HTTP_CODE" = 200

fetch "$BASE/api/v1/history"
cp "$TMP/b" "$TMP/history.json"
fetch "$BASE/api/v1/state"
cp "$TMP/b" "$TMP/state.json"
NPOINTS=$(jq '.points | length' "$TMP/history.json")
note "history: $NPOINTS points; state: $(jq '.processes | length' "$TMP/state.json") processes, $(jq '.buffers | length' "$TMP/state.json") buffers"
check "the history has the start's collection and each snapshot's ($NPOINTS)" test "$NPOINTS" -ge 4

# run_chromium NAME URL ARGS...: one bounded headless run with a throwaway
# profile; its stderr (with the page's console) in $TMP/NAME.log.
N_CHROMIUM=0
run_chromium() {
        local name=$1 url=$2
        shift 2
        N_CHROMIUM=$((N_CHROMIUM + 1))
        mkdir -p "$TMP/home"
        HOME="$TMP/home" timeout -k 5 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
                --disable-extensions --disable-sync --disable-background-networking --disable-default-apps \
                --no-proxy-server --user-data-dir="$TMP/chromium.$N_CHROMIUM" --enable-logging=stderr --v=0 \
                --virtual-time-budget=10000 "$@" "$url" 2>"$TMP/$name.log"
}

# ---- the live view ----
run_chromium overview "$BASE/" --dump-dom >"$TMP/overview.html" ||
        failc "chromium --dump-dom $BASE/ exited with $?" "$(tail -n 5 "$TMP/overview.log")"
DOM="$TMP/overview.html"
check "the page drew (its console says so)" grep -q "dmabufd page: drew $NPOINTS points" "$TMP/overview.log"
check "no CSP violation and no script error in the console" \
        bash -c '! grep -E "Refused to|Uncaught|Content Security Policy" "$1"' _ "$TMP/overview.log"

# svg_attr CHART ATTR: an attribute of the <svg> inside the chart's div.
svg_attr() {
        grep -o "<div id=\"$1\" class=\"chart\"><svg[^>]*>" "$DOM" | grep -o "$2=\"[0-9]*\"" | head -n 1 | grep -o '[0-9]*'
}
# path_points CHART NAME: data-points of the series named NAME.
path_points() {
        sed 's/<path /\n<path /g' "$DOM" | awk -v c="$1" '
                index($0, "<div id=\"" c "\"") { inside = 1 }
                inside && /^<path / { print }
                inside && /<\/svg>/ && !/^<path/ { if (seen++) exit }' |
                grep -F "data-name=\"$2\"" | grep -o 'data-points="[0-9]*"' | head -n 1 | grep -o '[0-9]*'
}
check "totals chart: 3 series ($(svg_attr chart-totals data-series))" test "$(svg_attr chart-totals data-series)" = 3
check "totals chart: $NPOINTS points, as /api/v1/history ($(svg_attr chart-totals data-points))" \
        test "$(svg_attr chart-totals data-points)" = "$NPOINTS"
for pair in total:bytes userspace:userspace_bytes kernel-only:kernel_only_bytes; do
        name=${pair%%:*} key=${pair#*:}
        want=$(jq --arg k "$key" '[.points[].totals[$k] | select(. != null)] | length' "$TMP/history.json")
        got=$(sed 's/></>\n</g' "$DOM" | grep '<path class="series"' | grep -F "data-name=\"$name\"" | head -n 1 |
                grep -o 'data-points="[0-9]*"' | grep -o '[0-9]*')
        check "totals chart: series $name has $want known points ($got)" test "$got" = "$want"
done
NEXP=$(jq '[.points[].exporters[].name] | unique | length' "$TMP/history.json")
check "exporters chart: $NEXP series, one per exporter in the history ($(svg_attr chart-exporters data-series))" \
        test "$(svg_attr chart-exporters data-series)" = "$NEXP"
check "exporters chart: $NPOINTS points ($(svg_attr chart-exporters data-points))" \
        test "$(svg_attr chart-exporters data-points)" = "$NPOINTS"
NTOP=$(jq '.points[-1].top_processes | length' "$TMP/history.json")
check "top processes chart: $NTOP bars, the newest point's top_processes ($(svg_attr chart-top data-points))" \
        test "$(svg_attr chart-top data-points)" = "$NTOP"
check "the paths drawn are as many as the series (3 + $NEXP)" \
        test "$(grep -o '<path class="series"' "$DOM" | wc -l)" = $((3 + NEXP))

# Tables: every process and buffer of the state, once.
jq -r '.processes[].pid' "$TMP/state.json" | sort -n >"$TMP/pids.want"
grep -o '<tr data-pid="[0-9]*"' "$DOM" | grep -o '[0-9]*' | sort -n >"$TMP/pids.got"
check "the process table lists the state's processes ($(paste -sd, "$TMP/pids.got"))" \
        diff "$TMP/pids.want" "$TMP/pids.got"
jq -r '.buffers[].inode' "$TMP/state.json" | sort -n >"$TMP/inodes.want"
grep -o '<tr data-inode="[0-9]*"' "$DOM" | grep -o '[0-9]*' | sort -n >"$TMP/inodes.got"
check "the buffer table lists the state's buffers ($(paste -sd, "$TMP/inodes.got"))" \
        diff "$TMP/inodes.want" "$TMP/inodes.got"
for p in $(jq -r '.processes[] | "\(.pid):\(.comm)"' "$TMP/state.json"); do
        check "process ${p%%:*} shows its comm ${p#*:}" grep -q "<tr data-pid=\"${p%%:*}\"><td class=\"num\">${p%%:*}</td><td>${p#*:}</td>" "$DOM"
done
check "the sources table shows sysfs up and kmsg up" \
        grep -q 'data-source="sysfs"><td>sysfs</td><td>kernel data</td><td class="up">up' "$DOM"
check "the sources table shows kmsg (events) up" \
        grep -q 'data-source="kmsg"><td>kmsg</td><td>events</td><td class="up">up' "$DOM"
check "the snapshot list links the kill's snapshot" grep -q "href=\"#snapshot/$KILL_ID\"" "$DOM"
check "the endpoint links are kept" grep -q 'href="/api/v1/history"' "$DOM"

# The hostile name: text, escaped in the serialised DOM, and no element.
check "the hostile name shows as text in the buffer row" \
        grep -qF '<tr data-inode="8"><td class="num">8</td><td class="num" title="65536 bytes">64.0 KiB</td><td>udmabuf</td><td class="name">&lt;img src=x onerror=alert(1)&gt;</td>' "$DOM"
check "no <img> element anywhere in the DOM" bash -c '! grep -qi "<img" "$1"' _ "$DOM"
check "no onerror attribute anywhere in the DOM" bash -c '! grep -qiE "<[a-z]+ [^>]*onerror=" "$1"' _ "$DOM"
check "the title is untouched" grep -q '<title>dmabufd</title>' "$DOM"

run_chromium overview-shot "$BASE/" --window-size=1280,2200 --screenshot="$ARTIFACTS/web-overview.png" >/dev/null ||
        failc "chromium --screenshot exited with $?" "$(tail -n 5 "$TMP/overview-shot.log")"
check "a screenshot of the live view is saved: $ARTIFACTS/web-overview.png" \
        bash -c '[ "$(head -c 8 "$1" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ]' _ "$ARTIFACTS/web-overview.png"

# ---- one snapshot as a page ----
run_chromium snapshot "$BASE/#snapshot/$KILL_ID" --dump-dom >"$TMP/snapshot.html" ||
        failc "chromium --dump-dom (snapshot) exited with $?" "$(tail -n 5 "$TMP/snapshot.log")"
DOM="$TMP/snapshot.html"
check "the snapshot page was shown" grep -q "dmabufd page: snapshot $KILL_ID shown" "$TMP/snapshot.log"
check "no CSP violation and no script error on the snapshot page" \
        bash -c '! grep -E "Refused to|Uncaught|Content Security Policy" "$1"' _ "$TMP/snapshot.log"
check "the snapshot page shows the victim, $VCOMM (pid $VPID)" \
        grep -q "<p id=\"victim\" data-pid=\"$VPID\">Victim: $VCOMM (pid $VPID)</p>" "$DOM"
check "what the victim held lists the hostile buffer as text" \
        grep -qF '<td class="num">8</td><td class="num" title="65536 bytes">64.0 KiB</td><td>udmabuf</td><td>&lt;img src=x onerror=alert(1)&gt;</td>' "$DOM"
check "the victim is among the processes gone" \
        grep -qE "<table id=\"snapshot-gone\">.*<td class=\"num\">$VPID</td><td>$VCOMM</td>" "$DOM"
check "the kernel's line is shown" grep -q "Out of memory: Killed process $VPID ($VCOMM)" "$DOM"
check "meminfo figures are shown" grep -q '<td>MemTotal</td>' "$DOM"
check "PSI figures are shown" grep -qE '<td>some</td><td class="num">[0-9.]+</td>' "$DOM"
check "no <img> element on the snapshot page" bash -c '! grep -qi "<img" "$1"' _ "$DOM"
run_chromium snapshot-shot "$BASE/#snapshot/$KILL_ID" --window-size=1280,1800 \
        --screenshot="$ARTIFACTS/web-snapshot.png" >/dev/null ||
        failc "chromium --screenshot (snapshot) exited with $?" "$(tail -n 5 "$TMP/snapshot-shot.log")"
check "a screenshot of the snapshot page is saved: $ARTIFACTS/web-snapshot.png" test -s "$ARTIFACTS/web-snapshot.png"

# ---- snapshot files the page cannot read: one error naming the file ----
snapshot_error() { # ID NEEDLE DESC
        run_chromium "err-$1" "$BASE/#snapshot/$1" --dump-dom >"$TMP/err.html" ||
                failc "chromium --dump-dom (snapshot $1) exited with $?" "$(tail -n 5 "$TMP/err-$1.log")"
        local msg
        msg=$(grep -o '<p id="snapshot-error" class="error">[^<]*</p>' "$TMP/err.html" | sed 's/<[^>]*>//g')
        if [ "$(grep -o 'id="snapshot-error"' "$TMP/err.html" | wc -l)" = 1 ] && [[ $msg == *"$1.json"* ]] &&
                [[ $msg == *"$2"* ]] && ! grep -q 'id="victim"' "$TMP/err.html"; then
                pass "$3: one error naming the file: $msg"
        else
                failc "$3: one error naming $1.json and saying '$2'" "got: '$msg'"
        fi
}
snapshot_error "$GARBAGE_ID" "not valid JSON" "a snapshot file overwritten with garbage"
snapshot_error "$SCHEMA_ID" 'unknown schema: "dmabufd.snapshot/9"' "a snapshot file of an unknown schema"
snapshot_error "20991231T000000.000Z-manual" "no such snapshot" "a snapshot file that is not in the store"

stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" = 0
finish
