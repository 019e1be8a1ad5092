/**
 * The container side of the executor conformance suite: busybox scripts that compute the query
 * executor's count and summary over a dataset extract, in awk, and write the same output description
 * (same file name, `<kind>.json`, and the same fields), so one assertion holds for both executors.
 * Only what the suite asks for is handled: no filters, at most one group-by column of text values.
 */

/** Summary (n, mean, sample variance) of $COLUMN over /data/$DATASET.csv, to /outputs/summary.json. */
export const CONFORMANCE_SUMMARY_SCRIPT = String.raw`#!/bin/sh
set -e
awk -F, -v col="$COLUMN" '
  NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
  c && $c != "" { n++; d = $c - m; m += d / n; s += d * ($c - m) }
  END {
    if (!c) { print "no column " col > "/dev/stderr"; exit 2 }
    mean = n > 0 ? sprintf("%.17g", m) : "null"
    variance = n > 1 ? sprintf("%.17g", s / (n - 1)) : "null"
    printf "{\"kind\":\"summary\",\"column\":\"%s\",\"groupBy\":[],\"cells\":[{\"key\":[],\"n\":%d,\"mean\":%s,\"variance\":%s}]}\n", col, n, mean, variance
  }' "$TREMESH_DATA_DIR/$DATASET.csv" > "$TREMESH_OUTPUT_DIR/summary.json"
`;

/**
 * Count of the rows of /data/$DATASET.csv, by $GROUP when set, to /outputs/count.json. Cells in the
 * protocol's key order: strings by code unit (LC_ALL=C sort), the null group (an empty field) last.
 */
export const CONFORMANCE_COUNT_SCRIPT = String.raw`#!/bin/sh
set -e
in="$TREMESH_DATA_DIR/$DATASET.csv"
out="$TREMESH_OUTPUT_DIR/count.json"
if [ -z "$GROUP" ]; then
  printf '{"kind":"count","groupBy":[],"cells":[{"key":[],"n":%d}]}\n' $(($(wc -l < "$in") - 1)) > "$out"
  exit 0
fi
awk -F, -v col="$GROUP" '
  NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
  { n[$c]++ }
  END { for (k in n) printf "%s\t%s\t%d\n", (k == "" ? 1 : 0), k, n[k] }' "$in" \
  | LC_ALL=C sort \
  | awk -F'\t' -v col="$GROUP" '
      BEGIN { printf "{\"kind\":\"count\",\"groupBy\":[\"%s\"],\"cells\":[", col }
      { printf "%s{\"key\":[%s],\"n\":%d}", (NR > 1 ? "," : ""), ($1 == 1 ? "null" : "\"" $2 "\""), $3 }
      END { print "]}" }' > "$out"
`;
