/**
 * `tremesh airlock …`: a TRE reviewer's view of the outputs held inside their TRE, and their signed decisions.
 * Runs with a reviewer's leaf profile (`leaf:`, `tre:`, `user:`, `passwordFile:`, `signingKeyFile:`); every
 * request is signed with the reviewer's key, and the agent checks it against the TRE's reviewers.
 */
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AirlockOutputView, AirlockTaskView } from "../protocol/index.js";
import { writeTreCrate } from "./airlock-crate.js";
import { pathLabels } from "./airlock-page-tables.js";
import { fetchCrate, listReviews, sendDecision, showReview } from "./airlock-requests.js";
import { airlockServe, serveUsage } from "./airlock-serve.js";
import { type Command, type Io, usageError } from "./command.js";
import { decodedOutput } from "./decoded-output.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";
import { printable } from "./printable.js";
import { type Profile, signingKey } from "./profile.js";
import { renderOutput } from "./render-output.js";
import { taskIdArg } from "./task-id-arg.js";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** The verbs `tremesh airlock` takes (`serve` is read before the others' flags). */
const AIRLOCK_VERBS = ["list", "show", "approve", "reject", "crate"] as const;
const isAirlockVerb = (verb: string): verb is (typeof AIRLOCK_VERBS)[number] =>
  (AIRLOCK_VERBS as readonly string[]).includes(verb);

const options = {
  profile: { type: "string" },
  json: { type: "boolean" },
  all: { type: "boolean" },
  outputs: { type: "string" },
  reason: { type: "string" },
  "as-is": { type: "boolean" },
  out: { type: "string" },
} as const;

export const airlock: Command = {
  usage: [
    "tremesh airlock list [--all] [--profile FILE] [--json]",
    "tremesh airlock show TASK_ID [--profile FILE] [--json]",
    "tremesh airlock approve TASK_ID [--outputs ID|NAME,…] [--as-is --reason TEXT] [--profile FILE] [--json]",
    "tremesh airlock reject TASK_ID --reason TEXT [--outputs ID|NAME,…] [--profile FILE] [--json]",
    "tremesh airlock crate TASK_ID --out FILE.zip|DIR [--profile FILE] [--json]",
    serveUsage,
  ].join("\n       "),
  examples: [
    "tremesh airlock list --profile reviewer.profile.yaml",
    "tremesh airlock show 01JD3…",
    "tremesh airlock approve 01JD3…                      # releases each output's checked, releasable form",
    'tremesh airlock approve 01JD3… --outputs summary.json --as-is --reason "aggregate of 40 practices"',
    'tremesh airlock reject 01JD3… --reason "cells of 3 patients"',
    "tremesh airlock crate 01JD3… --out crates/   # the TRE's signed crate: crates/<task>-<tre>.zip",
    "tremesh airlock serve --profile reviewer.profile.yaml   # prints http://127.0.0.1:8765/login?token=…",
  ],
  async run(argv, io) {
    const [verb, ...rest] = argv;
    if (verb === "serve") return airlockServe(rest, io);
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true, options });
    if (verb === undefined || !isAirlockVerb(verb))
      throw usageError(
        `airlock: ${verb === undefined ? "name a verb" : `unknown verb ${JSON.stringify(verb)}`}: list, show, approve, reject, crate or serve`,
      );
    if (verb === "list") {
      if (positionals.length > 0) throw usageError("airlock list: takes no task id");
      return session(values.profile, async (nc, profile, tre) => {
        const tasks = await listReviews(nc, signingKey(profile), tre, values.all === true);
        if (values.json) io.out(JSON.stringify(tasks.map(withoutBytes), null, 2));
        else listLines(tasks, io);
        return ExitCode.ok;
      });
    }
    const taskId = taskIdArg(`airlock ${verb}`, positionals);
    if (verb === "show") {
      return session(values.profile, async (nc, profile, tre) => {
        const task = await showReview(nc, signingKey(profile), tre, taskId);
        if (values.json) io.out(JSON.stringify(showJson(task), null, 2));
        else showLines(task, io);
        return ExitCode.ok;
      });
    }
    if (verb === "crate") {
      const out = values.out;
      if (!out) throw usageError("airlock crate: --out FILE.zip or --out DIR is required");
      return session(values.profile, async (nc, profile, tre) => {
        const written = await writeTreCrate(await fetchCrate(nc, signingKey(profile), tre, taskId), {
          taskId,
          tre,
          out,
        });
        if (values.json) io.out(JSON.stringify({ taskId, crates: [written] }, null, 2));
        else {
          io.out(`${tre}: crate written to ${written.path} (${written.bytes} bytes)`);
          if (written.withheld.length > 0)
            io.out(`withheld, in the crate by name only: ${written.withheld.map(printable).join(", ")}`);
        }
        return ExitCode.ok;
      });
    }
    if (verb === "reject" && !values.reason?.trim()) throw usageError("airlock reject: --reason is required");
    if (values["as-is"] && verb === "reject") throw usageError("airlock reject: --as-is is for approve");
    if (values["as-is"] && !values.reason?.trim())
      throw usageError(
        "airlock approve --as-is: --reason is required (it overrides the disclosure treatment)",
      );
    return session(values.profile, async (nc, profile, tre) => {
      const key = signingKey(profile);
      const task = await showReview(nc, key, tre, taskId);
      const chosen = pick(task, values.outputs);
      const results: AirlockOutputView[] = [];
      for (const o of chosen) {
        let digest = o.digest;
        if (verb === "approve" && !values["as-is"]) {
          if (!o.releasableDigest) {
            throw new CliError(
              `${o.name}: the checks could not make a releasable form; reject it, or approve it --as-is with a --reason`,
              ExitCode.failed,
            );
          }
          digest = o.releasableDigest;
        }
        results.push(
          await sendDecision(nc, key, {
            tre,
            taskId,
            outputId: o.outputId,
            outputDigest: digest,
            verdict: verb,
            ...(values.reason?.trim() ? { reason: values.reason.trim() } : {}),
          }),
        );
      }
      if (values.json) io.out(JSON.stringify(results, null, 2));
      else for (const r of results) io.out(`${r.name}  ${r.outputId}  ${r.state}${awaiting(r)}`);
      return ExitCode.ok;
    });
  },
};

