#!/bin/bash
# The layers keep to their boundaries (docs/design.md, "Layout"): the libraries of
# collect, expose and the event parsers call neither libmicrohttpd nor sd-event,
# so they can be tested, benchmarked and reused without a loop or a server. The
# sources (which watch files on the loop) must call sd-event: the check that
# finds those calls there is what shows it can find them elsewhere.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

libs=${top_builddir:?}/.libs
loop_or_server() { nm -u "$libs/libdmabufd-$1.a" 2>/dev/null | awk '$1 == "U" && $2 ~ /^(sd_event|MHD_)/ { print $2 }' | sort -u; }

if command -v nm >/dev/null 2>&1; then
        for lib in util collect expose events; do
                check "libdmabufd-$lib.a was built" test -s "$libs/libdmabufd-$lib.a"
                calls=$(loop_or_server "$lib")
                [ -z "$calls" ] || note "libdmabufd-$lib calls: $(echo $calls)"
                check "libdmabufd-$lib calls neither sd-event nor libmicrohttpd" test -z "$calls"
        done
        check "the sources' library calls sd-event (the check sees such calls)" \
                sh -c "nm -u '$libs/libdmabufd-sources.a' | grep -q ' U sd_event_add_io'"
        check "the daemon's library calls libmicrohttpd (the check sees such calls)" \
                sh -c "nm -u '$libs/libdmabufd-daemon.a' | grep -q ' U MHD_start_daemon'"
else
        check "nm is installed (binutils)" false
fi

finish
