/**
 * Separate network hosts on one machine: each host is a Linux network namespace of its own (its own `lo`, its
 * own port space, one interface `eth0` with a non-loopback address), plugged by a veth pair into a switch (a
 * bridge in one more namespace). Nothing is linked to the machine's own namespace and no host has a default
 * route, so the hosts reach each other and nothing else. Addresses come from TEST-NET-2 (198.51.100.0/24,
 * documentation only: never routed anywhere).
 *
 * Processes run inside a host with `ip netns exec`; tcpdump captures a host's interface to a pcap file, which
 * `readCapture` (./pcap.ts) turns back into the bytes each TCP connection carried. Namespaces are named after
 * this process's PID, so a crashed run never blocks the next (and its leftovers are removed by it). Everything
 * made here is removed on disposal, processes stopped by their PID first.
 *
 * Needs root (CAP_NET_ADMIN) and iproute2; `networkHostsUnavailable` says why a machine cannot, for a skip.
 *
 * @example
 * await using net = await createHostNetwork();
 * const hub = await net.addHost("hub", "198.51.100.1");
 * const tre = await net.addHost("tre-a", "198.51.100.11");
 * await using capture = await hub.capture(join(dir, "hub.pcap"));
 * const r = await tre.run(["ping", "-c", "1", hub.address]);
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import { waitFor } from "../../common/index.js";
import { readTcpPackets } from "./pcap.js";

/** Where every host's address lives: TEST-NET-2, reserved for documentation and never routed. */
export const HOST_NETWORK_PREFIX = "198.51.100.";
const PREFIX_LENGTH = 24;
/**
 * The switch's own address: it knocks on a captured host's discard port (9, closed) before its capture stops, and
 * the capture is complete once it holds that knock (tcpdump reads the kernel's buffer a little behind the wire).
 */
const SWITCH_ADDRESS = `${HOST_NETWORK_PREFIX}254`;
const KNOCK_PORT = 9;
const NAME_PREFIX = "tremesh-";
/** Each host's one interface, as on a machine with one network card. */
export const HOST_INTERFACE = "eth0";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A process started inside a host, in its own process group. */
export interface HostProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves when it ends, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to its whole group, then SIGKILL once `graceMs` have passed; resolves when it has ended. */
  stop(graceMs?: number): Promise<void>;
}

/** tcpdump writing everything a host's interface carries to a pcap file. Disposal stops it. */
export interface Capture extends AsyncDisposable {
  readonly file: string;
  /** Stops tcpdump (which writes out what it holds) and resolves once the file is complete. */
  stop(): Promise<void>;
}

export interface NetworkHost {
  /** The short name this run gave it (`hub`, `tre-a`). */
  readonly name: string;
  /** Its network namespace, for `ip netns exec`. */
  readonly namespace: string;
  /** Its address on `eth0`. */
  readonly address: string;
  /** Runs `argv` inside the host to its end; never throws for a non-zero exit. */
  run(argv: readonly string[], options?: { cwd?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Starts `argv` inside the host as its own process group, stdout and stderr appended to `logFile`. */
  start(
    name: string,
    argv: readonly string[],
    options: { cwd: string; logFile: string },
  ): Promise<HostProcess>;
  /** Starts tcpdump on `iface` (default eth0), writing every packet whole to `file`; resolves once it listens. */
  capture(file: string, options?: { iface?: string }): Promise<Capture>;
}

export interface HostNetwork extends AsyncDisposable {
  readonly hosts: ReadonlyMap<string, NetworkHost>;
  /** Makes a host `name` with `address` (in 198.51.100.0/24) on `eth0`, plugged into the switch. */
  addHost(name: string, address: string): Promise<NetworkHost>;
}

function execText(
  command: string,
  args: readonly string[],
  { cwd, timeoutMs = 60_000 }: { cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8", ...(cwd ? { cwd } : {}) },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        // A command that could not start, or ran past its time, has no exit code: its error says why.
        const code = typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr: stderr || error.message });
      },
    );
  });
}

