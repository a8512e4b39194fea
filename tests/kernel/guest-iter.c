/* SPDX-License-Identifier: MIT */
/* Times dmabufd's own BPF iterators alone, in the benchmark guest: the kernel's
 * walk without the daemon around it. It loads the daemon's embedded programs
 * (the skeleton the build made, daemon/collect/bpf/dmabufd.skel.h), leaves out the
 * iterators this kernel lacks, and for ROUNDS rounds reads each iterator whole
 * from a fresh bpf_iter_create() fd.
 *
 *   guest-iter ROUNDS
 *
 * Prints one line per iterator, "ITER name=... rounds=N best_us=... bytes=...",
 * the least wall time of a whole read. Built by run.sh --bench, statically
 * against libbpf.a, libelf.a and libz.a, where the skeleton exists. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmabufd-fdtables.skel.h"
#include "dmabufd.skel.h"

static long long now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv) {
        static char buf[1 << 16];
        struct {
                const char *name, *btf_func;
                struct bpf_program *prog;
                struct bpf_link *link;
                long long best;
                long long bytes;
        } it[4];
        struct dmabufd_bpf *skel;
        struct dmabufd_fdtables_bpf *fdtables;
        struct btf *vmlinux;
        int rounds, i, r;

        rounds = argc == 2 ? atoi(argv[1]) : 0;
        if (rounds < 1 || rounds > 1000) {
                fprintf(stderr, "usage: guest-iter ROUNDS(1..1000)\n");
                return 2;
        }
        skel = dmabufd_bpf__open();
        if (!skel) {
                fprintf(stderr, "guest-iter: open: %s\n", strerror(errno));
                return 1;
        }
        it[0].name = "dmabuf", it[0].btf_func = "bpf_iter_dmabuf", it[0].prog = skel->progs.dmabufd_buffers;
        it[1].name = "task_file", it[1].btf_func = "bpf_iter_task_file", it[1].prog = skel->progs.dmabufd_fds;
        it[2].name = "task_vma", it[2].btf_func = "bpf_iter_task_vma", it[2].prog = skel->progs.dmabufd_vmas;
        /* The fd-table walk is an object of its own (it needs a 6.2 kfunc): where
         * it does not load, it is reported absent. */
        it[3].name = "fd_tables", it[3].btf_func = NULL, it[3].prog = NULL, it[3].link = NULL, it[3].best = -1;
        fdtables = dmabufd_fdtables_bpf__open();
        if (fdtables && dmabufd_fdtables_bpf__load(fdtables) == 0)
                it[3].prog = fdtables->progs.dmabufd_fd_tables;
        vmlinux = btf__load_vmlinux_btf();
        for (i = 0; i < 4; i++) {
                it[i].link = NULL, it[i].best = -1, it[i].bytes = 0;
                if (!it[i].btf_func)
                        continue;
                bpf_program__set_autoload(it[i].prog,
                                          vmlinux && btf__find_by_name_kind(vmlinux, it[i].btf_func, BTF_KIND_FUNC) > 0);
        }
        btf__free(vmlinux);
        r = dmabufd_bpf__load(skel);
        if (r < 0) {
                fprintf(stderr, "guest-iter: load: %s\n", strerror(-r));
                return 1;
        }
        for (i = 0; i < 4; i++)
                if (it[i].prog && bpf_program__autoload(it[i].prog)) {
                        it[i].link = bpf_program__attach_iter(it[i].prog, NULL);
                        if (!it[i].link) {
                                fprintf(stderr, "guest-iter: attach %s: %s\n", it[i].name, strerror(errno));
                                return 1;
                        }
                }
        for (r = 0; r < rounds; r++)
                for (i = 0; i < 4; i++) {
                        long long t0, t, bytes = 0;
                        ssize_t n;
                        int fd;

                        if (!it[i].link)
                                continue;
                        t0 = now_us();
                        fd = bpf_iter_create(bpf_link__fd(it[i].link));
                        if (fd < 0) {
                                fprintf(stderr, "guest-iter: bpf_iter_create %s: %s\n", it[i].name, strerror(errno));
                                return 1;
                        }
                        while ((n = read(fd, buf, sizeof(buf))) > 0)
                                bytes += n;
                        close(fd);
                        t = now_us() - t0;
                        if (n < 0) {
                                fprintf(stderr, "guest-iter: read %s: %s\n", it[i].name, strerror(errno));
                                return 1;
                        }
                        if (it[i].best < 0 || t < it[i].best)
                                it[i].best = t;
                        it[i].bytes = bytes;
                }
        for (i = 0; i < 4; i++)
                if (it[i].link)
                        printf("ITER name=%s rounds=%d best_us=%lld bytes=%lld\n", it[i].name, rounds, it[i].best,
                               it[i].bytes);
                else
                        printf("ITER name=%s absent\n", it[i].name);
        for (i = 0; i < 4; i++)
                bpf_link__destroy(it[i].link);
        dmabufd_fdtables_bpf__destroy(fdtables);
        dmabufd_bpf__destroy(skel);
        return 0;
}
