/**
 * One TRE's part of a task's crate: tremesh's life cycle at that TRE on the profile's phases, with times
 * from the hub's record of the TRE's signed status events and from the reviewers' signed decisions.
 * - Check (shp#CheckValue): the hub's submission service verified the researcher's signed Submission
 *   (until `queued`); the TRE's agent verified the hub-signed Dispatch against its pinned hub key
 *   (until `received`).
 * - Validation (shp#ValidationCheck): the agent validated the analysis against its schema and the
 *   TRE's column allow-list (until `accepted`).
 * - Sign-off (shp#SignOff): the TRE's own approvals (leaf.yaml) of project, researcher and analysis.
 * - Workflow retrieval (DownloadAction): the built-in analysis definition (or the pinned image),
 *   resolved before `running`.
 * - Execution (CreateAction): `running` until `outputs_pending_review` (or `executor_error`).
 * - Disclosure (shp#DisclosureCheck): the airlock's automated checks, then one action per reviewer
 *   decision, each approving decision's signed envelope kept beside the output it released.
 * Withheld outputs appear by name only (a CreativeWork `#withheld-TRE-N` with the reason, the object of the
 * decisions that withheld it): no value, no digest.
 */
import { uniqueSafeNames } from "../protocol/index.js";
import { type CrateGraph, type Entity, ref, rfc3339, SHP, STATUS } from "./crate-graph.js";
import type { CrateDecision, CrateOutput, CrateRelease, ResultsCrateInput } from "./crate-input.js";
import { FIVE_SAFES_PROFILE } from "./profile-iri.js";
import { ED25519, type TaskIds } from "./task-entities.js";

/** The media type of a signed tremesh envelope kept in a crate. */
export const ENVELOPE_TYPE = "application/vnd.tremesh.envelope+msgpack";

export interface TrePart {
  /** The actions the root must mention. */
  actions: string[];
  /** The crate paths of the released outputs, by output id. */
  outputs: Map<string, string>;
}

/**
 * Adds one TRE's phases and released outputs; `dir` prefixes its files (`a/` in a combined crate, so
 * every TRE's outputs keep their own folder).
 */
