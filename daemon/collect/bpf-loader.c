/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf-loader.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

static const char *const iter_names[_DMABUF_BPF_ITER_MAX] = {
        [DMABUF_BPF_ITER_BUFFERS] = "iter/dmabuf",
        [DMABUF_BPF_ITER_FDS] = "iter/task_file",
        [DMABUF_BPF_ITER_VMAS] = "iter/task_vma",
};

const char *dmabuf_bpf_iter_to_string(DmabufBpfIter it) {
        return it >= 0 && it < _DMABUF_BPF_ITER_MAX ? iter_names[it] : NULL;
}

/* Recorded streams, one file per iterator, as dmabuf_bpf_open_recorded reads them. */
static const char *const recorded_files[_DMABUF_BPF_ITER_MAX] = {
        [DMABUF_BPF_ITER_BUFFERS] = "dmabuf.bin",
        [DMABUF_BPF_ITER_FDS] = "task_file.bin",
        [DMABUF_BPF_ITER_VMAS] = "task_vma.bin",
};

#if HAVE_BPF
#include <bpf/libbpf.h>
#include "dmabufd-fdtables.skel.h"
#include "dmabufd.skel.h"
#endif

struct DmabufBpf {
        int recorded_fd; /* >= 0: replays the files in this directory */
        bool recorded[_DMABUF_BPF_ITER_MAX];
#if HAVE_BPF
        struct dmabufd_bpf *skel;
        struct dmabufd_fdtables_bpf *fdtables; /* NULL: fds come from iter/task_file */
        struct bpf_link *links[_DMABUF_BPF_ITER_MAX];
#endif
};

void dmabuf_bpf_freep(DmabufBpf **bpf) {
        if (*bpf)
                *bpf = dmabuf_bpf_free(*bpf);
}

int dmabuf_bpf_open_recorded(int dir_fd, DmabufBpf **ret) {
        _cleanup_(dmabuf_bpf_freep) DmabufBpf *bpf = NULL;
        bool any = false;

        bpf = calloc(1, sizeof(*bpf));
        if (!bpf)
                return -ENOMEM;
        bpf->recorded_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (bpf->recorded_fd < 0)
                return -errno;
        for (DmabufBpfIter it = 0; it < _DMABUF_BPF_ITER_MAX; it++) {
                bpf->recorded[it] = faccessat(dir_fd, recorded_files[it], R_OK, 0) >= 0;
                any = any || bpf->recorded[it];
        }
        if (!any)
                return -ENOENT;
        *ret = TAKE_PTR(bpf);
        return 0;
}

static int run_recorded(DmabufBpf *bpf, DmabufBpfIter it, StrBuf *out) {
        /* A stream is bounded by the kernel's memory; a file standing in for one
         * gets a generous but finite bound. */
        return read_file_at(bpf->recorded_fd, recorded_files[it], 256U << 20, out);
}

#if HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/capability.h>

/* The kernel function each iterator target registers, as libbpf looks it up. */
static const char *const iter_btf_funcs[_DMABUF_BPF_ITER_MAX] = {
        [DMABUF_BPF_ITER_BUFFERS] = "bpf_iter_dmabuf",
        [DMABUF_BPF_ITER_FDS] = "bpf_iter_task_file",
        [DMABUF_BPF_ITER_VMAS] = "bpf_iter_task_vma",
};

/* The verifier's log on a refused load: big enough for the tail of a long one,
 * allocated only while loading. */
#define VERIFIER_LOG_SIZE (256U * 1024U)

bool dmabuf_bpf_built(void) {
        return true;
}

/* libbpf reports CO-RE and attach failures through its print callback, not the
 * kernel's log: the last warning is kept to name the cause. Loading happens on
 * one thread at a time (start-up and reload), so one buffer is enough. */
static char libbpf_last_warning[256];

/* libbpf's format: the attribute tells the compiler, so vsnprintf below is checked
 * like any printf wrapper (clang otherwise warns about a non-literal format). */
