import { parseArgs } from "node:util";
import { cancelTask, fetchTask, fetchTres, listTasks } from "../aggregator/index.js";
import type { TaskView } from "../protocol/index.js";
import type { Command } from "./command.js";
import { ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";
import { printable } from "./printable.js";
import { signingKey } from "./profile.js";
import { taskIdArg } from "./task-id-arg.js";
import { unregisteredKeyText } from "./task-progress.js";

const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

/** Child states after which a Release of that TRE is held at the hub for the researcher to fetch. */
const RELEASED = new Set(["released", "partially_released", "delivered"]);

/**
 * Where a released TRE's outputs are, and for how long: the hub copies each verified Release into its RELEASES
 * bucket, which has no age limit, so it stays there until the federation admin removes it (docs/operations.md).
 */
export const RELEASE_KEPT = "kept at the hub with no expiry (until the federation admin removes it)";

/**
 * A task's parent state, then each TRE's state and history: who, when, why. A TRE on its second or later run of
 * the task says which; a TRE's claim the hub cannot back (a `released` with no Release stored) is shown as such, and
 * so is a TRE whose messages the hub refuses (it signs with a key the federation did not register).
 */
function taskLines(task: TaskView): string[] {
  const lines = [
    `task     ${task.taskId}  ${task.kind}${task.title ? ` — ${printable(task.title)}` : ""}`,
    `project  ${task.project}   researcher ${task.researcher}   submitted ${iso(task.submittedAt)}`,
    `state    ${task.state}`,
  ];
  for (const child of task.children) {
    const attempt = child.attempt !== undefined && child.attempt > 1 ? ` (attempt ${child.attempt})` : "";
    lines.push("", `  ${child.tre}: ${child.state}${attempt}`);
    if (child.discrepancy) lines.push(`    discrepancy: ${printable(child.discrepancy)}`);
    if (child.unregisteredKey)
      lines.push(`    not moving: ${unregisteredKeyText(child.tre, child.unregisteredKey)}`);
    for (const h of child.history) {
      const run = h.attempt !== undefined && h.attempt > 1 ? ` [attempt ${h.attempt}]` : "";
      lines.push(
        `    ${iso(h.at)}  ${h.state.padEnd(22)} ${printable(h.actor)}${run}${h.reason ? ` — ${printable(h.reason)}` : ""}`,
      );
    }
    if (RELEASED.has(child.state))
      lines.push(`    release: ${RELEASE_KEPT}; fetch it with tremesh results ${task.taskId}`);
  }
  return lines;
}

/** One line per task: id, state, each TRE's state, project, kind and title. */
function listLine(task: TaskView): string {
  const tres = task.children.map((c) => `${c.tre}:${c.state}`).join(" ");
  return `${task.taskId}  ${task.state.padEnd(10)} ${tres}   ${task.project}  ${task.kind}${task.title ? ` — ${printable(task.title)}` : ""}`;
}

const common = { profile: { type: "string" }, json: { type: "boolean" } } as const;

export const status: Command = {
  usage: [
    "tremesh status [TASK_ID] [--profile FILE] [--json]",
    "",
    "Shows a TRE's attempt when it runs the task again (after an agent restart or a retryable failure), and a",
    "discrepancy when a TRE reported released but the hub holds no Release from it, and why a TRE's part cannot move",
    "when the hub refuses that TRE's messages (it signs with a key the federation did not register). A released",
    `TRE's Release is ${RELEASE_KEPT}.`,
  ].join("\n"),
  examples: [
    "tremesh status 01JD3…",
    "tremesh status 01JD3… --json | jq '.children[].state'",
    "tremesh status                # your 50 most recent tasks, the newest first",
  ],
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: common,
    });
    if (positionals.length === 0)
      return withHub(values.profile, async (nc, profile) => {
        const tasks = await listTasks(nc, signingKey(profile));
        if (values.json) io.out(JSON.stringify(tasks, null, 2));
        else if (tasks.length === 0) io.out("no tasks of yours");
        else for (const t of tasks) io.out(listLine(t));
        return ExitCode.ok;
      });
    const taskId = taskIdArg("status", positionals);
    return withHub(values.profile, async (nc, profile) => {
      const task = await fetchTask(nc, signingKey(profile), taskId);
      if (values.json) io.out(JSON.stringify(task, null, 2));
      else for (const line of taskLines(task)) io.out(line);
      return ExitCode.ok;
    });
  },
};

export const cancel: Command = {
  usage: "tremesh cancel TASK_ID [--reason TEXT] [--profile FILE] [--json]",
  examples: ['tremesh cancel 01JD3… --reason "wrong dataset"'],
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { ...common, reason: { type: "string" } },
    });
    const taskId = taskIdArg("cancel", positionals);
    return withHub(values.profile, async (nc, profile) => {
      const key = signingKey(profile);
      // Which TREs were asked before: a second cancel says so, rather than that it sent one anew (text only).
      const before = values.json ? undefined : await fetchTask(nc, key, taskId).catch(() => undefined);
      const asked = new Set(before?.children.filter((c) => c.state === "cancel_requested").map((c) => c.tre));
      const tres = await cancelTask(nc, key, taskId, values.reason);
      if (values.json) io.out(JSON.stringify({ taskId, cancelRequested: tres }));
      else {
        const fresh = tres.filter((t) => !asked.has(t));
        const again = tres.filter((t) => asked.has(t));
        if (fresh.length > 0) io.out(`cancel sent to ${fresh.join(", ")}`);
        if (again.length > 0)
          io.out(
            `cancel already sent to ${again.join(", ")}; ${again.length === 1 ? "that TRE has" : "those TREs have"} not stopped the task yet`,
          );
        io.err(
          `each TRE stops the task once the cancel reaches it (one that is offline, when it next links); \`tremesh watch ${taskId}\` follows it`,
        );
      }
      return ExitCode.ok;
    });
  },
};

export const tres: Command = {
  usage: "tremesh tres [--profile FILE] [--json]",
  examples: ["tremesh tres"],
  async run(argv, io) {
    const { values } = parseArgs({ args: argv, strict: true, options: common });
    return withHub(values.profile, async (nc, profile) => {
      const list = await fetchTres(nc, signingKey(profile));
      if (values.json) io.out(JSON.stringify(list, null, 2));
      else
        for (const t of list) {
          const seen = t.lastSeen === undefined ? "never heard from" : `last heartbeat ${iso(t.lastSeen)}`;
          io.out(
            `${t.tre.padEnd(12)} ${t.online ? "online " : "offline"}  ${seen}${t.running ? `  running ${t.running}` : ""}`,
          );
          const u = t.unregisteredKey;
          if (u)
            io.out(`             ${unregisteredKeyText(t.tre, u.publicKey)} (refused at ${iso(u.lastSeen)})`);
        }
      return ExitCode.ok;
    });
  },
};