export function addTrePhases(
  g: CrateGraph,
  files: Map<string, Uint8Array>,
  task: ResultsCrateInput["task"],
  release: CrateRelease,
  ids: TaskIds,
  spec: Record<string, unknown> | undefined,
  dir: string,
): TrePart {
  const history = task.children.find((c) => c.tre === release.tre)?.history ?? [];
  const at = (state: string) => history.find((e) => e.state === state)?.at;
  const when = (...states: string[]) => states.map(at).find((t) => t !== undefined);
  const tre = treId(release.tre);
  const agent = `#tre-${release.tre}-agent`;
  const actions: string[] = [];
  const action = (e: Entity) => {
    actions.push(g.add({ object: ref("./"), ...e }));
  };
  g.add({
    "@id": tre,
    "@type": "Organization",
    name: `TRE ${release.tre}`,
    identifier: `nkey:${release.treKey}`,
  });
  g.add({
    "@id": agent,
    "@type": "SoftwareApplication",
    name: `tremesh leaf agent of TRE ${release.tre}`,
    provider: ref(tre),
  });
  const localId = `#project-${task.project}-at-${release.tre}`;
  g.add({ "@id": localId, "@type": "PropertyValue", name: release.tre, value: task.project });
  g.append(ids.project, "identifier", ref(localId));

  // Check phase: the hub's and the TRE's verification of the signed requests.
  const queued = when("queued") ?? task.submittedAt;
  const received = when("received") ?? queued;
  const accepted = when("accepted", "running") ?? received;
  action({
    "@id": `#check-submission-${task.taskId}`,
    "@type": "AssessAction",
    additionalType: ref(`${SHP}CheckValue`),
    name: "Researcher-signed Submission verified by the hub: signature, identity, project membership",
    startTime: rfc3339(task.submittedAt),
    endTime: rfc3339(Math.max(queued, task.submittedAt)),
    instrument: ref(ED25519),
    agent: ref(ids.hub),
    actionStatus: STATUS.completed,
  });
  action({
    "@id": `#check-dispatch-${release.tre}`,
    "@type": "AssessAction",
    additionalType: ref(`${SHP}CheckValue`),
    name: `Hub-signed Dispatch verified by TRE ${release.tre} against its pinned hub key`,
    startTime: rfc3339(queued),
    endTime: rfc3339(received),
    instrument: ref(ED25519),
    agent: ref(agent),
    actionStatus: STATUS.completed,
  });
  action({
    "@id": `#validate-${release.tre}`,
    "@type": "AssessAction",
    additionalType: ref(`${SHP}ValidationCheck`),
    name: `Analysis validated by TRE ${release.tre} against its schema and the TRE's column allow-list: accepted`,
    startTime: rfc3339(received),
    endTime: rfc3339(accepted),
    instrument: ref(FIVE_SAFES_PROFILE),
    agent: ref(agent),
    actionStatus: STATUS.completed,
  });
  const policy = `#tre-${release.tre}-approvals`;
  g.add({
    "@id": policy,
    "@type": "CreativeWork",
    name: `TRE ${release.tre}'s own approvals of projects, researchers and analyses (leaf.yaml)`,
  });
  action({
    "@id": `#signoff-${release.tre}`,
    "@type": "AssessAction",
    additionalType: ref(`${SHP}SignOff`),
    name: `Sign-off by TRE ${release.tre} of project ${task.project}, researcher ${task.researcher} and the ${task.kind} analysis: approved`,
    startTime: rfc3339(received),
    endTime: rfc3339(accepted),
    object: [ref("./"), ref(ids.workflow), ref(ids.project)],
    instrument: ref(policy),
    agent: ref(tre),
    actionStatus: STATUS.completed,
  });
  const running = when("running") ?? accepted;
  action({
    "@id": `#download-${release.tre}`,
    "@type": "DownloadAction",
    name:
      task.kind === "container"
        ? `Container image resolved by TRE ${release.tre} from its allow-list, its digest verified`
        : `Built-in ${task.kind} analysis definition resolved by TRE ${release.tre}`,
    startTime: rfc3339(accepted),
    endTime: rfc3339(running),
    object: ref(ids.definition),
    result: ref(ids.retrieved),
    agent: ref(agent),
    actionStatus: STATUS.completed,
  });

  // Execution: the inputs are the analysis parameters, the results the released outputs.
  const inputs = inputEntities(g, spec ?? { kind: task.kind });
  const outputIds = outputEntities(g, files, release.outputs, dir);
  const ended = when("outputs_pending_review");
  const failedAt = when("executor_error");
  action({
    "@id": `#run-${release.tre}`,
    "@type": "CreateAction",
    name: `Run of the ${task.kind} analysis of task ${task.taskId} at TRE ${release.tre}`,
    startTime: rfc3339(running),
    ...((ended ?? failedAt) ? { endTime: rfc3339((ended ?? failedAt) as number) } : {}),
    agent: ref(ids.researcher),
    instrument: ref(ids.workflow),
    object: inputs.map(ref),
    result: [...outputIds.values()].map(ref),
    actionStatus: failedAt !== undefined ? STATUS.failed : STATUS.completed,
  });

  // Disclosure: the automated checks, then each reviewer's decision.
  const reviewed = ended ?? running;
  action({
    "@id": `#disclosure-checks-${release.tre}`,
    "@type": "AssessAction",
    additionalType: ref(`${SHP}DisclosureCheck`),
    name: `Automated disclosure checks of the outputs at TRE ${release.tre}`,
    description: automatedChecks(release.outputs),
    startTime: rfc3339(reviewed),
    endTime: rfc3339(reviewed),
    agent: ref(agent),
    actionStatus: STATUS.completed,
  });
  const decisionFiles = decisionEntities(g, files, release, outputIds, dir);
  const withheldIds = withheldEntities(g, release);
  release.decisions.forEach((d, i) => {
    const output = release.outputs.find((o) => o.outputId === d.outputId);
    const withheld = release.withheld.find((w) => w.outputId === d.outputId);
    const label = output?.name ?? withheld?.name ?? "an output";
    const reviewerName = release.reviewers.get(d.signer);
    const by = d.signer === release.treKey ? agent : reviewerEntity(g, d.signer, reviewerName, tre);
    const decisionFile = decisionFiles.get(i);
    action({
      "@id": `#disclosure-decision-${release.tre}-${i + 1}`,
      "@type": "AssessAction",
      additionalType: ref(`${SHP}DisclosureCheck`),
      name: `Disclosure review of ${label}: ${d.verdict === "reject" ? "rejected, withheld" : output ? "approved, released" : "approved, but withheld"}${d.signer === release.treKey ? " (the TRE's auto-release policy)" : ""}`,
      ...(d.reason ? { description: d.reason } : {}),
      startTime: rfc3339(reviewed),
      endTime: rfc3339(Math.max(d.iat, reviewed)),
      object: [
        ref("./"),
        ...[outputIds.get(d.outputId) ?? withheldIds.get(d.outputId)].flatMap((id) => (id ? [ref(id)] : [])),
      ],
      ...(decisionFile ? { subjectOf: ref(decisionFile) } : {}),
      agent: ref(by),
      actionStatus: STATUS.completed,
    });
  });

  return { actions, outputs: outputIds };
}

/** The id of a TRE's Organization entity. */
export const treId = (tre: string) => `#tre-${tre}`;

