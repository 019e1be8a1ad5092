/**
 * The scripts the container tests bake into their busybox image: a real analysis (mean and variance of
 * a column, computed with awk from the /data extract) and probes that try to get out of the sandbox and
 * write down what happened, so each test asserts on what the container itself saw.
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

/** Writes key=value lines to /outputs/probe.txt: who it runs as, and whether it got out. */
export const PROBE_SCRIPT = `#!/bin/sh
o="$TREMESH_OUTPUT_DIR/probe.txt"
echo "uid=$(id -u)" >> "$o"
echo "capeff=$(awk '/^CapEff/ { print $2 }' /proc/self/status)" >> "$o"
echo "nonewprivs=$(awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)" >> "$o"
if echo probe | nc -w 2 "$PROBE_HOST" "$PROBE_PORT" > /dev/null 2>&1; then echo "net=connected"; else echo "net=failed"; fi >> "$o"
for f in /etc/probe /probe /bin/probe /data/probe "$TREMESH_DATA_DIR/patients.csv" /tmp/scratch; do
  if (echo x >> "$f") 2> /dev/null; then echo "write:$f=ok"; else echo "write:$f=denied"; fi >> "$o"
done
`;

/** Parses PROBE_SCRIPT's output. */
export function probeResults(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const at = line.lastIndexOf("=");
    if (at > 0) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}
