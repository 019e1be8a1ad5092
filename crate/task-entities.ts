/**
 * The entities every crate of a task describes once, whichever TREs it covers: the metadata descriptor,
 * the profile, the researcher and their project, the hub, and the analysis as a workflow.
 */
import { type CrateGraph, ref } from "./crate-graph.js";
import type { CrateTask } from "./crate-input.js";
import { FIVE_SAFES_PROFILE } from "./profile-iri.js";

export const SHA512 = "https://www.iana.org/assignments/named-information#sha-512";
export const ED25519 = "https://www.rfc-editor.org/rfc/rfc8032#ed25519";
const WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0";

/** The Workflow RO-Crate id tremesh gives each built-in analysis kind (and the container kind). */
export const analysisWorkflowId = (kind: string) => `urn:tremesh:analysis:${kind}:1`;

/** The ids of the task's shared entities, for the phases to point at. */
export interface TaskIds {
  researcher: string;
  project: string;
  hub: string;
  /** The analysis as a workflow: the crate's `mainEntity`. */
  workflow: string;
  /** Its definition, what a TRE retrieves. */
  definition: string;
  /** The folder the retrieved definition is kept in. */
  retrieved: string;
}

/** Adds the task's shared entities; `spec` is the analysis as a released output states it, if any did. */
export function addTaskEntities(
  g: CrateGraph,
  files: Map<string, Uint8Array>,
  task: CrateTask,
  spec: Record<string, unknown> | undefined,
): TaskIds {
  const ids: TaskIds = {
    researcher: `#researcher-${task.researcher}`,
    project: `#project-${task.project}`,
    hub: "#hub-submission-service",
    workflow: analysisWorkflowId(task.kind),
    definition: `${analysisWorkflowId(task.kind)}:definition`,
    retrieved: `workflow/${task.kind}/`,
  };
  g.add({
    "@id": "ro-crate-metadata.json",
    "@type": "CreativeWork",
    about: ref("./"),
    conformsTo: ref("https://w3id.org/ro/crate/1.2"),
  });
  g.add({ "@id": FIVE_SAFES_PROFILE, "@type": "Profile", name: "Five Safes RO-Crate profile 0.4" });

  const affiliation = `#affiliation-${task.researcher}`;
  g.add({
    "@id": affiliation,
    "@type": "Organization",
    name: `Organisation of researcher ${task.researcher} (tremesh does not record it)`,
  });
  g.add({
    "@id": ids.researcher,
    "@type": "Person",
    name: task.researcher,
    affiliation: ref(affiliation),
    memberOf: ref(ids.project),
  });
  g.add({ "@id": ids.project, "@type": "Project", name: task.project, member: [ref(affiliation)] });
  g.add({ "@id": "#hub", "@type": "Organization", name: "tremesh federation hub" });
  g.add({
    "@id": ids.hub,
    "@type": "SoftwareApplication",
    name: "tremesh hub submission service",
    provider: ref("#hub"),
  });
  g.add({ "@id": SHA512, "@type": "DefinedTerm", name: "sha-512 algorithm" });
  g.add({ "@id": ED25519, "@type": "DefinedTerm", name: "Ed25519 signature (tremesh signed envelope)" });

  g.add({
    "@id": ids.workflow,
    "@type": "Dataset",
    name: `tremesh ${task.kind} analysis`,
    conformsTo: ref(WORKFLOW_RO_CRATE),
    distribution: ref(ids.definition),
  });
  g.add({
    "@id": ids.definition,
    "@type": "DataDownload",
    name: `tremesh ${task.kind} analysis definition`,
    encodingFormat: "application/json",
  });
  const definitionFile = `${ids.retrieved}analysis.json`;
  files.set(
    definitionFile,
    new TextEncoder().encode(`${JSON.stringify(spec ?? { kind: task.kind }, null, 2)}\n`),
  );
  g.add({ "@id": definitionFile, "@type": "File", name: "The analysis as the TREs ran it" });
  g.add({
    "@id": ids.retrieved,
    "@type": "Dataset",
    name: `tremesh ${task.kind} analysis, as the TREs retrieved it`,
    sameAs: ref(ids.workflow),
    conformsTo: ref(WORKFLOW_RO_CRATE),
    distribution: ref(ids.definition),
    hasPart: [ref(definitionFile)],
  });
  return ids;
}
