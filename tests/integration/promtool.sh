#!/bin/bash
# /metrics in text format passes `promtool check metrics` on ordinary, hostile
# and malformed trees; hostile buffer names are escaped and cannot split or
# inject sample lines.
. "$(dirname "$0")/lib.sh"

# Text-format label escaping (Prometheus exposition 0.0.4): backslash, double
# quote and line feed are escaped; every other byte is itself.
escape_label='gsub("\\\\"; "\\\\") | gsub("\""; "\\\"") | gsub("\n"; "\\n")'

conf="$TMP/dmabufd.conf"
# show every name, so the series count can be compared with the fixture
printf 'top_names = 1000\ntop_processes = 1000\n' >"$conf"

for c in hostile linux-6.1 malformed; do
        require_tree $c
        E=$(expected $c)
        start_daemon --config "$conf" --root "$(tree $c)"
        fetch "$BASE/metrics"
        M="$TMP/$c.prom"
        cp "$TMP/b" "$M"
        if [ "$HTTP_CODE" = 200 ] && [[ $CTYPE == "text/plain; version=0.0.4"* ]]; then
                pass "$c: GET /metrics is 200 text/plain; version=0.0.4"
        else
                failc "$c: GET /metrics is 200 text/plain; version=0.0.4" "status $HTTP_CODE, Content-Type '$CTYPE'"
        fi
        lint=$(promtool check metrics <"$M" 2>&1)
        lrc=$?
        if [ $lrc = 0 ] && [ -z "$lint" ]; then
                pass "$c: promtool check metrics prints nothing and exits 0"
        else
                failc "$c: promtool check metrics prints nothing and exits 0" "promtool exit $lrc" "$lint"
        fi

        # Every line is a comment or a whole sample: name{labels} value.
        bad=$(grep -a -n -v -E '^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfa]+( -?[0-9]+)?)$' "$M" | head -n 5)
        if [ -z "$bad" ]; then
                pass "$c: every line of /metrics is a comment or a complete sample"
        else
                failc "$c: every line of /metrics is a comment or a complete sample" "$bad"
        fi
        if grep -a -q $'\r' "$M"; then
                note "$c: /metrics contains a raw carriage return (a label value byte; valid in text format)"
        fi

        # Names: every named buffer's name appears, escaped, as a label value.
        n_names=$(jq '[.buffers[] | .name | select(. != null and . != "")] | unique | length' "$E")
        got=$(series_count "$M" dmabuf_name_bytes)
        lines=$(grep -a -c '^dmabuf_name_bytes{' "$M")
        whole=$(grep -a -c -E '^dmabuf_name_bytes\{name=".*"\} [-+0-9.eE]+$' "$M")
        unnamed=$(grep -a -c -E '^dmabuf_name_bytes\{name=""\} ' "$M")
        if [ "$lines" = "$whole" ] && { [ "$got" = "$n_names" ] || [ "$got" = $((n_names + unnamed)) ]; }; then
                pass "$c: $got dmabuf_name_bytes sample lines, all complete, for $n_names distinct names"
        else
                failc "$c: one complete dmabuf_name_bytes sample line per name ($n_names names)" \
                        "$got lines start with dmabuf_name_bytes, $whole are complete samples" \
                        "$(grep -a -n 'dmabuf_name_bytes' "$M" | head -n 20 | cat -A | head -c 2000)"
        fi
        i=0
        while IFS= read -r -d '' esc; do
                i=$((i + 1))
                if grep -a -q -F -e "name=\"$esc\"}" "$M"; then
                        pass "$c: name #$i appears escaped as name=\"$(printf '%s' "$esc" | cat -v)\""
                else
                        failc "$c: name #$i appears escaped as name=\"$(printf '%s' "$esc" | cat -v)\"" \
                                "dmabuf_name_bytes lines: $(grep -a '^dmabuf_name_bytes' "$M" | cat -v | head -c 1500)"
                fi
        done < <(jq -j "[.buffers[] | .name | select(. != null and . != \"\")] | unique | .[] | ($escape_label) + \"\\u0000\"" "$E")

        if [ $c = hostile ]; then
                # the escapes the hostile names must need
                for e in '\"' '\\' '\n'; do
                        if grep -a '^dmabuf_name_bytes{' "$M" | grep -a -q -F -e "$e"; then
                                pass "$c: a name label carries the escape $e"
                        else
                                failc "$c: a name label carries the escape $e" "$(grep -a '^dmabuf_name_bytes' "$M" | cat -v | head -c 1500)"
                        fi
                done
                # nothing a name holds may become a sample of its own
                injected=$(grep -a -v -E '^(#|dmabuf|dmabufd|process_|go_)' "$M" | head -n 5)
                if [ -z "$injected" ]; then
                        pass "$c: no line starts with anything but a dmabuf metric or a comment"
                else
                        failc "$c: no line starts with anything but a dmabuf metric or a comment" "$injected"
                fi
                # the same for OpenMetrics, which also escapes in label values
                fetch -H 'Accept: application/openmetrics-text;version=1.0.0' "$BASE/metrics"
                bad=$(grep -a -n -v -E '^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfa]+( -?[0-9.]+)?)$' "$TMP/b" | head -n 5)
                if [ "$HTTP_CODE" = 200 ] && [ -z "$bad" ] && [ "$(tail -n 1 "$TMP/b")" = "# EOF" ]; then
                        pass "$c: OpenMetrics output: every line whole, ends with # EOF"
                else
                        failc "$c: OpenMetrics output: every line whole, ends with # EOF" "status $HTTP_CODE" "$bad"
                fi
                # JSON carries the same names, valid UTF-8, parsable
                fetch "$BASE/api/v1/state"
                if jq -e . "$TMP/b" >/dev/null 2>&1; then
                        pass "$c: /api/v1/state with hostile names is valid JSON"
                else
                        failc "$c: /api/v1/state with hostile names is valid JSON" "$(head -c 500 "$TMP/b" | cat -v)"
                fi
        fi
        stop_daemon
        if [ "$DAEMON_RC" = 0 ]; then
                pass "$c: daemon exits 0 on SIGTERM"
        else
                failc "$c: daemon exits 0 on SIGTERM" "exit status $DAEMON_RC" "$(head -c 600 "$DAEMON_ERR")"
        fi
done

finish
