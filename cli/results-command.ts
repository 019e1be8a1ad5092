/**
 * The researcher's side after submitting: `watch` (live per-TRE progress), `results` (each TRE's released
 * outputs, verified), `aggregate` (the verified outputs combined; `--csv`, `--plot FILE.svg`, `--json`).
 * Released files (a container's CSV tables, plots, reports) are listed by both, never combined, and
 * written to disk with `--save-files DIR`.
 */
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type CombinedOutput,
  collectResults,
  combineOutputs,
  fetchTask,
  fileJson,
  HubRequestError,
  renderTables,
  type TaskResults,
  type TreFile,
  textTable,
  toCsv,
  toJson,
  toSvg,
} from "../aggregator/index.js";
import { type ChildView, MAX_QUERY_WAIT_MS, type SigningKey, type TaskView } from "../protocol/index.js";
import { type Command, type Io, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";
import { checkOutputPaths, writeNewFile } from "./output-file.js";
import { printable } from "./printable.js";
import { type Profile, signingKey } from "./profile.js";
import { formatSize, saveReleasedFiles } from "./released-files.js";
import { ReviewWaitHint } from "./review-wait-hint.js";
import { RELEASE_KEPT } from "./status-command.js";
import { taskIdArg } from "./task-id-arg.js";
import {
  childReason,
  childStateText,
  followHint,
  notReleasedLines,
  releasedNothing,
  stillLine,
} from "./task-progress.js";

const ENDED: ReadonlySet<string> = new Set(["completed", "partial", "failed", "cancelled"]);

/** Whether the task has ended at every TRE (its parent state is final). */
export function hasEnded(task: TaskView): boolean {
  return ENDED.has(task.state);
}

/** A `--timeout-ms` value: a whole number of milliseconds, 0 (the default) for no limit. */
export function timeoutArg(command: string, value: string | undefined): number {
  const ms = Number(value ?? 0);
  if (!Number.isInteger(ms) || ms < 0) throw usageError(`${command}: --timeout-ms takes a whole number`);
  return ms;
}

/** Exit code of a task that has ended: its TREs all released (or some did), or none did. */
export function endedCode(task: TaskView): number {
  return task.state === "completed" || task.state === "partial" ? ExitCode.ok : ExitCode.failed;
}

export interface FollowOptions {
  /** How often a hub that gives no view version is asked again, in ms. Default 250. */
  intervalMs?: number;
  /** Give up after this long, in ms, saying what the task still waits on; 0 (the default) for no limit. */
  timeoutMs?: number;
  /** Hears, once per TRE, whose reviewers have not decided after `reviewHintAfterMs` of the follow (ReviewWaitHint). */
  onHint?: (line: string) => void;
  /** How long a TRE awaits review before `onHint` hears of it, in ms. Default REVIEW_HINT_AFTER_MS (60 s). */
  reviewHintAfterMs?: number;
}

/**
 * Follows a task until it ends, calling `onChange` whenever any TRE's state changes. Each request names the view
 * it holds and the hub answers when the task moves on from it (or after a while, unchanged), so a change shows
 * as it happens. A hub that gives no view version is asked again every `intervalMs`.
 */
export async function followTask(
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  onChange: (task: TaskView) => void,
  { intervalMs = 250, timeoutMs = 0, onHint, reviewHintAfterMs }: FollowOptions = {},
): Promise<TaskView> {
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
  const reviewWait = onHint ? new ReviewWaitHint(reviewHintAfterMs) : undefined;
  let last = "";
  let task = await fetchTask(nc, key, taskId);
  for (;;) {
    const now = `${task.state} ${task.children.map((c) => `${c.tre}:${childStateText(c)}`).join(" ")}`;
    if (now !== last) onChange(task);
    last = now;
    if (hasEnded(task)) return task;
    const hint = reviewWait?.due(task);
    if (hint) onHint?.(hint);
    const left = deadline - Date.now();
    if (left <= 0)
      throw new CliError(
        `${stillLine(task, ` after ${timeoutMs} ms`)}; ${followHint(taskId)}`,
        ExitCode.unavailable,
      );
    if (task.version === undefined) await new Promise((r) => setTimeout(r, intervalMs));
    // The hub's answer comes when a review hint falls due, unchanged, so the hint is said on time: no extra polling.
    const waitMs = Math.max(1, Math.min(FOLLOW_WAIT_MS, left, reviewWait?.dueInMs() ?? FOLLOW_WAIT_MS));
    task = await fetchTask(nc, key, taskId, task.version ? { changedFrom: task.version, waitMs } : {}).catch(
      (e: unknown) => {
        throw stoppedAnswering(e, task);
      },
    );
  }
}

/**
 * A hub that stops answering while a task is followed (stopped, restarting) loses nothing of the task, which goes on
 * at the TREs: say so, and how to follow it again, rather than only that the hub did not answer.
 */
function stoppedAnswering(e: unknown, task: TaskView): unknown {
  if (!(e instanceof HubRequestError) || e.code !== "no_answer") return e;
  return new CliError(
    `the hub stopped answering (is it stopped or restarting?) while ${stillLine(task)}; the task goes on at the TREs: once the hub is back, ${followHint(task.taskId)}`,
    ExitCode.unavailable,
    { cause: e },
  );
}

/** How long one request of `followTask` lets the hub wait for a change, in ms. */
const FOLLOW_WAIT_MS = Math.min(20_000, MAX_QUERY_WAIT_MS);

const stateLine = (task: TaskView) =>
  `${task.state.padEnd(10)} ${task.children.map((c) => `${c.tre}: ${childStateText(c)}`).join("  ")}`;

export const watch: Command = {
  usage: "tremesh watch TASK_ID [--timeout-ms N] [--profile FILE] [--json]",
  examples: ["tremesh watch 01JD3…", "tremesh watch 01JD3… --json   # one JSON task view per change"],
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { profile: { type: "string" }, json: { type: "boolean" }, "timeout-ms": { type: "string" } },
    });
    const taskId = taskIdArg("watch", positionals);
    const timeoutMs = timeoutArg("watch", values["timeout-ms"]);
    const live = !values.json && io.tty === true;
    return withHub(values.profile, async (nc, profile) => {
      let drawn = 0;
      const task = await followTask(
        nc,
        signingKey(profile),
        taskId,
        (t) => {
          if (values.json) return io.out(JSON.stringify(t));
          if (!live) return io.out(`${new Date().toISOString()}  ${stateLine(t)}`);
          // On a terminal: redraw one line per TRE in place (cursor up over the last drawing, clear to the end).
          const erase = drawn > 0 ? `\x1b[${drawn}A\x1b[J` : "";
          const lines = [
            `task ${t.taskId}: ${t.state}`,
            ...t.children.map((c) => `  ${c.tre.padEnd(12)} ${childStateText(c)}`),
          ];
          io.out(`${erase}${lines.join("\n")}`);
          drawn = lines.length;
        },
        {
          timeoutMs,
          onHint: (line) => {
            io.err(line);
            drawn = 0; // the next drawing goes below the hint rather than over it
          },
        },
      );
      for (const line of notReleasedLines(task)) io.err(line);
      return endedCode(task);
    });
  },
};

