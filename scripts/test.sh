#!/bin/sh
# Quick start: install what is missing, build, and run every test:
# warnings as errors, then again under ASan and UBSan, then each fuzzer for 5 s
# (clang, libFuzzer; docs/fuzzing.md), then make distcheck, then the Debian
# package (make check-deb), then the real-kernel harness on Debian's 6.1 and 7.2
# (with BTF and kernel-patches/7.2) under QEMU.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" test

status=0
run() {
        name=$1
        shift
        echo "== $name"
        if "$@"; then echo "== $name: ok"; else echo "== $name: FAILED"; status=1; fi
}

check() {
        dir=$1
        shift
        "$top/scripts/build.sh" "$dir" "$@" || return 1
        make -C "$dir" -j"$(nproc)" check >"$dir/check.out" 2>&1
        rc=$?
        grep -E '^(PASS|FAIL|ERROR|XFAIL|XPASS|SKIP):|^# (TOTAL|PASS|FAIL|ERROR|SKIP)' "$dir/check.out" || true
        if [ $rc -ne 0 ]; then
                # Show the logs of what failed, so CI output is enough to act on.
                for log in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find "$dir/tests" -name '*.trs') 2>/dev/null); do
                        echo "---- ${log%.trs}.log"
                        tail -n 60 "${log%.trs}.log"
                done
        fi
        return $rc
}

run "build and test (-Werror)" check "$top/build" --enable-werror
run "build and test (ASan+UBSan)" check "$top/build-asan" --enable-werror --enable-sanitizers
# Bounded: 13 fuzzers x 5 s, plus the instrumented build (about 2 minutes in all).
run "fuzzers (clang, libFuzzer, 5 s each)" sh -c "'$top/scripts/build.sh' '$top/build-fuzz' CC=clang --enable-fuzzers --enable-werror && make -C '$top/build-fuzz' fuzz FUZZ_SECONDS=5"
run "make distcheck" sh -c "make -C '$top/build' distcheck >'$top/build/distcheck.out' 2>&1 || { tail -n 80 '$top/build/distcheck.out'; exit 1; }"
# The Debian package: make deb (the release tarball, dpkg-buildpackage) and its
# checks (lintian; dpkg installing, removing and purging it in a scratch root).
run "Debian package (make check-deb)" sh -c "make -C '$top/build' check-deb >'$top/build/deb.out' 2>&1; rc=\$?; grep -E '^(ok|FAIL|SKIP):' '$top/build/deb.out' | grep -v '^ok:'; grep -E '^[0-9]+ passed, [0-9]+ failed$' '$top/build/deb.out'; [ \$rc = 0 ] || tail -n 40 '$top/build/deb.out'; exit \$rc"
# Real kernels: Debian's 6.1, as shipped and with kernel-patches/6.1, and 7.2 with
# BPF and BTF (the bpf source lists every buffer there) and kernel-patches/7.2 (vgem
# prints the DRM fdinfo memory stats; one kernel for both, so CI builds no more),
# built (or taken from the cache outside the checkout) and booted under QEMU;
# tests/kernel/run.sh says what it checks.
run "real kernels (linux 6.1, 6.1 with kernel-patches/6.1, 7.2 with BTF and kernel-patches/7.2, under QEMU)" sh -c "make -C '$top/build' check-kernel KERNELS='6.1 6.1+patches 7.2+btf+patches' >'$top/build/kernel.out' 2>&1; rc=\$?; grep -E '^(FAIL|===)' '$top/build/kernel.out'; [ \$rc = 0 ] || tail -n 40 '$top/build/kernel.out'; exit \$rc"

# One closing line over every suite that ran: automake's per-test counts.
sum() { cat "$top/build/check.out" "$top/build-asan/check.out" "$top/build/distcheck.out" 2>/dev/null |
        awk -v k="$1" '$1 == "#" && ($2 == k ":") { n += $3 } END { print n + 0 }'; }
# The kernel line's items: "=== linux 6.1: 100 passed, 0 failed".
kernel_sum() { awk -v k="$1" '/^=== linux .*: [0-9]+ passed, [0-9]+ failed$/ { n += (k == "passed" ? $(NF-3) : $(NF-1)) } END { print n + 0 }' "$top/build/kernel.out" 2>/dev/null || echo 0; }
# The package's checks end with "N passed, M failed".
deb_sum() { awk -v k="$1" '/^[0-9]+ passed, [0-9]+ failed$/ { n += (k == "passed" ? $1 : $3) } END { print n + 0 }' "$top/build/deb.out" 2>/dev/null || echo 0; }
passed=$(( $(sum PASS) + $(kernel_sum passed) + $(deb_sum passed) ))
failed=$(( $(sum FAIL) + $(sum ERROR) + $(sum XPASS) + $(kernel_sum failed) + $(deb_sum failed) ))
if [ $status -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a build or distcheck step failed
echo "$passed passed, $failed failed"
exit $status
