/* SPDX-License-Identifier: MIT */
/* Prints what the config table says: the shipped etc/dmabufd.conf (no argument)
 * or the keys, one a line (--keys): the name, and for a key with one value
 * (neither a string nor a list) a tab and its default. tests/integration/config-docs.sh
 * checks the checked-in file and the docs against it, and `make update-conf`
 * rewrites the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "macro.h"

int main(int argc, char **argv) {
        if (argc == 2 && streq(argv[1], "--keys")) {
                for (size_t i = 0; i < dmabufd_config_n_keys; i++) {
                        const DmabufdConfigKey *k = &dmabufd_config_keys[i];

                        if (k->type == DMABUFD_CONFIG_STRING || k->type == DMABUFD_CONFIG_LIST)
                                printf("%s\n", k->name);
                        else
                                printf("%s\t%s\n", k->name, k->defaults[0]);
                }
                return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        }
        if (argc != 1) {
                fprintf(stderr, "usage: %s [--keys]\n", argv[0]);
                return 2;
        }
        return dmabufd_config_write_example(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