/** How `aggregate` (and `submit --aggregate`) prints the combined outputs, beside `--json`. */
export const aggregateOptions = {
  csv: { type: "boolean" },
  plot: { type: "string" },
  "save-files": { type: "string" },
} as const;

/** The values of `aggregateOptions`, and `--json`. */
export interface AggregateFlags {
  json?: boolean | undefined;
  csv?: boolean | undefined;
  plot?: string | undefined;
  "save-files"?: string | undefined;
}

const resultOptions = {
  profile: { type: "string" },
  json: { type: "boolean" },
  ...aggregateOptions,
} as const;

/** The flags `results` and `aggregate` share, and their one task id. */
function resultArgs(command: string, argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: resultOptions,
  });
  checkAggregateFlags(command, values);
  return { values, taskId: taskIdArg(command, positionals) };
}

/** Refuses aggregate flags that contradict each other or lack their value. */
export function checkAggregateFlags(command: string, values: AggregateFlags): void {
  if (values["save-files"] === "") throw usageError(`${command}: --save-files takes a folder`);
  if (values.csv && values.json) throw usageError(`${command}: give --csv or --json, not both`);
  if (values.plot !== undefined && !values.plot.toLowerCase().endsWith(".svg"))
    throw usageError(`${command}: --plot ${values.plot}: the plot is an SVG image; name its file .svg`);
}

async function gather(
  profileFile: string | undefined,
  taskId: string,
  use: (r: TaskResults) => Promise<number>,
) {
  return withHub(profileFile, async (nc, profile: Profile) =>
    use(await collectResults(nc, signingKey(profile), taskId, profile.treKeys)),
  );
}

