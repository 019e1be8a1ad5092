/**
 * `tremesh demo stop DIR` and a second `tremesh demo --dir DIR` on real processes, without running a demo:
 * pids.json is written as the demo writes it (DemoPids) for processes this test starts, or by hand as a stale
 * or an older tremesh's file would be. A process whose id pids.json names but that is not the demo's is never
 * signalled; each test stops what it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEMO_RUN_ENV, DemoPids } from "../cli/demo-pids.js";
import { ExitCode } from "../cli/exit-codes.js";
import { run } from "../cli/main.js";
import {
  bootId,
  environmentHas,
  type ProcessStat,
  processStat,
  stillRunning,
} from "../cli/process-identity.js";
import { waitFor } from "../common/index.js";

const dirs: string[] = [];
/** Every process a test started, stopped after it whatever happened (only while it is still that process). */
const started: ProcessStat[] = [];

afterEach(async () => {
  for (const p of started.splice(0)) if (stillRunning(p)) process.kill(p.pid, "SIGKILL");
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tremesh-demo-stop-"));
  dirs.push(dir);
  return dir;
}

/** Starts `sleep 60` in a process group of its own, as the demo starts each party, and notes it for clean-up. */
function sleeper(env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; stat: ProcessStat } {
  const child = spawn("sleep", ["60"], { detached: true, stdio: "ignore", env });
  const stat = child.pid === undefined ? undefined : processStat(child.pid);
  if (stat === undefined) throw new Error("sleep did not start");
  started.push(stat);
  return { child, stat };
}

async function tremesh(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** A pids.json in the demo's format naming `pid` as the hub, started at `startTicks`. */
async function writePids(dir: string, pid: number, startTicks: number): Promise<void> {
  const processes = [{ name: "hub", pid, startTicks }];
  const data = { format: "tremesh.demo-pids.v1", bootId: bootId(), run: "0123456789abcdef", processes };
  await writeFile(join(dir, "pids.json"), JSON.stringify(data));
}

describe("tremesh demo stop", () => {
  it("takes the folder as --dir DIR too, as `demo --keep --dir DIR` was given it", async () => {
    const dir = await tempDir();
    const other = sleeper();
    await writePids(dir, other.stat.pid, other.stat.startTicks - 1);
    const { code, err } = await tremesh(["demo", "stop", "--dir", dir]);
    expect(err[0]).toMatch(/^tremesh demo stop: no demo federation is running in /);
    expect(code).toBe(ExitCode.badInput);
    expect(stillRunning(other.stat)).toBe(true);
    const twice = await tremesh(["demo", "stop", dir, "--dir", dir]);
    expect(twice.err).toEqual(["tremesh demo stop: one folder, not 2: tremesh demo stop DIR"]);
    expect(twice.code).toBe(ExitCode.usage);
  });

  it("leaves alone a live process whose id a stale pids.json names, and says no demo runs", async () => {
    const dir = await tempDir();
    // The demo's hub had this id once and started earlier; the id now belongs to someone else's process.
    const other = sleeper();
    await writePids(dir, other.stat.pid, other.stat.startTicks - 1);
    const { code, out, err } = await tremesh(["demo", "stop", dir]);
    expect(out).toEqual([]);
    expect(err).toEqual([
      `tremesh demo stop: no demo federation is running in ${dir}: nothing its pids.json named still runs, ` +
        "so nothing was signalled and pids.json is removed",
    ]);
    expect(code).toBe(ExitCode.badInput);
    expect(stillRunning(other.stat)).toBe(true);
    expect(existsSync(join(dir, "pids.json"))).toBe(false);
  });

  it("signals nothing that an older tremesh's pids.json (a bare list of ids) names, and says what to do", async () => {
    const dir = await tempDir();
    const other = sleeper();
    await writeFile(join(dir, "pids.json"), JSON.stringify([other.stat.pid]));
    const { code, err } = await tremesh(["demo", "stop", dir]);
    expect(err).toHaveLength(1);
    expect(err[0]).toContain(
      "was written by an older tremesh and does not say which processes are the demo's",
    );
    expect(err[0]).toContain(`process ids ${other.stat.pid}`);
    expect(code).toBe(ExitCode.badInput);
    expect(stillRunning(other.stat)).toBe(true);
    expect(existsSync(join(dir, "pids.json"))).toBe(true);
  });

  it("stops a process that is still the one the demo recorded, and removes pids.json", async () => {
    const dir = await tempDir();
    const pids = DemoPids.create(dir);
    const hub = sleeper(pids.env());
    await pids.add("hub", hub.stat.pid);
    const exited = once(hub.child, "exit");
    const { code, out, err } = await tremesh(["demo", "stop", dir]);
    expect(err).toEqual([]);
    expect(out).toEqual([`stopped the demo federation in ${dir}: hub (1 process)`]);
    expect(code).toBe(ExitCode.ok);
    expect(await exited).toEqual([null, "SIGTERM"]);
    expect(existsSync(join(dir, "pids.json"))).toBe(false);
  });

  it("stops what a group's ended leader left running when it carries the demo's mark, and nothing else", async () => {
    const dir = await tempDir();
    const pids = DemoPids.create(dir);
    // A leader that starts two children in its group (one without the mark, as a stranger's would be), prints
    // their ids and ends when its stdin closes: as a hub whose nats-server outlives it.
    const leader = spawn(
      "sh",
      ["-c", `sleep 60 & a=$!; env -u ${DEMO_RUN_ENV} sleep 60 & echo "$a $!"; read x`],
      { detached: true, stdio: ["pipe", "pipe", "ignore"], env: pids.env() },
    );
    await pids.add("hub", leader.pid ?? -1);
    const [line] = (await once(leader.stdout!, "data")) as [Buffer];
    const [marked, unmarked] = line
      .toString()
      .trim()
      .split(" ")
      .map((pid) => processStat(Number(pid))!);
    started.push(marked!, unmarked!);
    // `env -u` drops the mark only once it runs sleep in its place.
    await waitFor("the unmarked child to run without the mark", () => {
      const argv = readFileSync(`/proc/${unmarked!.pid}/cmdline`, "utf8").split("\0");
      return argv[0] === "sleep" && !environmentHas(unmarked!.pid, `${DEMO_RUN_ENV}=${pids.run}`);
    });
    leader.stdin!.end();
    await once(leader, "exit");

    const { code, out } = await tremesh(["demo", "stop", dir]);
    expect(out).toEqual([`stopped the demo federation in ${dir}: hub (1 process)`]);
    expect(code).toBe(ExitCode.ok);
    await waitFor("the marked child to end", () => !stillRunning(marked!));
    expect(stillRunning(unmarked!)).toBe(true);
  });
});

describe("tremesh demo --dir on a folder that holds a demo", () => {
  it("refuses a folder whose demo runs, changing nothing and starting nothing", async () => {
    const dir = await tempDir();
    const pids = DemoPids.create(dir);
    const hub = sleeper(pids.env());
    await pids.add("hub", hub.stat.pid);
    const before = await readFile(join(dir, "pids.json"), "utf8");
    const { code, out, err } = await tremesh(["demo", "--keep", "--dir", dir]);
    expect(out).toEqual([]);
    expect(err).toEqual([
      `tremesh demo: ${dir} holds a running demo federation; nothing was changed. Give another --dir, or stop it ` +
        `with \`tremesh demo stop ${dir}\` and remove the folder first`,
    ]);
    expect(code).toBe(ExitCode.failed);
    expect(await readFile(join(dir, "pids.json"), "utf8")).toBe(before);
    expect(await readdir(dir)).toEqual(["pids.json"]);
    expect(stillRunning(hub.stat)).toBe(true);
  });

  it("refuses a folder that holds a stopped demo's federation, changing nothing", async () => {
    const dir = await tempDir();
    const init = await tremesh(["admin", "init", "--dir", join(dir, "admin"), "--host", "127.0.0.1"]);
    expect(init.code).toBe(ExitCode.ok);
    const before = (await readdir(dir)).sort();
    const { code, err } = await tremesh(["demo", "--dir", dir]);
    expect(err).toEqual([
      `tremesh demo: ${dir} already holds a demo federation (${join(dir, "admin")}); nothing was changed. ` +
        "Give another --dir, or remove the folder first",
    ]);
    expect(code).toBe(ExitCode.failed);
    expect((await readdir(dir)).sort()).toEqual(before);
  });
});