__attribute__((format(printf, 2, 0)))
static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
        char line[512];
        size_t n;

        vsnprintf(line, sizeof(line), fmt, ap);
        n = strip_newline(line, strlen(line));
        line[n] = '\0';
        if (level == LIBBPF_WARN)
                snprintf(libbpf_last_warning, sizeof(libbpf_last_warning), "%s", line);
        log_debug("libbpf: %s", line);
        return 0;
}

static void program_for(struct dmabufd_bpf *skel, DmabufBpfIter it, struct bpf_program **ret) {
        switch (it) {
        case DMABUF_BPF_ITER_BUFFERS:
                *ret = skel->progs.dmabufd_buffers;
                break;
        case DMABUF_BPF_ITER_FDS:
                *ret = skel->progs.dmabufd_fds;
                break;
        case DMABUF_BPF_ITER_VMAS:
                *ret = skel->progs.dmabufd_vmas;
                break;
        default:
                *ret = NULL;
        }
}

/* The iterators see the running kernel, so they only make sense where the daemon
 * reads "/" itself: a --root tree is someone else's picture. */
static int root_is_slash(int root_fd) {
        struct stat a, b;

        if (fstat(root_fd, &a) < 0 || stat("/", &b) < 0)
                return -errno;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Lockdown's confidentiality mode refuses bpf_probe_read_kernel, which every
 * program uses. The file lists the modes with the active one in brackets. */
static bool lockdown_confidential(int root_fd) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;

        if (read_file_at(root_fd, "sys/kernel/security/lockdown", 4096, &sb) < 0)
                return false;
        return strstr(sb.buf, "[confidentiality]") != NULL;
}

/* The initial PID namespace's inode number is fixed (PROC_PID_INIT_INO), so a
 * process can tell it is in a child namespace even where /proc shows only its own
 * level. */
#define PROC_PID_INIT_INO 0xEFFFFFFCU

static bool in_child_pid_namespace(int root_fd) {
        struct stat st;

        if (fstatat(root_fd, "proc/self/ns/pid", &st, 0) < 0)
                return false; /* no way to tell: before 3.8, with no iterators either */
        return st.st_ino != PROC_PID_INIT_INO;
}

/* CAP_BPF loads the programs; CAP_PERFMON lets them read kernel memory. Before
 * 5.8 both were CAP_SYS_ADMIN, which still grants them. */
static int capabilities_missing(int root_fd, char *buf, size_t size) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        const char *p;
        uint64_t eff = 0;
        bool bpf, perfmon;

        if (read_file_at(root_fd, "proc/self/status", 64 * 1024, &sb) < 0)
                return 0; /* cannot tell: let the kernel say */
        p = strstr(sb.buf, "\nCapEff:");
        if (!p || sscanf(p + 8, "%" SCNx64, &eff) != 1)
                return 0;
        if (eff & (UINT64_C(1) << CAP_SYS_ADMIN))
                return 0;
        bpf = eff & (UINT64_C(1) << 39);     /* CAP_BPF */
        perfmon = eff & (UINT64_C(1) << 38); /* CAP_PERFMON */
        if (bpf && perfmon)
                return 0;
        snprintf(buf, size, "the daemon lacks %s", !bpf && !perfmon ? "CAP_BPF and CAP_PERFMON"
                                                   : !bpf           ? "CAP_BPF"
                                                                    : "CAP_PERFMON");
        return 1;
}

/* The verifier's reason is its last line, before the statistics it adds. */
static void verifier_reason(const char *log, char *buf, size_t size) {
        const char *end = log + strlen(log), *line_end, *line;

        while (end > log) {
                while (end > log && end[-1] == '\n')
                        end--;
                line_end = end;
                line = line_end;
                while (line > log && line[-1] != '\n')
                        line--;
                if (line < line_end && strncmp(line, "processed ", 10) != 0 &&
                    strncmp(line, "verification time", 17) != 0 && strncmp(line, "stack depth", 11) != 0) {
                        snprintf(buf, size, "%.*s", (int) (line_end - line), line);
                        return;
                }
                end = line;
        }
        buf[0] = '\0';
}

