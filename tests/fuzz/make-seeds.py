#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed inputs of tests/fuzz/corpus/<name>/ (files named seed-*) from
# tests/fixtures and from a few hand-written cases. Run from the top of the
# source tree after changing the fixtures; the minimised inputs the fuzzers
# found (min-*) and the crashers (crash-*) are kept as they are.
import glob
import hashlib
import os
import struct
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(TOP, "tests", "fixtures")
OUT = os.path.join(TOP, "tests", "fuzz", "corpus")
PER_FUZZER_MAX = 30


def write(name, seeds):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for f in glob.glob(os.path.join(d, "seed-*")):
        os.unlink(f)
    seen = set()
    for data in seeds:
        h = hashlib.sha1(data).hexdigest()[:16]
        if h in seen:
            continue
        seen.add(h)
        if len(seen) > PER_FUZZER_MAX:
            break
        with open(os.path.join(d, "seed-" + h), "wb") as f:
            f.write(data)


def files(pattern):
    out = []
    for p in sorted(glob.glob(os.path.join(FIX, pattern), recursive=True)):
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as f:
                out.append(f.read())
    return out


def record(kind, tgid=0, fd=0, inode=1, size=4096, count=1, cgroup=0, name=b"", exporter=b"system", comm=b""):
    name_len = len(name) if name is not None else -1
    return struct.pack("<IHHIIQQqQhhI32s64s16s", 0x31524244, kind, 168, tgid, fd, inode, size, count, cgroup,
                       name_len, len(exporter), 0, name or b"", exporter, comm)


