/**
 * Telling reviewers that outputs await them: the TRE operator's own command (run without a shell, the
 * notice as JSON on stdin) and/or a webhook (a JSON POST), as configured in leaf.yaml `review.notify`. The
 * notice names the task, the project, the researcher and each output's check outcome; never a value.
 */
import { spawn } from "node:child_process";

export interface ReviewNotice {
  tre: string;
  taskId: string;
  project: string;
  researcher: string;
  outputs: { outputId: string; name: string; outcome: string }[];
}

export interface ReviewNotifyOptions {
  /** argv of a command to run for each task awaiting review, e.g. ["/usr/local/bin/page-reviewers"]. */
  command?: string[];
  /** URL that receives a JSON POST of the notice. */
  webhook?: string;
  /** Longest a command or webhook may take, in ms. Default 10 000: a stuck notifier must not hold up the agent. */
  timeoutMs?: number;
}

export class NotifyError extends Error {
  override readonly name = "NotifyError";
  constructor(
    readonly channel: "command" | "webhook",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Runs every configured channel; rejects with NotifyError naming the first that failed. */
export async function notifyReviewers(options: ReviewNotifyOptions, notice: ReviewNotice): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const body = JSON.stringify(notice);
  const runs: Promise<void>[] = [];
  if (options.command && options.command.length > 0)
    runs.push(runCommand(options.command, notice, body, timeoutMs));
  if (options.webhook) runs.push(postWebhook(options.webhook, body, timeoutMs));
  const results = await Promise.allSettled(runs);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

function runCommand(argv: string[], notice: ReviewNotice, body: string, timeoutMs: number): Promise<void> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ["pipe", "ignore", "ignore"],
      timeout: timeoutMs,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        TREMESH_TRE: notice.tre,
        TREMESH_TASK_ID: notice.taskId,
        TREMESH_OUTPUTS: String(notice.outputs.length),
      },
    });
    child.on("error", (cause) => reject(new NotifyError("command", `${file} could not run`, { cause })));
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new NotifyError("command", `${file} ended with ${signal ?? `exit code ${code}`}`));
    });
    child.stdin.on("error", () => undefined); // a command that ignores stdin is fine
    child.stdin.end(body);
  });
}

async function postWebhook(url: string, body: string, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    throw new NotifyError("webhook", `the webhook could not be reached`, { cause });
  }
  if (!res.ok) throw new NotifyError("webhook", `the webhook answered HTTP ${res.status}`);
}