static void programs_unload(DmabufBpf *bpf) {
        for (DmabufBpfIter it = 0; it < _DMABUF_BPF_ITER_MAX; it++) {
                bpf_link__destroy(bpf->links[it]);
                bpf->links[it] = NULL;
        }
        dmabufd_bpf__destroy(bpf->skel);
        bpf->skel = NULL;
        dmabufd_fdtables_bpf__destroy(bpf->fdtables);
        bpf->fdtables = NULL;
}

static void load_failure(int r, const char *verifier_log, char *reason, size_t reason_size) {
        char why[200];

        verifier_reason(verifier_log, why, sizeof(why));
        if (r == -EPERM || r == -EACCES)
                snprintf(reason, reason_size, "load refused: %s (CAP_BPF and CAP_PERFMON are needed)%s%s",
                         strerror(-r), why[0] ? ": " : "", why);
        else
                snprintf(reason, reason_size, "load refused: %s: %s", strerror(-r),
                         why[0] ? why : libbpf_last_warning[0] ? libbpf_last_warning : "no verifier log");
}

/* The walk of each fd table, from its own object. Returns 0 with its link in
 * place, or -errno with the reason (logged by the caller at debug: the
 * iter/task_file program then does the same job). */
static int load_fd_tables(DmabufBpf *bpf, char *verifier_log, char *reason, size_t reason_size) {
        DECLARE_LIBBPF_OPTS(bpf_object_open_opts, open_opts);
        int r;

        verifier_log[0] = '\0';
        libbpf_last_warning[0] = '\0';
        open_opts.kernel_log_buf = verifier_log;
        open_opts.kernel_log_size = VERIFIER_LOG_SIZE;
        bpf->fdtables = dmabufd_fdtables_bpf__open_opts(&open_opts);
        if (!bpf->fdtables) {
                r = -errno;
                snprintf(reason, reason_size, "the embedded programs do not open: %s", strerror(-r));
                return r;
        }
        r = dmabufd_fdtables_bpf__load(bpf->fdtables);
        if (r < 0) {
                load_failure(r, verifier_log, reason, reason_size);
                goto fail;
        }
        bpf->links[DMABUF_BPF_ITER_FDS] = bpf_program__attach_iter(bpf->fdtables->progs.dmabufd_fd_tables, NULL);
        if (!bpf->links[DMABUF_BPF_ITER_FDS]) {
                r = -errno;
                snprintf(reason, reason_size, "iter/task: attach refused: %s", strerror(-r));
                goto fail;
        }
        return 0;
fail:
        dmabufd_fdtables_bpf__destroy(bpf->fdtables);
        bpf->fdtables = NULL;
        return r;
}

/* Opens, loads and attaches the main object's programs for the iterators in
 * present, but for an fd program where the fd-table walk is in place. */
static int load_programs(DmabufBpf *bpf, const bool present[static _DMABUF_BPF_ITER_MAX], char *verifier_log,
                         char *reason, size_t reason_size) {
        DECLARE_LIBBPF_OPTS(bpf_object_open_opts, open_opts);
        bool load[_DMABUF_BPF_ITER_MAX];
        int r;

        verifier_log[0] = '\0';
        libbpf_last_warning[0] = '\0';
        open_opts.kernel_log_buf = verifier_log;
        open_opts.kernel_log_size = VERIFIER_LOG_SIZE;

        bpf->skel = dmabufd_bpf__open_opts(&open_opts);
        if (!bpf->skel) {
                r = -errno;
                snprintf(reason, reason_size, "the embedded programs do not open: %s", strerror(-r));
                return r;
        }
        /* An iterator the kernel lacks would fail the whole object's load. */
        for (DmabufBpfIter it = 0; it < _DMABUF_BPF_ITER_MAX; it++) {
                struct bpf_program *prog;

                load[it] = present[it] && !bpf->links[it];
                program_for(bpf->skel, it, &prog);
                bpf_program__set_autoload(prog, load[it]);
        }

        r = dmabufd_bpf__load(bpf->skel);
        if (r < 0) {
                load_failure(r, verifier_log, reason, reason_size);
                return r;
        }

        for (DmabufBpfIter it = 0; it < _DMABUF_BPF_ITER_MAX; it++) {
                struct bpf_program *prog;

                if (!load[it])
                        continue;
                program_for(bpf->skel, it, &prog);
                bpf->links[it] = bpf_program__attach_iter(prog, NULL);
                if (!bpf->links[it]) {
                        r = -errno;
                        snprintf(reason, reason_size, "%s: attach refused: %s", iter_names[it], strerror(-r));
                        return r;
                }
        }
        return 0;
}

