/**
 * The probes the container tests bake into their busybox image beside the real analysis (MEAN_SCRIPT, in
 * executors/): they try to get out of the sandbox and write down what happened, so each test asserts on
 * what the container itself saw.
 */

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