/** One line per released file: its name as the TRE gave it (made printable), media type, size and digest. */
function fileLine(f: TreFile): string {
  return `${printable(f.name)}: released file, ${f.mediaType}, ${formatSize(f.data.length)}, sha256 ${f.digest.slice(0, 12)}…`;
}

/** The released files as a table: TRE, name, media type, size and the start of the digest; never their bytes. */
export function releasedFilesTable(files: readonly TreFile[]): string {
  return textTable(
    ["TRE", "name", "media type", "size", "sha256"],
    files.map((f) => [
      f.tre,
      printable(f.name),
      f.mediaType,
      formatSize(f.data.length),
      `${f.digest.slice(0, 12)}…`,
    ]),
  );
}

/** `--save-files DIR`: writes the released files and says where each went (on stderr: stdout may be JSON or CSV). */
async function saveFiles(dir: string | undefined, r: TaskResults, io: Io): Promise<void> {
  if (dir === undefined) return;
  if (r.files.length === 0)
    return io.err(`--save-files: no released files in this task; nothing written to ${dir}`);
  for (const s of await saveReleasedFiles(dir, r.files))
    io.err(`saved ${s.tre}'s ${printable(s.name)} (${formatSize(s.bytes)}) to ${s.path}`);
}

function problems(r: TaskResults, io: Io): void {
  for (const e of r.excluded)
    io.err(`left out: TRE ${e.tre}'s Release does not verify (${e.code}): ${e.reason}`);
  if (r.keysFromHub.length > 0)
    io.err(
      `note: verified ${r.keysFromHub.join(", ")} with keys from the hub; pin them in your profile (treKeys)`,
    );
}

export const results: Command = {
  usage: [
    "tremesh results TASK_ID [--save-files DIR] [--profile FILE] [--json]",
    "",
    `A TRE's Release is ${RELEASE_KEPT}: fetch it any time after the task ends.`,
  ].join("\n"),
  examples: [
    "tremesh results 01JD3…",
    "tremesh results 01JD3… --json | jq '.tres[].outputs'",
    "tremesh results 01JD3… --save-files out   # released files to out/<tre>/<name>",
  ],
  async run(argv, io) {
    const { values, taskId } = resultArgs("results", argv);
    await checkOutputPaths("results", { saveFiles: values["save-files"], plot: values.plot });
    return gather(values.profile, taskId, async (r) => {
      if (values.json) {
        io.out(JSON.stringify(resultsJson(r), null, 2));
      } else {
        io.out(`task ${taskId}: ${r.task.state}`);
        for (const child of r.task.children) {
          const release = r.accepted.find((a) => a.tre === child.tre);
          io.out("");
          io.out(`== ${child.tre}: ${child.state}${treReason(child)}`);
          for (const o of release?.outputs ?? []) {
            io.out(`-- ${o.name} (released${o.autoReleased ? " by the TRE's auto-release policy" : ""})`);
            io.out(renderTables(combineOutputs([{ tre: child.tre, output: o.output }])));
          }
          for (const f of r.files.filter((x) => x.tre === child.tre)) io.out(`-- ${fileLine(f)}`);
          for (const w of release?.withheld ?? []) io.out(`-- ${w.name}: withheld — ${w.reason}`);
        }
        problems(r, io);
      }
      await saveFiles(values["save-files"], r, io);
      return r.accepted.length > 0 ? ExitCode.ok : ExitCode.failed;
    });
  },
};

/** " — the TRE's reason" after the state of a TRE that released nothing, as `tremesh status` shows it. */
function treReason(child: ChildView): string {
  if (!releasedNothing(child)) return "";
  return ` — ${childReason(child) ?? "no reason given"}`;
}

function resultsJson(r: TaskResults) {
  return {
    taskId: r.task.taskId,
    state: r.task.state,
    tres: r.task.children.map((c) => {
      const release = r.accepted.find((a) => a.tre === c.tre);
      return {
        tre: c.tre,
        state: c.state,
        outputs: (release?.outputs ?? []).map((o) => ({
          outputId: o.outputId,
          name: o.name,
          digest: o.digest,
          autoReleased: o.autoReleased,
          output: o.output,
        })),
        files: r.files.filter((f) => f.tre === c.tre).map(fileJson),
        withheld: release?.withheld ?? [],
      };
    }),
    excluded: r.excluded,
    keysFromHub: r.keysFromHub,
  };
}

