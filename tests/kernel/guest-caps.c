/* SPDX-License-Identifier: MIT */
/* Runs a program as another uid with exactly the given capabilities, as systemd's
 * User= with AmbientCapabilities= would. busybox's setpriv sets ambient
 * capabilities but cannot change the uid, and su drops every capability.
 *
 *   guest-caps UID CAPS PROG [ARGS...]
 *
 * CAPS is a comma-separated list of capability numbers or names without the CAP_
 * prefix (sys_ptrace,dac_read_search,syslog,bpf,perfmon,sys_admin,
 * checkpoint_restore), or "none". Supplementary groups are cleared and the gid is
 * set to UID too. The capabilities become permitted, effective, inheritable and
 * ambient, so PROG keeps them across exec; nothing else survives. Exits 127 when a
 * step fails, naming it on stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
        const char *name;
        int cap;
} caps[] = {
        { "dac_read_search", 2 }, { "sys_ptrace", 19 }, { "sys_admin", 21 }, { "syslog", 34 },
        { "perfmon", 38 },        { "bpf", 39 },        { "checkpoint_restore", 40 },
};

static int die(const char *what) {
        fprintf(stderr, "guest-caps: %s: %s\n", what, strerror(errno));
        return 127;
}

int main(int argc, char **argv) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = { 0 };
        uint64_t mask = 0;
        char *list, *tok, *save = NULL, *end;
        unsigned long uid;
        int c;

        if (argc < 4) {
                fprintf(stderr, "usage: guest-caps UID CAPS|none PROG [ARGS...]\n");
                return 2;
        }
        uid = strtoul(argv[1], &end, 10);
        if (*end || uid == 0 || uid > 65534) {
                fprintf(stderr, "guest-caps: bad UID '%s'\n", argv[1]);
                return 2;
        }
        list = strdup(argv[2]);
        for (tok = strtok_r(list, ",", &save); tok && strcmp(argv[2], "none") != 0; tok = strtok_r(NULL, ",", &save)) {
                long n = strtol(tok, &end, 10);
                size_t i;

                if (*end) {
                        n = -1;
                        for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
                                if (strcasecmp(tok, caps[i].name) == 0 || (strncasecmp(tok, "cap_", 4) == 0 &&
                                                                           strcasecmp(tok + 4, caps[i].name) == 0))
                                        n = caps[i].cap;
                }
                if (n < 0 || n > 63) {
                        fprintf(stderr, "guest-caps: unknown capability '%s'\n", tok);
                        return 2;
                }
                mask |= (uint64_t) 1 << n;
        }
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return die("PR_SET_KEEPCAPS");
        if (setgroups(0, NULL) < 0)
                return die("setgroups");
        if (setresgid(uid, uid, uid) < 0)
                return die("setresgid");
        if (setresuid(uid, uid, uid) < 0)
                return die("setresuid");
        data[0].permitted = data[0].effective = data[0].inheritable = (uint32_t) mask;
        data[1].permitted = data[1].effective = data[1].inheritable = (uint32_t) (mask >> 32);
        if (syscall(SYS_capset, &hdr, data) < 0)
                return die("capset");
        for (c = 0; c < 64; c++)
                if ((mask >> c) & 1 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
                        return die("PR_CAP_AMBIENT_RAISE");
        execv(argv[3], argv + 3);
        return die(argv[3]);
}
