/**
 * The researcher's page's submission form: the same checks as `tremesh submit` (project and TRE names, the
 * analysis validated field by field), each error shown at its field; the hub's refusal shown above the form.
 */
import type { SubmitOptions } from "../aggregator/index.js";
import { analysisSpec, FieldError, isTreName, PROJECT_NAME, TITLE } from "../protocol/index.js";
import { type Html, html } from "./page-html.js";

export interface SubmitForm {
  project: string;
  tres: string;
  title: string;
  analysis: string;
}

export type FieldErrors = Partial<Record<keyof SubmitForm | "hub", string>>;

const text = (v: unknown) => (typeof v === "string" ? v : "");

export function readSubmitForm(body: Record<string, unknown>): SubmitForm {
  return {
    project: text(body.project).trim(),
    tres: text(body.tres).trim(),
    title: text(body.title).trim(),
    analysis: text(body.analysis),
  };
}

/** The submission the form asks for, or the error of each field that is wrong. */
export function checkSubmitForm(
  f: SubmitForm,
): { ok: true; submission: SubmitOptions } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  if (!PROJECT_NAME.test(f.project)) errors.project = `${JSON.stringify(f.project)} is not a project name`;
  const tres = f.tres
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  const badTre = tres.find((t) => !isTreName(t));
  if (tres.length === 0) errors.tres = "name at least one TRE (a,b,…)";
  else if (badTre !== undefined) errors.tres = `${JSON.stringify(badTre)} is not a TRE name`;
  if (f.title.length > 200) errors.title = "at most 200 characters";
  else if (!TITLE.test(f.title)) errors.title = "one line of text, without control or formatting characters";
  let analysis: SubmitOptions["analysis"] | undefined;
  try {
    analysis = analysisSpec(JSON.parse(f.analysis), "analysis");
  } catch (cause) {
    if (cause instanceof SyntaxError) errors.analysis = `not JSON: ${cause.message}`;
    else if (cause instanceof FieldError) errors.analysis = cause.message;
    else throw cause;
  }
  if (!analysis || Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    submission: { project: f.project, tres, analysis, ...(f.title ? { title: f.title } : {}) },
  };
}

const EXAMPLE = '{ "kind": "count", "dataset": "patients", "groupBy": ["region"] }';

export function submitFormView(csrf: string, f: SubmitForm | undefined, errors: FieldErrors = {}): Html {
  const error = (field: keyof FieldErrors) =>
    errors[field]
      ? html`<span class="field-error" data-field="${field}" role="alert">${errors[field]}</span>`
      : "";
  return html`<form method="post" action="/submit" class="submit">
<h2>Submit an analysis</h2>
${error("hub")}
<input type="hidden" name="csrf" value="${csrf}">
<label>Project <input name="project" required value="${f?.project ?? ""}"></label>${error("project")}
<label>TREs (comma-separated) <input name="tres" required value="${f?.tres ?? ""}"></label>${error("tres")}
<label>Title <input name="title" maxlength="200" value="${f?.title ?? ""}"></label>${error("title")}
<label>Analysis (JSON, as <code>tremesh submit</code> reads it)<textarea name="analysis" rows="6" cols="70" required placeholder="${EXAMPLE}">${f?.analysis ?? ""}</textarea></label>${error("analysis")}
<button type="submit">Submit</button>
</form>`;
}
