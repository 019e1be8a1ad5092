/**
 * `tremesh demo`: the whole federation on this machine with one command. A hub and three TREs (north:
 * DuckDB, south: Parquet, valley: CSV; different synthetic patients each), each its own process started
 * from its own config files, and one Podman service they share as their container engine; a researcher
 * runs one analysis of each kind across all three, one of them a TES task in a container; the airlocks
 * check every output (auto-release on; the demo plays the reviewers); the researcher verifies and combines
 * the Releases and sees per-TRE and combined tables and the released files. Then everything is stopped —
 * or, with `--keep`, left running as a sandbox. Where Podman cannot run, the container analysis is skipped.
 */
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { renderTables } from "../aggregator/index.js";
import { type Command, type Io, usageError } from "./command.js";
import { writeCombinedCrate } from "./crate-command.js";
import { type DemoContainerStart, startDemoContainerEngine } from "./demo-container.js";
import {
  DEMO_TRES,
  type DemoFederation,
  demoProcesses,
  startDemoLeaves,
  writeDemoFederation,
} from "./demo-federation.js";
import { type DemoPages, startDemoPages } from "./demo-pages.js";
import { DemoPids } from "./demo-pids.js";
import { type DemoStopped, refuseUsedDemoFolder, stopDemo, stopDemoIn } from "./demo-stop.js";
import { type DemoAnalysisResult, runDemoSuite, waitForProfile } from "./demo-suite.js";
import { ExitCode } from "./exit-codes.js";
import { aggregateJson, releasedFilesTable } from "./results-command.js";

export const DEMO_JSON_FORMAT = "tremesh.demo.v1";

export const demo: Command = {
  usage: "tremesh demo [--json] [--keep] [--dir DIR]\n       tremesh demo stop DIR",
  examples: [
    "tremesh demo",
    "tremesh demo --json > demo.json     # every figure, and where each TRE's data file is",
    "tremesh demo --keep --dir /tmp/fed  # leave the federation running to try tremesh by hand",
    "tremesh demo stop /tmp/fed",
  ],
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { json: { type: "boolean" }, keep: { type: "boolean" }, dir: { type: "string" } },
    });
    if (positionals[0] === "stop") {
      // `--dir DIR` as well as `DIR`: the folder was given to `demo --keep` as --dir, and is typed again that way.
      const given = [...positionals.slice(1), ...(values.dir === undefined ? [] : [values.dir])];
      const dir = given[0];
      if (!dir || given.length !== 1)
        throw usageError(
          given.length > 1
            ? `demo stop: one folder, not ${given.length}: tremesh demo stop DIR`
            : "demo stop: the demo's folder is required: tremesh demo stop DIR",
        );
      io.out(stoppedLine(dir, await stopDemoIn(resolve(dir))));
      return ExitCode.ok;
    }
    if (positionals.length > 0) throw usageError(`demo: unexpected ${JSON.stringify(positionals[0])}`);

    const started = Date.now();
    const dir = values.dir ? resolve(values.dir) : await mkdtemp(join(tmpdir(), "tremesh-demo-"));
    // Before anything is written or started: a folder that holds a demo already is left exactly as it is.
    if (values.dir) await refuseUsedDemoFolder(dir);
    // Every process group started, in order; recorded in pids.json as each starts.
    const pids = DemoPids.create(dir);
    // Owner-only, as a --dir folder may not be: patient data, logs and secrets live here.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const say = values.json ? () => {} : (line: string) => io.out(line);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await stopDemo(pids);
    };
    // Ctrl-C while the demo runs still stops every process it started.
    const onSignal = () => void stop().finally(() => process.exit(130));
    process.once("SIGINT", onSignal);
    // Podman starts and builds the demo image while the TREs' data files are written (about a second sooner).
    const engineStarting = startDemoContainerEngine({ dir, pids });
    try {
      const containers = engineStarting.then((e) => (e.ok ? e.containers : undefined));
      containers.catch(() => undefined); // awaited below; a failure before then must not be unhandled
      const processes = demoProcesses({ dir, pids });
      const written = await writeDemoFederation(dir, containers, async ([hubConfig], adminProfile) => {
        await processes.start("hub", ["hub", "start", "--config", hubConfig!]);
        await Promise.race([waitForProfile(adminProfile, 30_000), processes.died]);
      });
      const engine = await engineStarting;
      // On stderr with --json: stdout stays the JSON document.
      if (!engine.ok) (values.json ? io.err : say)(`skipping the container analysis: ${engine.reason}`);
      const fed: DemoFederation = { ...written, pids };
      await startDemoLeaves(fed, processes);
      say(`files in ${dir}`);
      const results = await Promise.race([runDemoSuite(fed, say), processes.died]);
      // The researcher's combined Five Safes RO-Crate of each analysis, beside the federation's files.
      const crates = new Map<string, string>();
      for (const r of results) {
        const path = join(dir, "crates", `${r.taskId}-combined.zip`);
        if (await writeCombinedCrate(r.results, fed.files.trePublicKeys, path)) crates.set(r.taskId, path);
      }
      if (values.json)
        io.out(
          JSON.stringify(
            demoJson(fed, engine, results, crates, values.keep === true, Date.now() - started),
            null,
            2,
          ),
        );
      else printResults(results, crates, io, values.keep === true || values.dir !== undefined);
      if (values.keep) printKeep(fed, await startDemoPages(fed, processes), io, values.json === true);
      else if (!values.json)
        io.out(`done in ${((Date.now() - started) / 1000).toFixed(1)} s; stopping the federation`);
      const ok = results.every(
        (r) => r.results.excluded.length === 0 && r.results.combined.some((c) => c.result),
      );
      return ok ? ExitCode.ok : ExitCode.failed;
    } finally {
      process.off("SIGINT", onSignal);
      // Podman is in `pids` only once it has started: wait for that before stopping everything.
      await engineStarting.catch(() => undefined);
      if (!values.keep) {
        await stop();
        if (!values.dir) await rm(dir, { recursive: true, force: true });
      }
    }
  },
};