/** One PropertyValue per analysis parameter (`dataset`, `filters`…), each an example of a FormalParameter. */
function inputEntities(g: CrateGraph, spec: Record<string, unknown>): string[] {
  // Without a released output description (a container's files), the Release does not say the analysis's
  // parameters: the kind is then the one input the crate can state.
  const known = Object.keys(spec).some((k) => k !== "kind");
  return Object.entries(spec)
    .filter(([k]) => k !== "kind" || !known)
    .map(([k, v]) => {
      g.add({ "@id": `#parameter-${k}`, "@type": "FormalParameter", name: k });
      return g.add({
        "@id": `#input-${k}`,
        "@type": "PropertyValue",
        name: k,
        value: typeof v === "string" ? v : JSON.stringify(v),
        exampleOfWork: ref(`#parameter-${k}`),
      });
    });
}

/** The released outputs as files under `outputs/`, their bytes as released; returns crate path by output id. */
function outputEntities(
  g: CrateGraph,
  files: Map<string, Uint8Array>,
  outputs: readonly CrateOutput[],
  dir: string,
) {
  const names = uniqueSafeNames(outputs.map((o) => o.name));
  const paths = new Map<string, string>();
  outputs.forEach((o, i) => {
    const path = `outputs/${dir}${names[i]}`;
    files.set(path, o.data);
    paths.set(o.outputId, path);
    g.add({
      "@id": path,
      "@type": "File",
      name: o.name,
      encodingFormat: o.mediaType,
      contentSize: String(o.data.length),
      identifier: `sha256:${o.digest}`,
    });
  });
  return paths;
}

/**
 * The withheld outputs, by the name the Release gives them and the reason only: never a value, a digest or a
 * file. `withheldOf` reads them back.
 */
function withheldEntities(g: CrateGraph, release: CrateRelease): Map<string, string> {
  const ids = new Map<string, string>();
  release.withheld.forEach((w, i) => {
    ids.set(
      w.outputId,
      g.add({
        "@id": `${WITHHELD}${release.tre}-${i + 1}`,
        "@type": "CreativeWork",
        name: w.name,
        description: `Withheld by TRE ${release.tre}; not in this crate: ${w.reason}`,
      }),
    );
  });
  return ids;
}

const WITHHELD = "#withheld-";

/** The names of the outputs a crate lists as withheld, from its metadata. */
export function withheldOf(metadata: unknown): string[] {
  const graph = (metadata as { "@graph"?: unknown })?.["@graph"];
  if (!Array.isArray(graph)) return [];
  return graph.flatMap((e) => {
    const entity = e as { "@id"?: unknown; name?: unknown };
    return typeof entity["@id"] === "string" &&
      entity["@id"].startsWith(WITHHELD) &&
      typeof entity.name === "string"
      ? [entity.name]
      : [];
  });
}

/** The signed Decision envelopes of released outputs as files under `evidence/`; by decision index. */
function decisionEntities(
  g: CrateGraph,
  files: Map<string, Uint8Array>,
  release: CrateRelease,
  outputPaths: ReadonlyMap<string, string>,
  dir: string,
): Map<number, string> {
  const kept = new Map<number, string>();
  release.decisions.forEach((d: CrateDecision, i) => {
    const output = outputPaths.get(d.outputId);
    if (output === undefined || d.verdict !== "approve") return; // a withheld output's decision stays out
    const path = `evidence/${dir}decision-${i + 1}.envelope`;
    files.set(path, d.envelope);
    kept.set(i, path);
    g.add({
      "@id": path,
      "@type": "File",
      name: `Signed decision releasing ${output}`,
      encodingFormat: ENVELOPE_TYPE,
      about: ref(output),
    });
  });
  return kept;
}

function reviewerEntity(g: CrateGraph, key: string, name: string | undefined, tre: string): string {
  return g.add({
    "@id": `#reviewer-${key}`,
    "@type": "Person",
    name: name ?? `reviewer ${key.slice(0, 8)}…`,
    identifier: `nkey:${key}`,
    affiliation: ref(tre),
  });
}

/** What the airlock's automated checks did to each released output description, in words. */
function automatedChecks(outputs: readonly CrateOutput[]): string {
  const lines = outputs.map((o) => {
    const d = o.description as { suppressed?: unknown[]; rounding?: number } | undefined;
    if (!d) return `${o.name}: a file, reviewed as it is`;
    const parts = [
      d.suppressed?.length ? `${d.suppressed.length} value(s) suppressed` : "no value suppressed",
      d.rounding ? `counts rounded to a multiple of ${d.rounding}` : "",
    ].filter(Boolean);
    return `${o.name}: ${parts.join(", ")}`;
  });
  return lines.length > 0 ? lines.join("; ") : "no output was released";
}
