/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect.h"
#include "conf.h"
#include "dump.h"
#include "fileio.h"
#include "listen.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "prom.h"
#include "reader.h"
#include "state-json.h"

#define EXIT_USAGE 2

/* Usage errors exit 2, runtime failures 1, each with one line naming the culprit. */
#define usage_error(...)                                        \
        ({                                                      \
                fprintf(stderr, "dmabufd: " __VA_ARGS__);       \
                fputc('\n', stderr);                            \
                EXIT_USAGE;                                     \
        })

/* An option that sets a config key: its help and default come from the key. */
static void help_option(const DmabufdConfigKey *k) {
        char flags[64], dflt[256];
        int width;

        if (k->short_option)
                snprintf(flags, sizeof(flags), "-%c, --%s %s", k->short_option, k->option, k->metavar);
        else
                snprintf(flags, sizeof(flags), "    --%s %s", k->option, k->metavar);
        snprintf(dflt, sizeof(dflt), "(default %s)", k->defaults[0]);
        width = printf("  %-22s  %s", flags, k->help);
        /* Past 80 columns the default goes on a line of its own. */
        if (width + 1 + (int) strlen(dflt) > 80)
                printf("\n  %-22s  %s\n", "", dflt);
        else
                printf(" %s\n", dflt);
}

static void help(void) {
        printf("Usage: dmabufd [OPTIONS]\n"
               "       dmabufd dump [--root DIR] [--format table|json|prom|csv] [-a] [-b] [--by cgroup] [PID]\n"
               "       dmabufd dump --snapshot FILE|ID [--before] [--config FILE] [--state-dir DIR]\n"
               "                    [--format table|json|prom|csv] [-a] [-b] [--by cgroup] [PID]\n"
               "\n"
               "Accounts for DMA-BUF memory and serves it as Prometheus metrics and JSON.\n"
               "\n"
               "  -c, --config FILE       configuration file (default " DMABUFD_DEFAULT_CONFIG ")\n");
        for (size_t i = 0; i < dmabufd_config_n_keys; i++)
                if (dmabufd_config_keys[i].option)
                        help_option(&dmabufd_config_keys[i]);
        printf("  -h, --help              show this help\n"
               "      --version           show the version\n"
               "\n"
               "dump collects once, prints and exits: a per-process table by default,\n"
               "-a a buffer x process table, -b per-buffer and per-exporter totals,\n"
               "--by cgroup rss and pss per cgroup (json: the cgroups array; prom: their series).\n"
               "--snapshot prints a stored snapshot's state (--before: its before) the same\n"
               "way, after a summary of its trigger (on stderr for json, prom and csv). ID\n"
               "names a snapshot in the state directory; a FILE name contains a '/'.\n");
}

/* Opens the root a collection reads under; a missing or unusable --root is a usage
 * error since nothing else could work. */
static int open_root(const char *root, const char *what) {
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "dmabufd: %s %s: %s\n", what, root, strerror(errno));
                return -EXIT_USAGE;
        }
        return fd;
}

static int parse_pid_arg(const char *s, pid_t *ret) {
        uint64_t v;

        if (safe_atou64(s, &v) < 0 || v == 0 || v > INT32_MAX)
                return -EINVAL;
        *ret = (pid_t) v;
        return 0;
}

/* What the command line said, kept so SIGHUP can rebuild the configuration with
 * the flags still winning over the file. */
typedef struct Args {
        const char *config_path; /* NULL: the default file, which may be absent */
        struct {
                const char *key, *value, *flag;
        } overrides[64];
        size_t n_overrides;
        const char *listen[16];
        size_t n_listen;
} Args;

/* dump --snapshot finds the state directory through it too. */
static int build_config(DmabufdConfig *c, char *err, size_t err_len, void *userdata);

/* ID: <state dir>/<ID>.json, the state directory found as the daemon finds
 * it (--state-dir, the configuration file's state_dir, $STATE_DIRECTORY, the
 * built-in one). Anything with a '/', or that cannot be an id, is a file name.
 * Returns the fd, or minus the exit status after one error line. */