function session(
  profileFile: string | undefined,
  action: (nc: NatsConnection, profile: Profile, tre: string) => Promise<number>,
): Promise<number> {
  return withHub(profileFile, (nc, profile) => action(nc, profile, profile.tre ?? ""), { server: "leaf" });
}

/** The outputs named by `--outputs` (ids or names), or every output still pending. */
function pick(task: AirlockTaskView, list: string | undefined): AirlockOutputView[] {
  if (list === undefined) {
    const pending = task.outputs.filter((o) => o.state === "pending");
    if (pending.length === 0)
      throw new CliError(`task ${task.taskId} has no output awaiting a decision`, ExitCode.failed);
    return pending;
  }
  return list.split(",").map((wanted) => {
    const found = task.outputs.find((o) => o.outputId === wanted.trim() || o.name === wanted.trim());
    if (!found)
      throw usageError(`--outputs: task ${task.taskId} has no output ${JSON.stringify(wanted.trim())}`);
    return found;
  });
}

function awaiting(o: AirlockOutputView): string {
  if (o.state !== "pending") return "";
  const approvals = o.decisions.filter((d) => d.verdict === "approve").length;
  return approvals > 0 ? ` (${approvals} approval(s) so far; another reviewer must approve)` : "";
}

function withoutBytes(task: AirlockTaskView): AirlockTaskView {
  return { ...task, outputs: task.outputs.map(({ data: _d, releasable: _r, ...o }) => o) };
}

function listLines(tasks: AirlockTaskView[], io: Io): void {
  if (tasks.length === 0) {
    io.out("nothing awaits review");
    return;
  }
  for (const t of tasks) {
    io.out(
      `${t.taskId}  ${t.state}  project ${t.project}  researcher ${t.researcher}  ${t.kind}  held ${iso(t.heldAt)}`,
    );
    for (const o of t.outputs)
      io.out(
        `  ${o.name.padEnd(24)} ${o.outputId}  checks ${o.outcome.padEnd(6)}  ${o.state === "pending" && t.state !== "outputs_pending_review" ? "never decided" : o.state}`,
      );
  }
}

