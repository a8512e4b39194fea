#!/bin/bash
# etc/grafana/dmabufd.json: valid dashboard JSON (title, uid, schemaVersion,
# panels with unique ids and grid positions), a Prometheus datasource variable
# that every panel and target uses, an instance variable every query selects
# on; every PromQL expression parses (`promtool check rules` on a rules file
# made of them, Grafana's variables substituted); and every metric and label an
# expression or legend names is one the daemon serves on /metrics.
. "$(dirname "$0")/lib.sh"

: "${top_srcdir:?top_srcdir must name the source tree}"
DASH="$top_srcdir/etc/grafana/dmabufd.json"
[ -f "$DASH" ] || fail "$DASH is missing"
command -v promtool >/dev/null || fail "promtool is not installed (Debian: prometheus)"

# ---- the dashboard's JSON ----
check "the dashboard parses as one JSON object" jq -e 'type == "object"' "$DASH"
check "it has a title, a uid, a schemaVersion and panels" \
        jq -e '(.title | type == "string" and length > 0) and (.uid | type == "string" and length > 0) and
                (.schemaVersion | type == "number") and (.panels | type == "array" and length > 0)' "$DASH"
# Panels inside collapsed rows count too.
jq -c '[.panels[], (.panels[] | .panels? // [] | .[])]' "$DASH" >"$TMP/panels.json"
ids=$(jq -r '.[].id' "$TMP/panels.json")
check "every panel has a numeric id" jq -e 'all(.[]; .id | type == "number")' "$TMP/panels.json"
check "panel ids are unique ($(echo "$ids" | wc -l) panels)" test -z "$(echo "$ids" | sort | uniq -d)"
check "every panel has a type and a gridPos inside the 24 columns" \
        jq -e 'all(.[]; (.type | type == "string") and .gridPos.w > 0 and .gridPos.h > 0 and
                .gridPos.x >= 0 and .gridPos.x + .gridPos.w <= 24)' "$TMP/panels.json"

check "a datasource variable of type datasource for Prometheus" \
        jq -e '[.templating.list[] | select(.name == "datasource" and .type == "datasource" and .query == "prometheus")] | length == 1' "$DASH"