static int open_snapshot(const char *what, Args *args, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        DmabufdConfig config;
        char err[512];
        int fd, r;

        if (strchr(what, '/') || !dmabufd_snapshot_id_is_valid(what)) {
                path = strdup(what);
                if (!path) {
                        fprintf(stderr, "dmabufd: dump: %s\n", strerror(ENOMEM));
                        return -EXIT_FAILURE;
                }
        } else {
                dmabufd_config_init(&config);
                r = build_config(&config, err, sizeof(err), args);
                if (r >= 0 && asprintf(&path, "%s/%s.json",
                                       config.state_dir ? config.state_dir : DMABUFD_DEFAULT_STATE_DIR, what) < 0)
                        r = -ENOMEM;
                dmabufd_config_done(&config);
                if (r < 0) {
                        fprintf(stderr, "dmabufd: dump: %s\n", r == -ENOMEM ? strerror(ENOMEM) : err);
                        return -EXIT_USAGE;
                }
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (streq(what, path))
                        fprintf(stderr, "dmabufd: dump: --snapshot %s: %s\n", path, strerror(errno));
                else
                        fprintf(stderr, "dmabufd: dump: --snapshot %s: %s: %s\n", what, path, strerror(errno));
                return -EXIT_FAILURE;
        }
        *ret_path = TAKE_PTR(path);
        return fd;
}

/* The snapshot's state (or before), rebuilt. Returns 0, or minus the exit
 * status after one error line naming the file. */
static int read_snapshot(const char *what, Args *args, bool before, pid_t only_pid, DmabufSnapshotFile **ret_file,
                         DmabufState **ret) {
        _cleanup_(dmabuf_snapshot_file_freep) DmabufSnapshotFile *f = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char err[512];
        int r;

        fd = open_snapshot(what, args, &path);
        if (fd < 0)
                return fd;
        r = dmabuf_snapshot_file_read(fd, only_pid, &f, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "dmabufd: dump: %s: %s\n", path, r == -ENOMEM ? strerror(ENOMEM) : err);
                return -EXIT_FAILURE;
        }
        if (!(before ? f->before : f->state)) {
                fprintf(stderr, "dmabufd: dump: %s: \"%s\" is null: %s\n", path, before ? "before" : "state",
                        before ? "the snapshot was taken before any collection"
                               : "its fresh collection failed or never came (try --before)");
                return -EXIT_FAILURE;
        }
        *ret = dmabuf_state_ref(before ? f->before : f->state);
        *ret_file = TAKE_PTR(f);
        return 0;
}

