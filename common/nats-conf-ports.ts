/**
 * Pins a config's random listen ports (`-1`) to the ports a server actually bound, so that a restarted
 * server comes back on the same URLs and its clients and leaf nodes simply reconnect (fault tests stop
 * and restart servers; a new port would look like a different server).
 *
 * Works line by line on the layout `toNatsConf` writes (and hand-written configs in the same style):
 * top-level `port: -1`, `http_port: -1`, `http: "host:-1"` (or `https:`), and `port: -1` directly inside the top-level
 * `leafnodes: { ... }` block. Anything else is left alone; the launcher checks the URLs after a restart.
 */

export interface ListenPorts {
  client: number;
  leaf?: number | undefined;
  monitor?: number | undefined;
}

const OPEN_BLOCK = /^([A-Za-z_"][^:={\s]*)\s*[:=]?\s*\{\s*$/;
const CLOSE_BLOCK = /^\}\s*$/;
const RANDOM_PORT = /^(\s*port\s*[:=]\s*)-1(\s*)$/;
const RANDOM_HTTP_PORT = /^(\s*http_port\s*[:=]\s*)-1(\s*)$/;
const RANDOM_HTTP = /^(\s*https?\s*[:=]\s*")([^"]*):-1("\s*)$/;

export function pinListenPorts(configText: string, ports: ListenPorts): string {
  const stack: string[] = [];
  return configText
    .split("\n")
    .map((line) => {
      const trimmed = line.trim();
      const open = OPEN_BLOCK.exec(trimmed);
      if (open) {
        stack.push(open[1]!.replaceAll('"', ""));
        return line;
      }
      if (CLOSE_BLOCK.test(trimmed)) {
        stack.pop();
        return line;
      }
      const where = stack.join(".");
      if (where === "") {
        if (RANDOM_PORT.test(line)) return line.replace(RANDOM_PORT, `$1${ports.client}$2`);
        if (ports.monitor !== undefined && RANDOM_HTTP_PORT.test(line)) {
          return line.replace(RANDOM_HTTP_PORT, `$1${ports.monitor}$2`);
        }
        if (ports.monitor !== undefined && RANDOM_HTTP.test(line)) {
          return line.replace(RANDOM_HTTP, `$1$2:${ports.monitor}$3`);
        }
      }
      if (where === "leafnodes" && ports.leaf !== undefined && RANDOM_PORT.test(line)) {
        return line.replace(RANDOM_PORT, `$1${ports.leaf}$2`);
      }
      return line;
    })
    .join("\n");
}
