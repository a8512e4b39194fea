/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf-pinned.h"
#include "bpf-record.h"
#include "bpf-source.h"
#include "collect.h"
#include "debugfs.h"
#include "fileio.h"
#include "macro.h"
#include "procfs.h"
#include "sysfs.h"
#include "time-util.h"


static int read_kernel_release(int root_fd, DmabufBuilder *b, StrBuf *scratch) {
        char release[128];
        size_t len;

        if (read_file_at(root_fd, "proc/sys/kernel/osrelease", sizeof(release), scratch) < 0)
                return 0; /* unknown: reported as null */
        len = strip_newline(scratch->buf, scratch->len);
        if (len == 0 || len >= sizeof(release) || memchr(scratch->buf, '\0', len))
                return 0;
        memcpy(release, scratch->buf, len);
        release[len] = '\0';
        return dmabuf_builder_set_kernel(b, release);
}

/* Runs one iterator and checks its stream. A stream that cannot be used is
 * counted against bpf, and the piece it was for falls back to the files. */
static int run_iterator(DmabufBpf *bpf, DmabufBpfIter it, uint16_t kind, DmabufBuilder *b, StrBuf *out) {
        char what[300];
        int r;

        r = dmabuf_bpf_run(bpf, it, out);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                snprintf(what, sizeof(what), "reading the iterator failed: %s", strerror(-r));
                dmabuf_builder_parse_error(b, DMABUF_SOURCE_BPF, dmabuf_bpf_iter_name(bpf, it), what);
                return r;
        }
        r = dmabuf_bpf_records_check(out->buf, out->len, kind, what, sizeof(what));
        if (r < 0) {
                dmabuf_builder_parse_error(b, DMABUF_SOURCE_BPF, dmabuf_bpf_iter_name(bpf, it), what);
                return r;
        }
        return 0;
}

/* The BPF source, piece by piece: the list of every buffer (iter/dmabuf), and
 * who holds what (iter/task_file with iter/task_vma, which together replace the
 * walk of every process's fds, fdinfo and maps). *ret_holders says whether the
 * second piece was done; if not, procfs does it. */
static int scan_bpf(DmabufBpf *bpf, bool listed, int proc_fd, DmabufBuilder *b, StrBuf *scratch,
                    bool *ret_holders) {
        _cleanup_strbuf_ StrBuf buffers = STRBUF_INIT, fds = STRBUF_INIT, vmas = STRBUF_INIT;
        bool up = false;
        int r;

        *ret_holders = false;
        /* Android's pinned iterator, where it was read, already listed them. */
        if (!listed && dmabuf_bpf_has(bpf, DMABUF_BPF_ITER_BUFFERS)) {
                r = run_iterator(bpf, DMABUF_BPF_ITER_BUFFERS, DMABUF_BPF_RECORD_BUFFER, b, &buffers);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0) {
                        r = dmabuf_bpf_add_buffers(b, buffers.buf, buffers.len);
                        if (r < 0)
                                return r;
                        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_BPF, true);
                        up = true;
                }
        }

        if (proc_fd >= 0 && dmabuf_bpf_has(bpf, DMABUF_BPF_ITER_FDS) && dmabuf_bpf_has(bpf, DMABUF_BPF_ITER_VMAS)) {
                r = run_iterator(bpf, DMABUF_BPF_ITER_FDS, DMABUF_BPF_RECORD_FD, b, &fds);
                if (r >= 0)
                        r = run_iterator(bpf, DMABUF_BPF_ITER_VMAS, DMABUF_BPF_RECORD_VMA, b, &vmas);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0) {
                        r = dmabuf_bpf_add_holders(b, proc_fd, fds.buf, fds.len, vmas.buf, vmas.len, scratch);
                        if (r < 0)
                                return r;
                        *ret_holders = true;
                        up = true;
                }
        }

        if (up)
                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_BPF, true);
        return 0;
}

int dmabuf_collect(int root_fd, const DmabufCollectOptions *opts, DmabufState **ret) {
        _cleanup_(dmabuf_builder_freep) DmabufBuilder *b = NULL;
        _cleanup_strbuf_ StrBuf scratch = STRBUF_INIT;
        _cleanup_close_ int sys_fd = -EBADF, proc_fd = -EBADF;
        uint64_t started = now_usec(CLOCK_MONOTONIC), collected_at = now_usec(CLOCK_REALTIME);
        bool holders_done = false, pinned_listed = false;
        int r;

        b = dmabuf_builder_new();
        if (!b)
                return -ENOMEM;
        if (opts) {
                dmabuf_builder_set_only_pid(b, opts->only_pid);
                dmabuf_builder_set_cgroup_depth(b, opts->cgroup_depth);
        }

        r = read_kernel_release(root_fd, b, &scratch);
        if (r < 0)
                return r;

        /* The kernel's own lists first, then who holds what. A buffer freed in
         * between shows as kernel-only for one interval; one created in between
         * still counts, as procfs adds it to the set. */
        sys_fd = openat(root_fd, "sys", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sys_fd >= 0) {
                r = dmabuf_sysfs_scan(sys_fd, b, &scratch);
                if (r == -ENOMEM)
                        return r;
                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, r >= 0);
                dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, r >= 0);

                r = dmabuf_debugfs_scan(sys_fd, b, &scratch);
                if (r == -ENOMEM)
                        return r;
                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_DEBUGFS, r >= 0);
                dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_DEBUGFS, r >= 0);

                /* Android's pinned iterator lists every buffer. When it is missing or
                 * malformed (counted, nothing added) the bpf source is left as the
                 * BPF loader set it, and sysfs, debugfs and procfs carry on. */
                if (!(opts && opts->no_bpf)) {
                        r = dmabuf_bpf_pinned_scan(sys_fd, b, &scratch);
                        if (r == -ENOMEM)
                                return r;
                        if (r >= 0) {
                                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_BPF, true);
                                dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_BPF, true);
                                pinned_listed = true;
                        }
                }
        }

        proc_fd = openat(root_fd, "proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (opts && opts->bpf && !opts->no_bpf) {
                r = scan_bpf(opts->bpf, pinned_listed, proc_fd, b, &scratch, &holders_done);
                if (r < 0)
                        return r;
        }
        if (holders_done)
                /* The kernel walked the processes; /proc still gave their cgroups. */
                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        else if (proc_fd >= 0) {
                r = dmabuf_procfs_scan(proc_fd, b, &scratch);
                if (r == -ENOMEM)
                        return r;
                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, r >= 0);
        }

        return dmabuf_builder_finish(b, collected_at, (double) (now_usec(CLOCK_MONOTONIC) - started) / 1e6, ret);
}