def main():
    # fdinfo and link targets: distinct files only, smallest first.
    fdinfo = sorted(set(files("trees/**/fdinfo/*")), key=len)
    write("fdinfo", fdinfo + [b"/dmabuf:", b"/dmabuf:name\nwith newline", b"anon_inode:dmabuf"])
    write("maps", sorted(set(files("trees/**/maps") + files("trees/**/cgroup")), key=len))
    write("bufinfo", files("trees/**/debug/dma_buf/bufinfo"))
    write("bpf-pinned", files("trees/**/fs/bpf/dmabuf/*") + [b"", b"1\n4096\n\nsystem\n"])
    write("kmsg", files("kmsg/*.txt"))
    # pressure: the first byte picks the parser (0 PSI, 1 memory.events, 2 meminfo, 3 trigger).
    write("pressure", [b"0" + d for d in files("pressure/pressure-*")] +
          [b"1" + d for d in files("pressure/memory.events-*")] +
          [b"2" + d for d in files("pressure/meminfo-*")] +
          [b"3some 150ms 1s", b"3full 100000 1000000", b"3some 1 10s", b"3full 500ms 500ms"])
    # journal: the first byte picks the built-in match (0 earlyoom, 1 systemd-oomd).
    write("journal-match", [
        b"\x00sending SIGTERM to process 1234 uid 1000 \"chrome\": badness 900",
        b"\x00sending SIGKILL to process 77 uid -1 \"a \\\"quoted\\\" name\": oom_score 1000",
        b"\x01Killed /user.slice/user-1000.slice/app.scope due to memory used (/user.slice) being 90% > 80% for > 20s",
        b"\x01Killed /system.slice/x.service due to memory pressure for /system.slice being 60% > 50%",
        b"\x00sending SIGTERM to process 1\xff\xfe uid 0 \"\x00\": badness 1",
    ])
    write("accept", [
        b"text/plain",
        b"application/openmetrics-text;version=1.0.0",
        b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
        b"text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        b"*/*", b"text/plain;q=0, application/openmetrics-text ; q = 0.9", b"",
    ])
    # fuzz-exposition: strings, each a length byte and its bytes: the kernel, then
    # per buffer exporter, name and attachment device, then per process comm and cgroup.
    def strings(*items):
        return b"".join(bytes([len(x)]) + x for x in items)
    write("exposition", [
        strings(b"6.1.0-18-amd64", b"system", b"camera-preview", b"vgem", b"system", b"", b"i915",
                b"cameraserver", b"/system.slice/camera.service"),
        strings(b"6.1", b'sys"tem', b'a"} 1\ndmabuf_fake{x="y', b"dev\\ice", b"exp\nort", b'name\\"\\n', b"",
                b'co\nmm"', b'/a"b\n'),
        strings(b"7.2", b"\xff\xfe", b"\xc3\x28name", b"\xe2\x82", b"ok", b"\xf0\x9f\x98\x80 emoji", b"dev",
                b"\x80comm", b"/cg\xff"),
        strings(b"5.10", b"# EOF", b"# TYPE x counter", b"# HELP", b"name with spaces", b"\t\r\v", b"p", b"c", b"/"),
        b"",
    ])
    write("listen", [b":10040", b"127.0.0.1:10040", b"[::1]:10040", b"localhost:0", b"[fe80::1%lo]:65535", b"host"])
    with open(os.path.join(TOP, "etc", "dmabufd.conf"), "rb") as f:
        conf = f.read()
    write("config", [conf,
                     b"[dmabufd]\nlisten = 127.0.0.1:10040\ninterval = 5s\n",
                     b"listen = :1\nlisten = [::1]:2\n",
                     b"journal_match = earlyoom ^x ([0-9]+) \"(.*)\"\npsi_trigger = some 150ms 1s\n",
                     b"snapshot_exec = /bin/true a b\nsnapshot_exec_timeout = 0.5\n"
                     b"snapshot_push = http://[::1]:8080/in?x=1\nsnapshot_push_queue_max = 3\nsnapshot_push =\n"])
    snapshot = (b'{"schema":"dmabufd.snapshot/1","id":"s-1","taken_at":"2026-11-21T10:15:00Z",'
                b'"trigger":{"pid":42,"detail":{"kind":"nested"},"kind":"oom_kill","line":"l"},'
                b'"memory":{"meminfo":{"MemTotal":123456789012345678901234567890}},'
                b'"before":{"buffers":[1,2.5,-3e4,true,false,null]},"state":{"pad":"\\u00e9\\ud83d\\ude00"}}\n')
    write("snapshot-validate", [snapshot, snapshot[:60], snapshot.replace(b"s-1", b"../x")])
    # The daemon's own snapshots (with DRM clients and cgroups, some rolled up)
    # and the bad copies beside them, and the new members edited out of shape.
    with open(os.path.join(FIX, "snapshots", "manual-drm-fdinfo.json"), "rb") as f:
        drm = f.read()
    write("snapshot-read", files("snapshots/*.json") + [snapshot,
          drm.replace(b'"client_id":13', b'"client_id":null', 1),
          drm.replace(b'"regions":{"memory":{', b'"regions":{"memory":{"bogus":1,', 1),
          drm.replace(b'"cgroups":[{', b'"cgroups":[{"path":"/a/b/c/d","unit":null,"processes":1,'
                      b'"rss_bytes":0,"pss_bytes":0},{', 1),
          drm.replace(b'"drm":{"clients":[', b'"drm":{"clients":[],"x":[', 1)])
    # json-scan: the first byte is the chunk size less one.
    write("json-scan", [b"\x00" + snapshot, b"\x07" + snapshot, b"\xff" + snapshot,
                        b"\x02[[[[{}]]]]", b"\x01\"\\u0000\\ud800\"", b"\x03 -0.5e+10 "])
    buf = record(1, inode=10, size=8192, count=2, name=b"cam", exporter=b"system-heap")
    fd = record(2, tgid=100, fd=5, inode=10, count=2, cgroup=7, name=b"cam", comm=b"app")
    vma = record(3, tgid=100, inode=10, count=-1, cgroup=7, comm=b"app")
    unnamed = record(1, inode=11, name=None)
    write("bpf-records", [b"\x00" + buf + unnamed, b"\x01" + fd + fd, b"\x02" + vma, b"\x00" + buf[:100]])


if __name__ == "__main__":
    sys.exit(main())
