/**
 * A real container analysis small enough to bake into a busybox image with no registry: the summary (n,
 * mean, variance) of one column of a dataset extract, computed with awk, written as a tremesh output
 * description so the airlock checks it like a built-in summary. The tests, the benchmarks and
 * `tremesh demo` run it.
 */

/** Summary of $COLUMN (default age) over /data/$DATASET.csv as a tremesh output description, plus the header it saw. */
export const MEAN_SCRIPT = `#!/bin/sh
set -e
col=\${COLUMN:-age}
ds=\${DATASET:-patients}
in="$TREMESH_DATA_DIR/$ds.csv"
head -n 1 "$in" > "$TREMESH_OUTPUT_DIR/columns.txt"
awk -F, -v col="$col" '
  NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
  $c != "" { n++; d = $c - m; m += d / n; s += d * ($c - m) }
  END {
    printf "{\\"kind\\":\\"summary\\",\\"column\\":\\"%s\\",\\"groupBy\\":[],\\"cells\\":[{\\"key\\":[],\\"n\\":%d,\\"mean\\":%.17g,\\"variance\\":%.17g}]}\\n", col, n, m, s / (n - 1)
  }' "$in" > "$TREMESH_OUTPUT_DIR/$col-summary.json"
`;
