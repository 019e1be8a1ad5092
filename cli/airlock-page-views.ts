/**
 * The reviewer's page's views: the queue of tasks awaiting this reviewer, the decided history, and one task
 * with each output as a table (flagged cells highlighted), its releasable form beside it, and the decision
 * forms. Every form carries the session's CSRF token.
 */
import type { AirlockDecisionView, AirlockOutputView, AirlockTaskView } from "../protocol/index.js";
import { csvPreview } from "./airlock-page-csv.js";
import { outputTable } from "./airlock-page-tables.js";
import { decodedOutput } from "./decoded-output.js";
import { type Html, html, when } from "./page-html.js";

/** Whether this reviewer still has a decision to make on the output. */
export function awaitsReviewer(o: AirlockOutputView, reviewer: string): boolean {
  return o.state === "pending" && !o.decisions.some((d) => d.reviewer === reviewer);
}

/**
 * Why an output left undecided can no longer be decided: its task ended at this TRE without review (cancelled),
 * and the airlock refuses every decision on it. Undefined while the task awaits review, or once the output is decided.
 */
export function undecidable(task: AirlockTaskView, o: AirlockOutputView): string | undefined {
  if (o.state !== "pending" || task.state === "outputs_pending_review") return undefined;
  return `Never decided: the task is ${task.state} at this TRE, so nothing of it is released and no decision can be made.`;
}

/** The queue's rows (the part the page refreshes while it is open). */
export function queueRows(tasks: readonly AirlockTaskView[], reviewer: string): Html {
  const waiting = tasks.filter(
    (t) => t.state === "outputs_pending_review" && t.outputs.some((o) => awaitsReviewer(o, reviewer)),
  );
  if (waiting.length === 0) return html`<p class="empty">Nothing awaits your review.</p>`;
  return html`<table class="queue">
<thead><tr><th>task</th><th>project</th><th>researcher</th><th>analysis</th><th>held</th><th>outputs and checks</th></tr></thead>
<tbody>${waiting.map(
    (t) => html`<tr data-task="${t.taskId}">
<td><a href="/task/${t.taskId}">${t.title ?? t.taskId}</a><br><code>${t.taskId}</code></td>
<td>${t.project}</td><td>${t.researcher}</td><td>${t.kind}</td><td>${when(t.heldAt)}</td>
<td>${t.outputs.map(
      (o) =>
        html`<span class="chip outcome-${o.outcome}">${o.name}: ${o.outcome}${o.state === "pending" ? "" : ` (${o.state})`}</span> `,
    )}</td></tr>`,
  )}</tbody></table>`;
}

export function queuePage(tasks: readonly AirlockTaskView[], reviewer: string): Html {
  return html`<h1>Awaiting your review</h1>
<section id="queue" data-refresh="/queue" aria-live="polite">${queueRows(tasks, reviewer)}</section>
<p><a href="/history">Decided tasks</a></p>`;
}

export function historyPage(tasks: readonly AirlockTaskView[]): Html {
  // A task that ended before every output was decided (cancelled) is history too: nothing of it awaits anyone.
  const decided = tasks.filter(
    (t) => t.state !== "outputs_pending_review" || t.outputs.every((o) => o.state !== "pending"),
  );
  return html`<h1>Decided tasks</h1>
${
  decided.length === 0
    ? html`<p class="empty">No decided tasks yet.</p>`
    : html`<table class="queue"><thead><tr><th>task</th><th>project</th><th>researcher</th><th>state</th><th>outputs</th></tr></thead><tbody>${decided.map(
        (t) => html`<tr><td><a href="/task/${t.taskId}">${t.title ?? t.taskId}</a></td><td>${t.project}</td>
<td>${t.researcher}</td><td>${t.state}</td><td>${t.outputs.map((o) => html`<span class="chip state-${o.state}">${o.name}: ${undecidable(t, o) ? "never decided" : o.state}</span> `)}</td></tr>`,
      )}</tbody></table>`
}
<p><a href="/">Back to the queue</a></p>`;
}

/** The rounding base the TRE applies, as its releasable forms say; the default (5) when none says. */
function roundingBase(task: AirlockTaskView): number {
  for (const o of task.outputs) {
    const safe = decodedOutput(o.releasable);
    if (safe && "rounding" in safe && safe.rounding) return safe.rounding;
  }
  return 5;
}

function filePreview(task: AirlockTaskView, o: AirlockOutputView): Html {
  if (!o.data || !/^(text\/|application\/json$)/.test(o.mediaType))
    return html`<p>${o.mediaType}, ${o.size} bytes: no preview; review the file itself.</p>`;
  const text = Buffer.from(o.data).toString("utf8");
  if (o.mediaType.startsWith("text/csv") || o.name.endsWith(".csv"))
    return csvPreview(text, roundingBase(task));
  return html`<pre class="file">${text.split("\n").slice(0, 200).join("\n")}</pre>`;
}