int dmabuf_bpf_load(int root_fd, DmabufBpf **ret, char *reason, size_t reason_size) {
        _cleanup_(dmabuf_bpf_freep) DmabufBpf *bpf = NULL;
        _cleanup_free_ char *verifier_log = NULL;
        bool present[_DMABUF_BPF_ITER_MAX] = {}, child_ns, fd_tables;
        struct btf *vmlinux;
        char why[200] = "";
        int r;

        r = root_is_slash(root_fd);
        if (r < 0) {
                snprintf(reason, reason_size, "cannot tell whether the root is /: %s", strerror(-r));
                return r;
        }
        if (r == 0) {
                snprintf(reason, reason_size, "--root is not /: the programs would see the running kernel, not the tree");
                return -EXDEV;
        }
        if (lockdown_confidential(root_fd)) {
                snprintf(reason, reason_size, "kernel lockdown (confidentiality) forbids reading kernel memory");
                return -EPERM;
        }
        if (faccessat(root_fd, "sys/kernel/btf/vmlinux", R_OK, 0) < 0) {
                r = -errno;
                snprintf(reason, reason_size, "no kernel BTF: /sys/kernel/btf/vmlinux: %s%s", strerror(-r),
                         r == -ENOENT ? " (a kernel built without CONFIG_DEBUG_INFO_BTF)" : "");
                return r;
        }

        libbpf_set_print(on_libbpf_print);
        libbpf_last_warning[0] = '\0';

        vmlinux = btf__load_vmlinux_btf();
        if (!vmlinux) {
                r = -errno;
                snprintf(reason, reason_size, "no kernel BTF: /sys/kernel/btf/vmlinux does not parse: %s",
                         strerror(-r));
                return r;
        }
        for (DmabufBpfIter it = 0; it < _DMABUF_BPF_ITER_MAX; it++)
                present[it] = btf__find_by_name_kind(vmlinux, iter_btf_funcs[it], BTF_KIND_FUNC) > 0;
        fd_tables = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
        btf__free(vmlinux);
        /* Holders need both: fds and mappings together replace the walk of /proc.
         * The programs see the kernel's own PIDs; in a child PID namespace they
         * would not name the processes of our /proc. */
        child_ns = in_child_pid_namespace(root_fd);
        if (!present[DMABUF_BPF_ITER_FDS] || !present[DMABUF_BPF_ITER_VMAS] || child_ns) {
                if (!present[DMABUF_BPF_ITER_BUFFERS]) {
                        if (child_ns)
                                snprintf(reason, reason_size,
                                         "in a child PID namespace, where the kernel's PIDs are not those of /proc, "
                                         "and the kernel has no iter/dmabuf (6.16 and later)");
                        else
                                snprintf(reason, reason_size, "kernel too old: it has no %s (5.12 and later)",
                                         !present[DMABUF_BPF_ITER_FDS] ? "iter/task_file" : "iter/task_vma");
                        return -EOPNOTSUPP;
                }
                present[DMABUF_BPF_ITER_FDS] = present[DMABUF_BPF_ITER_VMAS] = false;
        }

        if (capabilities_missing(root_fd, why, sizeof(why))) {
                snprintf(reason, reason_size, "%s", why);
                return -EPERM;
        }

        bpf = calloc(1, sizeof(*bpf));
        verifier_log = malloc(VERIFIER_LOG_SIZE);
        if (!bpf || !verifier_log)
                return -ENOMEM;
        bpf->recorded_fd = -EBADF;
        /* The walk of each fd table costs less than iter/task_file but needs
         * bpf_rdonly_cast (6.2) and bpf_loop (5.17); where the kernel lacks or
         * refuses it, iter/task_file does the same job. */
        if (present[DMABUF_BPF_ITER_FDS] && fd_tables) {
                r = load_fd_tables(bpf, verifier_log, reason, reason_size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_debug("bpf: the fd-table walk did not load (%s); iter/task_file instead", reason);
        }
        r = load_programs(bpf, present, verifier_log, reason, reason_size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bpf);
        return 0;
}

static int run_live(DmabufBpf *bpf, DmabufBpfIter it, StrBuf *out) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = bpf_iter_create(bpf_link__fd(bpf->links[it]));
        if (fd < 0)
                return fd; /* libbpf returns -errno */
        for (;;) {
                ssize_t n;

                r = strbuf_reserve(out, 64 * 1024);
                if (r < 0)
                        return r;
                n = read(fd, out->buf + out->len, out->cap - out->len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                out->len += (size_t) n;
        }
        out->buf[out->len] = '\0';
        return 0;
}

#else /* !HAVE_BPF */

bool dmabuf_bpf_built(void) {
        return false;
}

int dmabuf_bpf_load(int root_fd, DmabufBpf **ret, char *reason, size_t reason_size) {
        snprintf(reason, reason_size, "built without BPF support (clang, bpftool or libbpf was missing at configure time)");
        return -EOPNOTSUPP;
}

static int run_live(DmabufBpf *bpf, DmabufBpfIter it, StrBuf *out) {
        return -EOPNOTSUPP;
}

#endif

DmabufBpf *dmabuf_bpf_free(DmabufBpf *bpf) {
        if (!bpf)
                return NULL;
#if HAVE_BPF
        programs_unload(bpf);
#endif
        safe_close(bpf->recorded_fd);
        free(bpf);
        return NULL;
}

bool dmabuf_bpf_has(const DmabufBpf *bpf, DmabufBpfIter it) {
        if (!bpf || it < 0 || it >= _DMABUF_BPF_ITER_MAX)
                return false;
        if (bpf->recorded_fd >= 0)
                return bpf->recorded[it];
#if HAVE_BPF
        return bpf->links[it] != NULL;
#else
        return false;
#endif
}

int dmabuf_bpf_run(DmabufBpf *bpf, DmabufBpfIter it, StrBuf *out) {
        strbuf_reset(out);
        if (!dmabuf_bpf_has(bpf, it))
                return -EOPNOTSUPP;
        if (bpf->recorded_fd >= 0)
                return run_recorded(bpf, it, out);
        return run_live(bpf, it, out);
}

const char *dmabuf_bpf_iter_name(const DmabufBpf *bpf, DmabufBpfIter it) {
#if HAVE_BPF
        if (it == DMABUF_BPF_ITER_FDS && bpf && bpf->fdtables)
                return "iter/task (fd tables)";
#endif
        return dmabuf_bpf_iter_to_string(it);
}

void dmabuf_bpf_describe(const DmabufBpf *bpf, char *buf, size_t size) {
        size_t len = 0;

        buf[0] = '\0';
        for (DmabufBpfIter it = 0; it < _DMABUF_BPF_ITER_MAX; it++) {
                if (!dmabuf_bpf_has(bpf, it))
                        continue;
                len += (size_t) snprintf(buf + len, size - MIN(len, size), "%s%s", len > 0 ? ", " : "",
                                         dmabuf_bpf_iter_name(bpf, it));
                if (len >= size)
                        break;
        }
}
