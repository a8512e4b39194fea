/* SPDX-License-Identifier: MIT */
/* The journal source: a MESSAGE field (bytes any process can log) sanitized and
 * run through the built-in matches, which capture a pid and a comm from it. The
 * first byte picks the match, the rest is the message. */

#include "fuzz.h"
#include "source-journal.h"
#include "strbuf.h"

#define MATCHES_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static DmabufdJournalMatch *matches[MATCHES_MAX];
        static size_t n_matches;
        static int initialized;
        StrBuf message = STRBUF_INIT;
        DmabufdJournalHit hit;
        char err[512];

        if (!initialized) {
                initialized = 1;
                for (size_t i = 0; dmabufd_journal_default_matches[i] && n_matches < MATCHES_MAX; i++)
                        if (dmabufd_journal_match_parse(dmabufd_journal_default_matches[i], &matches[n_matches], err,
                                                        sizeof(err)) == 0)
                                n_matches++;
                        else
                                abort(); /* the built-in matches must compile */
        }
        if (size < 1 || n_matches == 0)
                return 0;
        if (dmabufd_journal_message_sanitize(data + 1, size - 1, &message) < 0)
                return 0;
        {
                const DmabufdJournalMatch *m = matches[data[0] % n_matches];
                const char *text = message.buf ? message.buf : "";
                if (dmabufd_journal_match_exec(m, dmabufd_journal_match_identifier(m), text, &hit) == 1 &&
                    strnlen(hit.comm, sizeof(hit.comm)) == sizeof(hit.comm))
                        abort();
        }
        strbuf_done(&message);
        return 0;
}
