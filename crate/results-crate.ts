/**
 * A TRE's results crate for one task, as the researcher assembles it from verified data: a Five Safes
 * RO-Crate 0.4 on RO-Crate 1.2 recording every review phase, with the released outputs as its payload.
 *
 * tremesh's life cycle on the profile's phases (times from the hub's record of the TRE's signed status
 * events, and from the reviewers' signed decisions):
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
 *   decision, each decision's signed envelope kept beside the output it released.
 * - Publishing: `datePublished`, `publisher` (the TRE), `license`, and the UpdateAction
 *   (shp#GenerateCheckValue) of the BagIt manifests.
 * Withheld outputs appear by name only, in their reviewers' decisions: no value, no digest.
 */
import { uniqueSafeNames } from "../protocol/index.js";
import { CrateGraph, type Entity, ref, rfc3339, SHP, STATUS } from "./crate-graph.js";
import type { CrateDecision, CrateOutput, ResultsCrateInput } from "./crate-input.js";
import { FIVE_SAFES_PROFILE } from "./profile-validator.js";

export interface BuiltCrate {
  /** The `ro-crate-metadata.json` document. */
  metadata: ReturnType<CrateGraph["toJson"]>;
  /** Every payload file besides the metadata, by its path in the crate. */
  files: Map<string, Uint8Array>;
}

const SHA512 = "https://www.iana.org/assignments/named-information#sha-512";
const ED25519 = "https://www.rfc-editor.org/rfc/rfc8032#ed25519";
const ENVELOPE_TYPE = "application/vnd.tremesh.envelope+msgpack";

/** The Workflow RO-Crate id tremesh gives each built-in analysis kind (and the container kind). */
export const analysisWorkflowId = (kind: string) => `urn:tremesh:analysis:${kind}:1`;