function decisionForms(task: AirlockTaskView, o: AirlockOutputView, csrf: string, reviewer: string): Html {
  const ended = undecidable(task, o);
  if (ended) return html`<p class="problem">${ended}</p>`;
  if (!awaitsReviewer(o, reviewer)) return html``;
  const action = `/task/${task.taskId}/output/${o.outputId}/decide`;
  const hidden = html`<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="seen" value="${o.digest}">`;
  return html`<div class="decide">
${
  o.releasableDigest
    ? html`<form method="post" action="${action}" class="release-checked">${hidden}<input type="hidden" name="decision" value="release-checked">
<button type="submit">Release the checked form</button></form>`
    : html`<p>The checks could not make a releasable form.</p>`
}
<form method="post" action="${action}" class="release-as-is">${hidden}<input type="hidden" name="decision" value="release-as-is">
<label>Reason for releasing it as it is <input name="reason" required maxlength="2000"></label>
<button type="submit">Release as it is</button></form>
<form method="post" action="${action}" class="reject">${hidden}<input type="hidden" name="decision" value="reject">
<label>Reason for rejecting <input name="reason" required maxlength="2000"></label>
<button type="submit">Reject</button></form>
</div>`;
}

/** What the reviewers signed: the checked form, or the output as it is (an override), or a rejection. */
function verdictWords(o: AirlockOutputView, d: AirlockDecisionView): string {
  if (d.verdict === "reject") return "rejected";
  return d.digest === o.digest && o.digest !== o.releasableDigest
    ? "released as it is"
    : "released the checked form";
}

/**
 * Approvals of different bytes on a pending output: the reviewers disagree, and a further reviewer's decision
 * settles it (the airlock releases bytes only when enough reviewers approved the same ones).
 */
export function isConflicted(o: AirlockOutputView): boolean {
  return o.state === "pending" && new Set(o.decisions.map((d) => `${d.verdict}:${d.digest}`)).size > 1;
}

/**
 * The decisions so far. Reviews are independent: while this reviewer has yet to decide, the airlock sends only
 * the number of the others' decisions (`hidden`), unless they already disagree, when it sends the conflict for
 * a further decision to settle.
 */
function decisionsSoFar(o: AirlockOutputView): Html {
  if (o.hidden)
    return html`<p class="blinded">${o.hidden} other reviewer${o.hidden === 1 ? " has" : "s have"} decided; their decision is hidden until you decide.</p>`;
  if (o.decisions.length === 0) return html``;
  const conflicted = isConflicted(o);
  return html`${conflicted ? html`<p class="conflicted">Conflicted: the reviewers disagree; a further reviewer's decision settles it.</p>` : ""}
<ul class="decisions">${o.decisions.map(
    (d) =>
      html`<li>${when(d.at)} <b>${d.reviewer}</b>: ${verdictWords(o, d)}${d.reason ? html` — ${d.reason}` : ""}</li>`,
  )}</ul>`;
}

function outputSection(task: AirlockTaskView, o: AirlockOutputView, csrf: string, reviewer: string): Html {
  const original = decodedOutput(o.data);
  const safe = decodedOutput(o.releasable);
  const whole = o.findings.filter((f) => !f.at);
  return html`<section class="output-view" id="output-${o.outputId}" data-output="${o.name}">
<h2>${o.name} <span class="chip outcome-${o.outcome}">checks: ${o.outcome}</span> <span class="chip state-${o.state}">${undecidable(task, o) ? "never decided" : o.state}</span></h2>
<p class="meta"><code>${o.outputId}</code> · ${o.size} bytes · sha256 <code>${o.digest.slice(0, 16)}…</code></p>
${whole.length ? html`<ul class="findings">${whole.map((f) => html`<li class="flag-${f.outcome}"><span class="rule">${f.rule}</span> ${f.detail}</li>`)}</ul>` : ""}
<div class="side-by-side">
<div><h3>As the executor made it</h3>${original ? html`${outputTable(original, o.findings)}<details><summary>the analysis</summary><pre>${JSON.stringify(original.analysis, null, 2)}</pre></details>` : filePreview(task, o)}</div>
<div><h3>Releasable form</h3>${
    safe
      ? o.releasableDigest === o.digest
        ? html`<p>Identical: the checks changed nothing.</p>`
        : outputTable(safe)
      : o.releasableDigest
        ? html`<p>Identical to the file on the left.</p>`
        : html`<p class="problem">None: reject it, or release it as it is with a reason.</p>`
  }</div>
<div class="decision"><h3>Decision</h3>
${decisionsSoFar(o)}
${decisionForms(task, o, csrf, reviewer)}</div>
</div>
</section>`;
}

export function taskPage(task: AirlockTaskView, csrf: string, reviewer: string): Html {
  return html`<h1>${task.title ?? `Task ${task.taskId}`}</h1>
<p class="meta">task <code>${task.taskId}</code> · project <b>${task.project}</b> · researcher <b>${task.researcher}</b> · ${task.kind} · held ${when(task.heldAt)} · state ${task.state}</p>
${task.outputs.map((o) => outputSection(task, o, csrf, reviewer))}
<p><a href="/">Back to the queue</a></p>`;
}
