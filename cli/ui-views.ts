/**
 * The researcher's page's views: their tasks with each TRE's state (refreshed while open); a task's state at each
 * TRE with who, when and why (the part the page refreshes until the task ends), and, once it has ended, the combined tables (withheld and rounded cells as bounds, as
 * `tremesh aggregate` prints them), plots, released files and the TREs' reasons for what they withheld.
 */
import { renderTables, type TaskResults, toSvg } from "../aggregator/index.js";
import type { TaskView } from "../protocol/index.js";
import { type Html, html, when } from "./page-html.js";
import { hasEnded } from "./results-command.js";
import { unregisteredKeyText } from "./task-progress.js";
import { type FieldErrors, type SubmitForm, submitFormView } from "./ui-submit.js";

/** The researcher's tasks with each TRE's state (the part of the home page that refreshes while it is open). */
export function taskRows(tasks: readonly TaskView[]): Html {
  if (tasks.length === 0)
    return html`<p class="empty">No tasks of yours yet: submit one below, or with <code>tremesh submit</code>.</p>`;
  return html`<table class="queue tasks"><thead><tr><th>task</th><th>project</th><th>state</th><th>at each TRE</th><th>submitted</th></tr></thead><tbody>${tasks.map(
    (t) =>
      html`<tr data-task="${t.taskId}"><td><a href="/task/${t.taskId}">${t.title ?? t.taskId}</a><br><code>${t.taskId}</code></td><td>${t.project}</td><td class="state">${t.state}</td><td>${t.children.map(
        (c) => html`<span class="chip state-${c.state}">${c.tre}: ${c.state}</span> `,
      )}</td><td>${when(t.submittedAt)}</td></tr>`,
  )}</tbody></table>`;
}

/** The researcher's tasks (the newest, as the hub lists them), a task opened by id, and the submission form. */
export function homePage(
  tasks: readonly TaskView[],
  csrf: string,
  form?: SubmitForm,
  errors?: FieldErrors,
): Html {
  return html`<h1>Your tasks</h1>
<section id="tasks" data-refresh="/tasks" aria-live="polite">${taskRows(tasks)}</section>
<form method="get" action="/open" class="open"><label>An older task, by its id <input name="task" required pattern="[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}" size="30"></label>
<button type="submit">Open</button></form>
${submitFormView(csrf, form, errors)}`;
}

function states(task: TaskView): Html {
  return html`<p>Task state: <b class="parent-state">${task.state}</b></p>
<table class="queue states"><thead><tr><th>TRE</th><th>state</th><th>history: when, state, who, why</th></tr></thead><tbody>${task.children.map(
    (c) =>
      html`<tr data-tre="${c.tre}"><th scope="row">${c.tre}</th><td class="state">${c.state}</td><td>${c.unregisteredKey ? html`<p class="problem">Not moving: ${unregisteredKeyText(c.tre, c.unregisteredKey)}</p>` : ""}<ul class="history">${c.history.map(
        (h) =>
          html`<li>${when(h.at)} <b>${h.state}</b> ${h.actor}${h.reason ? html` — ${h.reason}` : ""}</li>`,
      )}</ul></td></tr>`,
  )}</tbody></table>`;
}

function results(r: TaskResults): Html {
  // A task that ended with nothing released (every TRE refused or failed it) says so, as `tremesh aggregate` does,
  // rather than show an empty heading.
  const nothing =
    r.combined.length === 0 && r.files.length === 0
      ? html`<p class="empty">Nothing to combine: no TRE released a result. Each TRE's history above says why.</p>`
      : "";
  return html`<section data-final>
<h2>Combined results</h2>
${nothing}${r.combined.map(
  (c, i) =>
    html`<h3>${c.name}</h3>${
      c.result
        ? html`<pre class="combined">${renderTables(c.result)}</pre>${toSvg(c.result) ? html`<img class="plot" alt="plot of ${c.name}" src="/task/${r.task.taskId}/plot/${i}.svg">` : ""}`
        : html`<p class="problem">Cannot combine: ${c.error?.message ?? "unknown"}</p>`
    }`,
)}
${
  r.files.length
    ? html`<h2>Released files</h2><ul class="files">${r.files.map(
        (f, i) =>
          html`<li><a href="/task/${r.task.taskId}/file/${i}" download>${f.tre}: ${f.name}</a> (${f.mediaType}, ${f.data.length} bytes, sha256 <code>${f.digest.slice(0, 12)}…</code>)</li>`,
      )}</ul>`
    : ""
}
${r.accepted.flatMap((a) => a.withheld.map((w) => html`<p class="withheld">Withheld at ${a.tre}: ${w.name} — ${w.reason}</p>`))}
${r.excluded.map((e) => html`<p class="problem">Left out: ${e.tre}'s Release does not verify (${e.code}): ${e.reason}</p>`)}
</section>`;
}

/** The live part of a task's page: states until the task ends, then states and results. */
export function taskLive(task: TaskView, r: TaskResults | undefined): Html {
  return html`${states(task)}${hasEnded(task) && r ? results(r) : html`<p class="waiting">Waiting for the TREs; this page follows them.</p>`}`;
}

export function taskPage(task: TaskView, r: TaskResults | undefined): Html {
  return html`<h1>${task.title ?? `Task ${task.taskId}`}</h1>
<p class="meta">task <code>${task.taskId}</code> · project <b>${task.project}</b> · ${task.kind} · submitted ${when(task.submittedAt)} · TREs ${task.tres.join(", ")}</p>
<section id="live" ${hasEnded(task) ? "" : html`data-refresh="/task/${task.taskId}/live" data-version="${task.version ?? ""}"`}>${taskLive(task, r)}</section>
<p><a href="/">Your tasks</a></p>`;
}