/** The JSON `aggregate --json` prints (and `tremesh demo --json` embeds per analysis). */
export function aggregateJson(r: TaskResults) {
  return {
    taskId: r.task.taskId,
    state: r.task.state,
    outputs: r.combined.map((c: CombinedOutput) => ({
      name: c.name,
      ...(c.result ? { result: JSON.parse(toJson(c.result)) as unknown } : {}),
      ...(c.error ? { error: c.error } : {}),
    })),
    // Released files are not combined: listed beside the combined outputs, never with their bytes.
    files: r.files.map(fileJson),
    withheld: r.accepted.flatMap((a) => a.withheld.map((w) => ({ tre: a.tre, ...w }))),
    excluded: r.excluded,
    keysFromHub: r.keysFromHub,
  };
}

export const aggregate: Command = {
  usage: "tremesh aggregate TASK_ID [--csv] [--plot FILE.svg] [--save-files DIR] [--profile FILE] [--json]",
  examples: [
    "tremesh aggregate 01JD3…",
    "tremesh aggregate 01JD3… --csv > result.csv",
    "tremesh aggregate 01JD3… --plot age.svg          # histograms and regression coefficients",
    "tremesh aggregate 01JD3… --save-files out        # released files (tables, plots) to out/<tre>/<name>",
  ],
  async run(argv, io) {
    const { values, taskId } = resultArgs("aggregate", argv);
    await checkOutputPaths("aggregate", { saveFiles: values["save-files"], plot: values.plot });
    return gather(values.profile, taskId, (r) => printAggregate(r, values, io));
  },
};

/**
 * What the combined outputs stand for when not every TRE released, for stderr: a task still running (what it waits
 * on, what was combined so far), or one that ended with TREs that released nothing (each with its reason). Empty
 * when every TRE released.
 */
export function outcomeLines(r: TaskResults): string[] {
  const { task } = r;
  const released = [...new Set(r.accepted.map((a) => a.tre))];
  const combined = released.length > 0 ? `combined what ${released.join(", ")} released` : undefined;
  const reasons = notReleasedLines(task);
  if (!hasEnded(task)) {
    const sofar = combined ? `${combined} so far` : "nothing to combine yet";
    return [`${stillLine(task)}; ${sofar}; ${followHint(task.taskId)}`, ...reasons];
  }
  if (reasons.length === 0) return [];
  const ended =
    task.state === "failed" ? "failed" : task.state === "cancelled" ? "was cancelled" : `is ${task.state}`;
  return [`task ${task.taskId} ${ended}: ${combined ?? "nothing to combine"}`, ...reasons];
}

/**
 * Prints a task's combined outputs as `flags` ask (tables, `--csv`, `--json`; `--plot`, `--save-files` written),
 * with what was left out on stderr. Exit 0 when something was delivered: a combined output or a released file.
 */
export async function printAggregate(r: TaskResults, flags: AggregateFlags, io: Io): Promise<number> {
  if (flags.json) {
    io.out(JSON.stringify(aggregateJson(r), null, 2));
  } else if (flags.csv) {
    for (const c of r.combined) if (c.result) io.out(toCsv(c.result).trimEnd());
  } else {
    for (const c of r.combined) {
      io.out(`== ${c.name}`);
      io.out(c.result ? renderTables(c.result) : `cannot combine: ${c.error?.message}`);
      io.out("");
    }
    if (r.files.length > 0) {
      io.out("== released files (not combined)");
      io.out(releasedFilesTable(r.files));
      io.out("");
    }
    for (const a of r.accepted)
      for (const w of a.withheld) io.out(`withheld at ${a.tre}: ${w.name} — ${w.reason}`);
  }
  if (flags.csv && r.files.length > 0 && !flags["save-files"])
    io.err(`note: ${r.files.length} released file(s) are not in the CSV; --save-files DIR writes them`);
  // Whatever the format: which TREs the result lacks, and why, is in no output format but this.
  for (const line of outcomeLines(r)) io.err(line);
  if (!flags.json) problems(r, io);
  await saveFiles(flags["save-files"], r, io);
  if (flags.plot) {
    const svg = r.combined.map((c) => (c.result ? toSvg(c.result) : null)).find((s) => s !== null);
    if (!svg) throw new CliError("--plot: no histogram or regression to plot", ExitCode.failed);
    await writeNewFile(flags.plot, svg);
    if (!flags.json) io.err(`plot written to ${flags.plot}`);
  }
  // A task whose only released outputs are files (a container's tables and plots) still delivered something.
  return r.combined.some((c) => c.result) || r.files.length > 0 ? ExitCode.ok : ExitCode.failed;
}