/** `demo stop`'s report: what was running and is stopped now, and what had ended before. */
function stoppedLine(dir: string, stopped: DemoStopped): string {
  const ended = stopped.ended.length > 0 ? `; ${stopped.ended.join(", ")} had ended before` : "";
  const processes = `${stopped.processes} process${stopped.processes === 1 ? "" : "es"}`;
  return `stopped the demo federation in ${dir}: ${stopped.names.join(", ")} (${processes})${ended}`;
}

function printResults(
  results: DemoAnalysisResult[],
  crates: ReadonlyMap<string, string>,
  io: Io,
  kept: boolean,
): void {
  for (const r of results) {
    io.out("");
    io.out(`━━ ${r.title}  (task ${r.taskId}: ${r.task.state})`);
    for (const c of r.results.combined)
      io.out(c.result ? renderTables(c.result) : `cannot combine: ${c.error?.message}`);
    if (r.results.files.length > 0) io.out(`released files:\n${releasedFilesTable(r.results.files)}`);
    for (const a of r.results.accepted)
      for (const w of a.withheld) io.out(`withheld at ${a.tre}: ${w.name} — ${w.reason}`);
    for (const e of r.results.excluded)
      io.out(`left out: ${e.tre}'s Release does not verify (${e.code}): ${e.reason}`);
    const crate = crates.get(r.taskId);
    if (crate)
      io.out(`Five Safes RO-Crate: ${kept ? crate : `${crate} (removed with the demo: --dir DIR keeps it)`}`);
  }
  io.out("");
}

function printKeep(fed: DemoFederation, pages: DemoPages, io: Io, json: boolean): void {
  // The command as this process was started (`node …/bin/tremesh.mjs`): `tremesh` need not be on the PATH.
  const self = `node ${process.argv[1] ?? "bin/tremesh.mjs"}`;
  const lines = [
    "",
    "The federation is still running:",
    `  hub            ${fed.files.hubClientUrl}   config ${fed.files.hubConfig}`,
    ...DEMO_TRES.map(
      (t) =>
        `  TRE ${t.tre.padEnd(10)} ${fed.files.leafClientUrls[t.tre]}   config ${fed.files.leafConfigs[t.tre]}`,
    ),
    ...(fed.containers
      ? [`  containers     unix://${fed.containers.socketPath}   image ${fed.containers.image}`]
      : []),
    ...Object.entries(fed.files.profiles).map(([who, path]) => `  profile ${who.padEnd(20)} ${path}`),
    `  logs           ${join(fed.dir, "logs")}`,
    `  review page    ${pages.review.url}   (${pages.review.reviewer}'s; each link works once)`,
    `  researcher     ${pages.researcher.url}   (${pages.researcher.researcher}'s page)`,
    "",
    `Try:   export TREMESH_PROFILE=${fed.files.profiles.alice}; ${self} tres`,
    `Stop:  ${self} demo stop ${fed.dir}`,
  ];
  for (const l of lines) (json ? io.err : io.out)(l);
}

/**
 * The documented `--json` document: the federation's files and data, its container engine and image (or
 * why there is none), and every analysis's combined result and released files.
 */
function demoJson(
  fed: DemoFederation,
  engine: DemoContainerStart,
  results: DemoAnalysisResult[],
  crates: ReadonlyMap<string, string>,
  kept: boolean,
  elapsedMs: number,
) {
  return {
    format: DEMO_JSON_FORMAT,
    dir: fed.dir,
    kept,
    elapsedMs,
    hub: { url: fed.files.hubClientUrl, config: fed.files.hubConfig },
    tres: fed.data.map((d) => ({
      tre: d.tre,
      url: fed.files.leafClientUrls[d.tre],
      config: fed.files.leafConfigs[d.tre],
      publicKey: fed.files.trePublicKeys[d.tre],
      data: d,
    })),
    profiles: fed.files.profiles,
    containers: engine.ok
      ? { socket: engine.containers.socketPath, image: engine.containers.image }
      : { skipped: engine.reason },
    analyses: results.map((r) => ({
      title: r.title,
      analysis: r.analysis,
      taskId: r.taskId,
      state: r.task.state,
      reviews: r.reviews,
      aggregate: aggregateJson(r.results),
      crate: crates.get(r.taskId) ?? null,
    })),
  };
}