/** `ip ARGS…`, failing with its own message. */
async function ip(...args: string[]): Promise<string> {
  const r = await execText("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/**
 * Why this machine cannot make network hosts (no `ip`, no CAP_NET_ADMIN, no veth or bridge), or undefined when
 * it can: it makes and removes one namespace with a bridge and a veth pair, which is all the harness needs.
 */
export async function networkHostsUnavailable(): Promise<string | undefined> {
  const probe = `${NAME_PREFIX}${process.pid}-probe`;
  const version = await execText("ip", ["-V"]);
  if (version.code !== 0) return "iproute2's `ip` command is not installed";
  try {
    await ip("netns", "add", probe);
  } catch (error) {
    return `cannot create a network namespace (needs root or CAP_NET_ADMIN): ${(error as Error).message}`;
  }
  try {
    await ip("-n", probe, "link", "add", "probe-br", "type", "bridge");
    await ip(
      "link",
      "add",
      "probe-a",
      "netns",
      probe,
      "type",
      "veth",
      "peer",
      "name",
      "probe-b",
      "netns",
      probe,
    );
    return undefined;
  } catch (error) {
    return `cannot create a bridge and a veth pair in a network namespace: ${(error as Error).message}`;
  } finally {
    await ip("netns", "delete", probe).catch(() => undefined);
  }
}

/** Whether tcpdump can be run; `npm run setup` installs it (Debian package tcpdump) as root. */
export async function tcpdumpUnavailable(): Promise<string | undefined> {
  const r = await execText("tcpdump", ["--version"]);
  return r.code === 0
    ? undefined
    : "tcpdump is not installed (`npm run setup` installs it, as root, with apt-get)";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes the namespaces of earlier runs whose process has ended (a crash or a kill left them). */
async function removeStaleNamespaces(): Promise<void> {
  const list = await ip("netns", "list");
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const pid = new RegExp(`^${NAME_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !alive(Number(pid)))
      await ip("netns", "delete", name).catch(() => undefined);
  }
}

function startInNamespace(
  namespace: string,
  name: string,
  argv: readonly string[],
  stdio: { cwd: string; fd: number | "pipe" },
): { child: ChildProcess; process: HostProcess } {
  // `ip netns exec` enters the namespace and execs the command: the child's PID is the command's own.
  const child = spawn("ip", ["netns", "exec", namespace, ...argv], {
    cwd: stdio.cwd,
    detached: true, // its own process group: stopping it stops what it started (a leaf's nats-server) too
    stdio: ["ignore", stdio.fd, stdio.fd],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name} in ${namespace}`);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const stop = async (graceMs = 10_000) => {
    signalGroup("SIGTERM");
    const timer = setTimeout(() => signalGroup("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
    // What the group leader started may outlive it by a moment; nothing of the group stays behind.
    signalGroup("SIGKILL");
  };
  return { child, process: { name, pid, exited, stop } };
}

/** A connection attempt from `namespace` to `address`'s closed discard port: one SYN on the wire, and a refusal. */
async function knock(namespace: string, address: string): Promise<void> {
  const script = `require("net").connect(${KNOCK_PORT},process.argv[1]).on("error",()=>{}).on("connect",function(){this.destroy()})`;
  const r = await execText("ip", ["netns", "exec", namespace, process.execPath, "-e", script, address]);
  if (r.code !== 0) throw new Error(`knocking on ${address}:${KNOCK_PORT}: ${r.stderr.trim()}`);
}

/**
 * Makes an empty network: a switch namespace holding a bridge, and no hosts yet. Dispose it (`await using`) to
 * stop every process started in its hosts and remove every namespace, veth and bridge it made.
 */
export async function createHostNetwork(): Promise<HostNetwork> {
  await removeStaleNamespaces();
  const run = `${NAME_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  const switchNs = `${run}-switch`;
  const namespaces: string[] = [];
  const processes: HostProcess[] = [];
  const hosts = new Map<string, NetworkHost>();

  const dispose = async () => {
    for (const p of [...processes].reverse()) await p.stop(5_000).catch(() => undefined);
    // Removing a namespace destroys its veth end, and with it the peer in the switch.
    for (const ns of namespaces.reverse()) await ip("netns", "delete", ns).catch(() => undefined);
  };

  try {
    await ip("netns", "add", switchNs);
    namespaces.push(switchNs);
    await ip("-n", switchNs, "link", "set", "lo", "up");
    await ip("-n", switchNs, "link", "add", "switch", "type", "bridge");
    await ip("-n", switchNs, "addr", "add", `${SWITCH_ADDRESS}/${PREFIX_LENGTH}`, "dev", "switch");
    await ip("-n", switchNs, "link", "set", "switch", "up");
  } catch (error) {
    await dispose();
    throw error;
  }

  const addHost = async (name: string, address: string): Promise<NetworkHost> => {
    if (!/^[a-z][a-z0-9-]{0,11}$/.test(name)) throw new RangeError(`host name ${JSON.stringify(name)}`);
    if (hosts.has(name)) throw new RangeError(`host ${name} exists`);
    const last = Number(address.slice(HOST_NETWORK_PREFIX.length));
    if (!address.startsWith(HOST_NETWORK_PREFIX) || !Number.isInteger(last) || last < 1 || last > 254)
      throw new RangeError(`host address ${address} is not in ${HOST_NETWORK_PREFIX}0/${PREFIX_LENGTH}`);
    const namespace = `${run}-${name}`;
    await ip("netns", "add", namespace);
    namespaces.push(namespace);
    await ip("-n", namespace, "link", "set", "lo", "up");
    const port = `p-${name}`;
    // Both ends are made in their namespaces at once: nothing appears in this machine's own namespace.
    await ip(
      "link",
      "add",
      HOST_INTERFACE,
      "netns",
      namespace,
      "type",
      "veth",
      "peer",
      "name",
      port,
      "netns",
      switchNs,
    );
    await ip("-n", switchNs, "link", "set", port, "master", "switch");
    await ip("-n", switchNs, "link", "set", port, "up");
    await ip("-n", namespace, "addr", "add", `${address}/${PREFIX_LENGTH}`, "dev", HOST_INTERFACE);
    await ip("-n", namespace, "link", "set", HOST_INTERFACE, "up");

    const start: NetworkHost["start"] = async (processName, argv, { cwd, logFile }) => {
      const log = await open(logFile, "a");
      try {
        const started = startInNamespace(namespace, processName, argv, { cwd, fd: log.fd });
        started.child.unref();
        processes.push(started.process);
        return started.process;
      } finally {
        await log.close();
      }
    };

    const capture: NetworkHost["capture"] = async (file, { iface = HOST_INTERFACE } = {}) => {
      // --immediate-mode and -U: each packet read and written as it comes; -s 0: whole packets; -n: no DNS here.
      const argv = ["tcpdump", "-i", iface, "--immediate-mode", "-U", "-s", "0", "-n", "-w", file, "tcp"];
      const started = startInNamespace(namespace, `tcpdump on ${name}`, argv, { cwd: "/", fd: "pipe" });
      processes.push(started.process);
      let stderr = "";
      started.child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      let ended = false;
      void started.process.exited.then(() => {
        ended = true;
      });
      // tcpdump says "listening on eth0" once the capture is open: from then on no packet is missed.
      const state = await waitFor(`tcpdump to listen on ${name}'s ${iface}`, () =>
        ended ? "ended" : stderr.includes("listening on") && "listening",
      );
      if (state === "ended") throw new Error(`tcpdump on ${name} ended: ${stderr.trim()}`);
      const knocks = async () =>
        (await readTcpPackets(file)).filter(
          (p) => p.from.startsWith(`${SWITCH_ADDRESS}:`) && p.to === knockTarget,
        ).length;
      const knockTarget = `${address}:${KNOCK_PORT}`;
      let stopped: Promise<void> | undefined;
      const stop = () => {
        stopped ??= (async () => {
          if (!ended) {
            // Everything sent before the knock is in the file once the knock is.
            const before = await knocks();
            await knock(switchNs, address);
            await waitFor(
              `tcpdump on ${name} to write out what it has seen`,
              async () => (await knocks()) > before,
            );
          }
          // SIGTERM: tcpdump closes the file, as on Ctrl-C.
          await started.process.stop(5_000);
        })();
        return stopped;
      };
      return { file, stop, [Symbol.asyncDispose]: stop };
    };

    const host: NetworkHost = {
      name,
      namespace,
      address,
      run: (argv, options) => execText("ip", ["netns", "exec", namespace, ...argv], options),
      start,
      capture,
    };
    hosts.set(name, host);
    return host;
  };

  return { hosts, addHost, [Symbol.asyncDispose]: dispose };
}

/** The text of a log file, or "" when it is not there (yet). */
export async function logText(file: string): Promise<string> {
  return readFile(file, "utf8").catch(() => "");
}