export function buildResultsCrate(input: ResultsCrateInput): BuiltCrate {
  const { task, release } = input;
  const g = new CrateGraph();
  const files = new Map<string, Uint8Array>();
  const history = task.children.find((c) => c.tre === release.tre)?.history ?? [];
  const at = (state: string) => history.find((e) => e.state === state)?.at;
  const when = (...states: string[]) => states.map(at).find((t) => t !== undefined);
  const tre = `#tre-${release.tre}`;
  const agent = `#tre-${release.tre}-agent`;
  const hub = "#hub-submission-service";
  const project = `#project-${task.project}`;
  const researcher = `#researcher-${task.researcher}`;
  const workflow = analysisWorkflowId(task.kind);
  const definition = `${workflow}:definition`;
  const retrieved = `workflow/${task.kind}/`;
  const actions: string[] = [];
  const action = (e: Entity) => {
    actions.push(g.add({ object: ref("./"), ...e }));
  };

  g.add({
    "@id": "ro-crate-metadata.json",
    "@type": "CreativeWork",
    about: ref("./"),
    conformsTo: ref("https://w3id.org/ro/crate/1.2"),
  });
  g.add({ "@id": FIVE_SAFES_PROFILE, "@type": "Profile", name: "Five Safes RO-Crate profile 0.4" });

  // The parties: researcher, project, the TRE and its agent, the hub.
  const affiliation = `#affiliation-${task.researcher}`;
  g.add({
    "@id": affiliation,
    "@type": "Organization",
    name: `Organisation of researcher ${task.researcher} (tremesh does not record it)`,
  });
  g.add({
    "@id": researcher,
    "@type": "Person",
    name: task.researcher,
    affiliation: ref(affiliation),
    memberOf: ref(project),
  });
  const localId = `#project-${task.project}-at-${release.tre}`;
  g.add({ "@id": localId, "@type": "PropertyValue", name: release.tre, value: task.project });
  g.add({
    "@id": project,
    "@type": "Project",
    name: task.project,
    identifier: [ref(localId)],
    member: [ref(affiliation)],
  });
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
  g.add({ "@id": "#hub", "@type": "Organization", name: "tremesh federation hub" });
  g.add({
    "@id": hub,
    "@type": "SoftwareApplication",
    name: "tremesh hub submission service",
    provider: ref("#hub"),
  });
  g.add({ "@id": SHA512, "@type": "DefinedTerm", name: "sha-512 algorithm" });
  g.add({ "@id": ED25519, "@type": "DefinedTerm", name: "Ed25519 signature (tremesh signed envelope)" });

  // The analysis as a workflow, and its retrieval.
  const spec = release.outputs.find((o) => o.description)?.description?.analysis;
  g.add({
    "@id": workflow,
    "@type": "Dataset",
    name: `tremesh ${task.kind} analysis`,
    conformsTo: ref("https://w3id.org/workflowhub/workflow-ro-crate/1.0"),
    distribution: ref(definition),
  });
  g.add({
    "@id": definition,
    "@type": "DataDownload",
    name: `tremesh ${task.kind} analysis definition`,
    encodingFormat: "application/json",
  });
  files.set(`${retrieved}analysis.json`, utf8(`${JSON.stringify(spec ?? { kind: task.kind }, null, 2)}\n`));
  g.add({ "@id": `${retrieved}analysis.json`, "@type": "File", name: "The analysis as the TRE ran it" });
  g.add({
    "@id": retrieved,
    "@type": "Dataset",
    name: `tremesh ${task.kind} analysis, as retrieved by TRE ${release.tre}`,
    sameAs: ref(workflow),
    conformsTo: ref("https://w3id.org/workflowhub/workflow-ro-crate/1.0"),
    distribution: ref(definition),
    hasPart: [ref(`${retrieved}analysis.json`)],
  });

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
    agent: ref(hub),
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
    object: [ref("./"), ref(workflow), ref(project)],
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
    object: ref(definition),
    result: ref(retrieved),
    agent: ref(agent),
    actionStatus: STATUS.completed,
  });

  // Execution: the inputs are the analysis parameters, the results the released outputs.
  const inputs = inputEntities(g, spec ?? { kind: task.kind });
  const outputIds = outputEntities(g, files, release.outputs);
  const ended = when("outputs_pending_review");
  const failedAt = when("executor_error");
  action({
    "@id": `#run-${release.tre}`,
    "@type": "CreateAction",
    name: `Run of the ${task.kind} analysis of task ${task.taskId} at TRE ${release.tre}`,
    startTime: rfc3339(running),
    ...((ended ?? failedAt) ? { endTime: rfc3339((ended ?? failedAt) as number) } : {}),
    agent: ref(researcher),
    instrument: ref(workflow),
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
  const decisionFiles = decisionEntities(g, files, release, outputIds);
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
      name: `Disclosure review of ${label}: ${d.verdict === "approve" ? "approved, released" : "rejected, withheld"}${d.signer === release.treKey ? " (the TRE's auto-release policy)" : ""}`,
      ...(d.reason ? { description: d.reason } : {}),
      startTime: rfc3339(reviewed),
      endTime: rfc3339(Math.max(d.iat, reviewed)),
      object: output ? [ref("./"), ref(outputIds.get(output.outputId) as string)] : ref("./"),
      ...(decisionFile ? { subjectOf: ref(decisionFile) } : {}),
      agent: ref(by),
      actionStatus: STATUS.completed,
    });
  });

  // Publishing.
  const licence = `#terms-of-release-${release.tre}`;
  g.add({
    "@id": licence,
    "@type": "CreativeWork",
    name: `Released by TRE ${release.tre} for project ${task.project} under the TRE's data access agreement; use beyond it needs the TRE's permission`,
  });
  const tool = "#tremesh-crate";
  g.add({
    "@id": tool,
    "@type": "SoftwareApplication",
    name: "tremesh crate",
    softwareVersion: input.softwareVersion,
  });
  action({
    "@id": `#bagit-${release.tre}`,
    "@type": "UpdateAction",
    additionalType: ref(`${SHP}GenerateCheckValue`),
    name: "BagIt sha-512 manifests of the crate written",
    startTime: rfc3339(input.now),
    endTime: rfc3339(input.now),
    instrument: ref(SHA512),
    agent: ref(tool),
    actionStatus: STATUS.completed,
  });

  g.add({
    "@id": "./",
    "@type": "Dataset",
    name: `tremesh task ${task.taskId} at TRE ${release.tre}`,
    description: `Five Safes results crate of ${task.title ? `"${task.title}", ` : ""}a ${task.kind} analysis for project ${task.project}, as released by TRE ${release.tre} (Release ${release.releaseId}, signed by the TRE key ${release.treKey}${release.treKeyPinned ? ", pinned by the researcher" : ", as the hub reported it"}).`,
    identifier: task.taskId,
    datePublished: rfc3339(release.releasedAt),
    conformsTo: ref(FIVE_SAFES_PROFILE),
    mainEntity: ref(workflow),
    sourceOrganization: ref(project),
    publisher: ref(tre),
    license: ref(licence),
    mentions: actions.map(ref),
    hasPart: [...[...files.keys()].filter((p) => !p.startsWith(retrieved)), retrieved].map(ref),
  });
  return { metadata: g.toJson(), files };
}

const utf8 = (text: string) => new TextEncoder().encode(text);

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
function outputEntities(g: CrateGraph, files: Map<string, Uint8Array>, outputs: readonly CrateOutput[]) {
  const names = uniqueSafeNames(outputs.map((o) => o.name));
  const paths = new Map<string, string>();
  outputs.forEach((o, i) => {
    const path = `outputs/${names[i]}`;
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

/** The signed Decision envelopes of released outputs as files under `evidence/`; by decision index. */
function decisionEntities(
  g: CrateGraph,
  files: Map<string, Uint8Array>,
  release: ResultsCrateInput["release"],
  outputPaths: ReadonlyMap<string, string>,
): Map<number, string> {
  const kept = new Map<number, string>();
  release.decisions.forEach((d: CrateDecision, i) => {
    const output = outputPaths.get(d.outputId);
    if (output === undefined || d.verdict !== "approve") return; // a withheld output's decision stays out
    const path = `evidence/decision-${i + 1}.envelope`;
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