static int run_dump(int argc, char **argv) {
        enum { ARG_SNAPSHOT = 0x100, ARG_BEFORE, ARG_STATE_DIR };
        static const struct option options[] = {
                { "root", required_argument, NULL, 'r' },
                { "format", required_argument, NULL, 'f' },
                { "snapshot", required_argument, NULL, ARG_SNAPSHOT },
                { "before", no_argument, NULL, ARG_BEFORE },
                { "config", required_argument, NULL, 'c' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "by", required_argument, NULL, 'B' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        _cleanup_state_ DmabufState *s = NULL;
        _cleanup_close_ int root_fd = -EBADF;
        _cleanup_(dmabuf_snapshot_file_freep) DmabufSnapshotFile *snapshot_file = NULL;
        const char *root = NULL, *format = "table", *snapshot = NULL;
        bool all = false, buffers = false, before = false, by_cgroup = false;
        _cleanup_strbuf_ StrBuf summary = STRBUF_INIT;
        Args args = {};
        _cleanup_(dmabuf_bpf_freep) DmabufBpf *bpf = NULL;
        DmabufCollectOptions opts = { 0 };
        DmabufdConfig defaults;
        char reason[512];
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "r:f:c:abh", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SNAPSHOT:
                        snapshot = optarg;
                        break;
                case ARG_BEFORE:
                        before = true;
                        break;
                case 'c':
                        args.config_path = optarg;
                        break;
                case ARG_STATE_DIR:
                        args.overrides[0] = (typeof(args.overrides[0])){ "state_dir", optarg, "state-dir" };
                        args.n_overrides = 1;
                        break;
                case 'r':
                        root = optarg;
                        break;
                case 'f':
                        format = optarg;
                        break;
                case 'a':
                        all = true;
                        break;
                case 'b':
                        buffers = true;
                        break;
                case 'B':
                        if (!streq(optarg, "cgroup"))
                                return usage_error("dump: invalid --by '%s': expected cgroup", optarg);
                        by_cgroup = true;
                        break;
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                default:
                        return EXIT_USAGE; /* getopt printed the offending option */
                }
        }
        if (!streq(format, "table") && !streq(format, "json") && !streq(format, "prom") && !streq(format, "csv"))
                return usage_error("dump: invalid --format '%s': expected table, json, prom or csv", format);
        if (optind + 1 < argc)
                return usage_error("dump: unexpected argument '%s'", argv[optind + 1]);
        if (optind < argc && parse_pid_arg(argv[optind], &opts.only_pid) < 0)
                return usage_error("dump: invalid PID '%s'", argv[optind]);
        if (all && buffers)
                return usage_error("dump: -a and -b cannot be combined");
        if (!snapshot && (before || args.config_path || args.n_overrides > 0))
                return usage_error("dump: %s applies only with --snapshot",
                                   before ? "--before" : args.config_path ? "--config" : "--state-dir");
        if (snapshot && root)
                return usage_error("dump: --root and --snapshot cannot be combined: a snapshot is read, not collected");
        if (by_cgroup && (all || buffers))
                return usage_error("dump: --by cgroup cannot be combined with %s", all ? "-a" : "-b");
        if (by_cgroup && opts.only_pid > 0)
                return usage_error("dump: --by cgroup lists every cgroup and takes no PID");
        if (by_cgroup && streq(format, "csv"))
                return usage_error("dump: --by cgroup prints a table, json or prom, not csv");

        if (snapshot) {
                r = read_snapshot(snapshot, &args, before, opts.only_pid, &snapshot_file, &s);
                if (r < 0)
                        return -r;
                if (dmabuf_snapshot_file_summary(&summary, snapshot_file, before) < 0) {
                        fprintf(stderr, "dmabufd: dump: out of memory\n");
                        return EXIT_FAILURE;
                }
                /* The table is for a reader, who wants the trigger first; json,
                 * prom and csv stay what a parser expects, the summary beside them. */
                if (!streq(format, "table"))
                        fputs(summary.buf, stderr);
                else
                        strbuf_printf(&out, "%s\n", summary.buf);
        } else {
                if (!root)
                        root = "/";
                root_fd = open_root(root, "--root");
                if (root_fd < 0)
                        return -root_fd;

                /* dump reads what the daemon would, BPF included; why it is down is
                 * the daemon's to log, and the output's sources say it is. */
                if (dmabuf_bpf_load(root_fd, &bpf, reason, sizeof(reason)) >= 0)
                        opts.bpf = bpf;
                r = dmabuf_collect(root_fd, &opts, &s);
                if (r < 0) {
                        fprintf(stderr, "dmabufd: dump: collection under %s failed: %s\n", root, strerror(-r));
                        return EXIT_FAILURE;
                }
                if (dmabuf_state_scan_stats(s)->first_error[0])
                        fprintf(stderr, "dmabufd: warning: malformed kernel data, skipped: %s\n",
                                dmabuf_state_scan_stats(s)->first_error);
        }

        if (by_cgroup && streq(format, "json")) {
                json_object *o = dmabuf_json_cgroups(s);

                r = o ? 0 : -ENOMEM;
                if (o)
                        strbuf_puts(&out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
                strbuf_putc(&out, '\n');
        } else if (by_cgroup && streq(format, "prom"))
                /* Every cgroup: a dump has no series budget to keep. */
                r = dmabuf_prom_write_cgroups(&out, s, UINT_MAX, DMABUF_PROM_TEXT);
        else if (by_cgroup)
                r = dmabuf_dump_cgroups(&out, s);
        else if (streq(format, "json")) {
                r = dmabuf_json_write_state(&out, s);
                strbuf_putc(&out, '\n');
        } else if (streq(format, "prom")) {
                /* dump reads no file: the built-in top-N, as the daemon's metrics have them. */
                dmabufd_config_init(&defaults);
                DmabufPromOptions popts = { .top_processes = defaults.top_processes,
                                            .top_names = defaults.top_names,
                                            .top_cgroups = defaults.top_cgroups };
                r = dmabuf_prom_write(&out, s, &popts, DMABUF_PROM_TEXT);
        } else if (streq(format, "csv")) {
                if (all)
                        r = dmabuf_dump_buffer_table_csv(&out, s, opts.only_pid);
                else if (buffers)
                        r = dmabuf_dump_exporters_csv(&out, s);
                else
                        r = dmabuf_dump_processes_csv(&out, s, opts.only_pid);
        } else if (all)
                r = dmabuf_dump_buffer_table(&out, s, opts.only_pid);
        else if (buffers)
                r = dmabuf_dump_buffer_totals(&out, s);
        else
                r = dmabuf_dump_processes(&out, s, opts.only_pid);
        if (r < 0 || strbuf_status(&out) < 0) {
                fprintf(stderr, "dmabufd: dump: out of memory\n");
                return EXIT_FAILURE;
        }
        /* Output can be empty (--by cgroup --format prom where every figure is
         * unknown) and its buffer then NULL, which fwrite must not be given. */
        if ((out.len > 0 && fwrite(out.buf, 1, out.len, stdout) != out.len) || fflush(stdout) != 0) {
                fprintf(stderr, "dmabufd: dump: cannot write output: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static int build_config(DmabufdConfig *c, char *err, size_t err_len, void *userdata) {
        const Args *a = userdata;
        char what[512];
        int r;

        dmabufd_config_done(c);
        r = dmabufd_config_load(c, a->config_path ? a->config_path : DMABUFD_DEFAULT_CONFIG, err, err_len);
        /* Only the default file may be absent: a file named on the command line
         * that is missing is a mistake worth stopping for. */
        if (r < 0 && !(r == -ENOENT && !a->config_path))
                return r;
        for (size_t i = 0; i < a->n_overrides; i++) {
                r = dmabufd_config_set(c, a->overrides[i].key, a->overrides[i].value, what, sizeof(what));
                if (r < 0) {
                        snprintf(err, err_len, "--%s: %s", a->overrides[i].flag, what);
                        return r;
                }
        }
        for (size_t i = 0; i < a->n_listen; i++) {
                r = dmabufd_config_add_listen(c, a->listen[i], i > 0, what, sizeof(what));
                if (r < 0) {
                        snprintf(err, err_len, "--listen: %s", what);
                        return r;
                }
        }
        /* StateDirectory= in the unit: the directory systemd made for us, unless
         * the file or the command line names another. */
        if (!c->state_dir && getenv("STATE_DIRECTORY")) {
                r = dmabufd_config_set(c, "state_dir", getenv("STATE_DIRECTORY"), what, sizeof(what));
                if (r < 0) {
                        snprintf(err, err_len, "$STATE_DIRECTORY: %s", what);
                        return r;
                }
        }
        if (!c->listen)
                return dmabufd_config_add_listen(c, DMABUFD_DEFAULT_LISTEN, false, err, err_len);
        return 0;
}

static int run_daemon(int argc, char **argv) {
        enum { ARG_VERSION = 0x100, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "listen", required_argument, NULL, 'l' },
                { "root", required_argument, NULL, 'r' },
                { "state-dir", required_argument, NULL, 's' },
                { "interval", required_argument, NULL, 'i' },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        static Args args; /* lives as long as the daemon: SIGHUP reads it */
        DmabufdConfig config;
        DmabufdListener *listeners = NULL;
        size_t n_listeners = 0;
        Manager *m = NULL;
        char err[512];
        int c, r, root_fd, n_activated;

        while ((c = getopt_long(argc, argv, "c:l:r:s:i:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        args.config_path = optarg;
                        break;
                case 'l':
                        if (args.n_listen >= ELEMENTSOF(args.listen))
                                return usage_error("--listen: at most %zu addresses", ELEMENTSOF(args.listen));
                        args.listen[args.n_listen++] = optarg;
                        break;
                case 'r':
                case 's':
                case 'i':
                case ARG_LOG_LEVEL:
                        if (args.n_overrides >= ELEMENTSOF(args.overrides))
                                return usage_error("too many options");
                        args.overrides[args.n_overrides].key = c == 'r'   ? "root"
                                                               : c == 's' ? "state_dir"
                                                               : c == 'i' ? "interval"
                                                                          : "log_level";
                        args.overrides[args.n_overrides].flag = c == 'r'   ? "root"
                                                                : c == 's' ? "state-dir"
                                                                : c == 'i' ? "interval"
                                                                           : "log-level";
                        args.overrides[args.n_overrides++].value = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("dmabufd " DMABUFD_VERSION "\n");
                        return EXIT_SUCCESS;
                default:
                        return EXIT_USAGE; /* getopt printed the offending option */
                }
        }
        if (optind < argc)
                return usage_error("unexpected argument '%s' (did you mean 'dmabufd dump'?)", argv[optind]);

        dmabufd_config_init(&config);
        r = build_config(&config, err, sizeof(err), &args);
        if (r < 0) {
                dmabufd_config_done(&config);
                return usage_error("%s", err);
        }
        log_set_max_level(config.log_level);
        log_set_target(log_target_from_environment());

        root_fd = open_root(config.root ? config.root : "/", "--root");
        if (root_fd < 0) {
                dmabufd_config_done(&config);
                return -root_fd;
        }

        n_activated = dmabufd_listen_from_systemd(&listeners, &n_listeners, err, sizeof(err));
        if (n_activated < 0) {
                log_error("%s", err);
                r = EXIT_FAILURE;
                goto finish;
        }
        if (n_activated > 0)
                log_info("socket activation: serving on %d socket%s from systemd; listen is ignored",
                         n_activated, n_activated == 1 ? "" : "s");
        for (char **l = config.listen; n_activated == 0 && *l; l++) {
                r = dmabufd_listen_open(*l, &listeners, &n_listeners, err, sizeof(err));
                if (r < 0) {
                        log_error("%s", err);
                        r = r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
                        goto finish;
                }
        }

        r = manager_new(&config, root_fd, listeners, n_listeners, build_config, &args, &m);
        if (r < 0) {
                r = EXIT_FAILURE;
                goto finish;
        }
        r = manager_run(m) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
finish:
        manager_free(m);
        for (size_t i = 0; !m && r != EXIT_SUCCESS && i < n_listeners; i++)
                safe_close(listeners[i].fd);
        free(listeners);
        safe_close(root_fd);
        dmabufd_config_done(&config);
        return r;
}

/* glibc's defaults suit a process that allocates all the time; the daemon builds
 * one large state per collection and then idles. One arena: a second one for
 * the collector thread (and one per HTTP thread) keeps its own free pages that
 * no other thread reuses. A fixed mmap threshold: by default it rises to the
 * largest block freed so far, after which a state's arrays come from the heap,
 * where one block still in use pins the free space around it; mmapped, each
 * array goes back to the kernel as it is freed, and grows by mremap without a
 * copy. A low trim threshold returns a freed heap top at once. */
static void tune_malloc(void) {
        (void) mallopt(M_ARENA_MAX, 1);
        (void) mallopt(M_MMAP_THRESHOLD, 64 * 1024);
        (void) mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

int main(int argc, char **argv) {
        /* Never setlocale(): numbers in metrics, JSON and the config file are "C". */
        if (argc > 1 && streq(argv[1], "dump"))
                return run_dump(argc - 1, argv + 1);
        tune_malloc();
        return run_daemon(argc, argv);
}