check "an instance variable: a label_values query over a dmabufd metric, on the datasource variable" \
        jq -e '[.templating.list[] | select(.name == "instance" and .type == "query" and
                        .datasource.uid == "${datasource}" and
                        ((.query.query // .query) | test("^label_values\\(dmabufd?_[a-z_]+, *instance\\)$")))] | length == 1' "$DASH"
# Non-row panels query; each, and each of its targets, on the variable.
jq -c '[.[] | select(.type != "row")]' "$TMP/panels.json" >"$TMP/queried.json"
check "every panel but the rows has targets" jq -e 'all(.[]; (.targets | length) > 0)' "$TMP/queried.json"
check "every panel's datasource is the \${datasource} variable" \
        jq -e 'all(.[]; .datasource.type == "prometheus" and .datasource.uid == "${datasource}")' "$TMP/queried.json"
check "every target's datasource is the \${datasource} variable" \
        jq -e 'all(.[].targets[]; .datasource.uid == "${datasource}")' "$TMP/queried.json"
check "every target has a refId, unique within its panel, and an expression" \
        jq -e 'all(.[]; ([.targets[].refId] | length) == ([.targets[].refId] | unique | length)) and
                all(.[].targets[]; (.refId | length) > 0 and (.expr | length) > 0)' "$TMP/queried.json"
check "every expression selects on the instance variable" \
        jq -e 'all(.[].targets[]; .expr | contains("instance=~\"$instance\""))' "$TMP/queried.json"

# panel id, refId, expression, legend: one per line, tab-separated
jq -r '.[] | .id as $id | .targets[] | [$id, .refId, .expr, (.legendFormat // "")] | @tsv' \
        "$TMP/queried.json" >"$TMP/targets.tsv"
note "$(wc -l <"$TMP/targets.tsv") expressions in $(jq length "$TMP/queried.json") panels"

# ---- every expression parses ----
# Grafana's variables as Prometheus would receive them; one recording rule per
# target.
{
        echo "groups:"
        echo "  - name: grafana-dashboard"
        echo "    rules:"
        while IFS=$'\t' read -r id ref expr legend; do
                e=$(printf '%s' "$expr" | sed -e 's/\$__rate_interval/5m/g; s/\$__interval/1m/g; s/\$__range/1h/g' \
                        -e 's/\${instance[^}]*}/.+/g; s/\$instance/.+/g')
                printf '      - record: grafana:panel%s:%s\n' "$id" "$ref"
                printf '        expr: %s\n' "$(jq -R -n --arg e "$e" '$e')"
        done <"$TMP/targets.tsv"
} >"$TMP/rules.yml"
out=$(promtool check rules "$TMP/rules.yml" 2>&1)
rc=$?
n=$(wc -l <"$TMP/targets.tsv")
if [ $rc = 0 ] && grep -q "SUCCESS: $n rules found" <<<"$out"; then
        pass "promtool check rules parses all $n expressions"
else
        failc "promtool check rules parses all $n expressions" "exit $rc" "$out" "$(head -c 2000 "$TMP/rules.yml")"
fi
# A check that cannot fail proves nothing: a broken expression must be refused.
printf 'groups:\n  - name: x\n    rules:\n      - record: x:y\n        expr: "sum by (a (dmabuf_bytes)"\n' >"$TMP/bad.yml"
check "promtool check rules refuses a broken expression" sh -c "! promtool check rules '$TMP/bad.yml' >/dev/null 2>&1"

# ---- the metrics and labels are the daemon's ----
C=attach-stats
require_tree $C
start_daemon --root "$(tree $C)"
fetch "$BASE/metrics"
[ "$HTTP_CODE" = 200 ] || fail "GET /metrics: status $HTTP_CODE"
cp "$TMP/b" "$TMP/metrics.prom"
stop_daemon
sed -n 's/^# TYPE \([a-zA-Z_:][a-zA-Z0-9_:]*\) .*/\1/p' "$TMP/metrics.prom" | sort -u >"$TMP/families"
note "the daemon serves $(wc -l <"$TMP/families") metric families"

# metrics_of EXPR: the metric names in it. Strings, label matchers and ranges go
# first, then the label lists of by/without/on/ignoring/group_*; what is left
# that is a name not followed by "(" (a function or aggregation) is a metric.
metrics_of() {
        printf '%s\n' "$1" | sed -E -e 's/"[^"]*"//g; s/\{[^}]*\}//g; s/\[[^]]*\]//g' \
                -e 's/\b(by|without|on|ignoring|group_left|group_right) *\([^)]*\)//g' |
                grep -o -E '[a-zA-Z_:][a-zA-Z0-9_:]* *\(?' | grep -v '($' | tr -d ' ' | sort -u
}
# labels_of EXPR LEGEND: the labels named by by (...) and {{label}} in the legend.
labels_of() {
        { printf '%s\n' "$1" | grep -o -E '\bby *\([^)]*\)' | sed -E 's/^by *\(//; s/\)$//' | tr ',' '\n'
          printf '%s\n' "$2" | grep -o -E '\{\{ *[a-zA-Z_][a-zA-Z0-9_]* *\}\}' | tr -d '{} '; } |
                tr -d ' ' | grep . | sort -u
}
bad_metric=()
bad_label=()
used=()
while IFS=$'\t' read -r id ref expr legend; do
        ms=$(metrics_of "$expr")
        [ -n "$ms" ] || bad_metric+=("panel $id $ref names no metric: $expr")
        allowed="instance job"
        for m in $ms; do
                used+=("$m")
                if ! grep -q -x -F "$m" "$TMP/families"; then
                        bad_metric+=("panel $id $ref: $m is not served by the daemon")
                        continue
                fi
                allowed="$allowed $(grep -E "^$m\{" "$TMP/metrics.prom" | grep -o -E '[{,][a-zA-Z_][a-zA-Z0-9_]*=' |
                        tr -d '{,=' | sort -u | paste -s -d ' ')"
        done
        for l in $(labels_of "$expr" "$legend"); do
                case " $allowed " in
                *" $l "*) ;;
                *) bad_label+=("panel $id $ref: label $l is on none of $(echo $ms)") ;;
                esac
        done
done <"$TMP/targets.tsv"
if [ ${#bad_metric[@]} = 0 ]; then
        pass "every expression names only metrics the daemon serves ($(printf '%s\n' "${used[@]}" | sort -u | paste -s -d ' '))"
else
        failc "every expression names only metrics the daemon serves" "${bad_metric[@]}"
fi
if [ ${#bad_label[@]} = 0 ]; then
        pass "every label in a by () or a legend is one those metrics carry (or instance, job)"
else
        failc "every label in a by () or a legend is one those metrics carry" "${bad_label[@]}"
fi
# The extraction must see a metric that is not served.
check "a metric the daemon does not serve would be caught" \
        sh -c "! printf '%s\n' \"$(metrics_of 'sum by (instance) (rate(dmabuf_no_such_thing{instance=~"x"}[5m]))')\" | grep -q -x -F -f '$TMP/families'"

# What the issue asks the dashboard to show.
for want in dmabuf_bytes dmabuf_userspace_bytes dmabuf_kernel_only_bytes dmabuf_exporter_bytes \
        dmabuf_process_pss_bytes dmabufd_events_total dmabufd_snapshots_total dmabufd_source_up; do
        check "a panel shows $want" sh -c "printf '%s\n' $(printf '%q ' "${used[@]}") | grep -q -x $want"
done

finish