/**
 * `show --json`: everything the text view shows. A tremesh output as its description; any other held file (a
 * container's table, text, plot) as its bytes in base64, and as text too when it is text, so a tool built on
 * `--json` can show the reviewer what they approve.
 */
function showJson(task: AirlockTaskView): unknown {
  return {
    ...task,
    outputs: task.outputs.map(({ data, releasable, ...o }) => {
      const output = decodedOutput(data);
      const file =
        data && !output
          ? {
              contentBase64: Buffer.from(data).toString("base64"),
              ...(isText(o.mediaType) ? { text: Buffer.from(data).toString("utf8") } : {}),
            }
          : undefined;
      return { ...o, output, ...(file ? { file } : {}), releasableOutput: decodedOutput(releasable) };
    }),
  };
}

const isText = (mediaType: string) => /^(text\/|application\/json$)/.test(mediaType);

function showLines(task: AirlockTaskView, io: Io): void {
  io.out(`task     ${task.taskId}  ${task.kind}${task.title ? ` — ${printable(task.title)}` : ""}`);
  io.out(
    `project  ${task.project}   researcher ${task.researcher}   state ${task.state}   held ${iso(task.heldAt)}`,
  );
  for (const o of task.outputs) {
    io.out("");
    io.out(`── ${o.name}  ${o.outputId}  (${o.size} bytes, sha256 ${o.digest.slice(0, 12)}…)`);
    const ended = o.state === "pending" && task.state !== "outputs_pending_review";
    io.out(
      `   checks: ${o.outcome.toUpperCase()}   state: ${ended ? `never decided: the task is ${task.state} here, so nothing of it is released and no decision can be made` : o.state}`,
    );
    const original = decodedOutput(o.data);
    // A finding names its cell by path (`cells[8]`) and by the row the table below shows it in.
    const labels = original ? pathLabels(original) : new Map<string, string>();
    for (const f of o.findings) {
      const label = f.at ? labels.get(f.at) : undefined;
      const where = f.at ? `${f.at}${label === undefined ? "" : ` (${printable(label)})`}` : "(whole output)";
      io.out(`   ${f.outcome.padEnd(6)} ${f.rule.padEnd(12)} ${where}: ${f.detail}`);
    }
    const safe = decodedOutput(o.releasable);
    if (original) {
      io.out("");
      io.out("   as the executor made it:");
      for (const line of renderOutput(original)) io.out(`     ${line}`);
    } else if (o.data) {
      io.out("");
      io.out(`   ${o.mediaType}: not a tremesh output description; review the file itself`);
      for (const line of textPreview(o.mediaType, o.data)) io.out(`     ${line}`);
    }
    if (safe && o.releasableDigest !== o.digest) {
      io.out("");
      io.out("   releasable form (approve releases this):");
      for (const line of renderOutput(safe)) io.out(`     ${line}`);
    } else if (!o.releasableDigest) {
      io.out("");
      io.out("   no releasable form: reject it, or approve --as-is with a reason");
    }
    for (const d of o.decisions)
      io.out(`   ${iso(d.at)}  ${d.reviewer}: ${d.verdict}${d.reason ? ` — ${d.reason}` : ""}`);
    if (o.hidden)
      io.out(
        `   ${o.hidden} other reviewer(s) decided; the airlock shows their decisions once you have decided (independent reviews)`,
      );
  }
}

const PREVIEW_LINES = 40;

/**
 * The first lines of a text file, for the reviewer to read in place; control and formatting characters
 * are shown as escapes (`printable`), so a file cannot act on the reviewer's terminal. Nothing for other media types.
 */
function textPreview(mediaType: string, data: Uint8Array): string[] {
  if (!isText(mediaType)) return [];
  const lines = Buffer.from(data).toString("utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const shown = lines.slice(0, PREVIEW_LINES).map((l) => `| ${printable(l)}`);
  if (lines.length > PREVIEW_LINES) shown.push(`… ${lines.length - PREVIEW_LINES} more lines`);
  return shown;
}
