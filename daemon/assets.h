/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the web page's files (daemon/web/), built into the binary
 * by scripts/embed-assets.sh, so the page needs nothing from the file system or
 * another host. */

#include <stddef.h>

typedef struct DmabufdAsset {
        const char *url; /* NULL ends the table */
        const char *content_type;
        const unsigned char *data;
        size_t size;
} DmabufdAsset;

extern const DmabufdAsset dmabufd_assets[];
