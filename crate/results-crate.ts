/**
 * A task's results crates, as the researcher assembles them from verified data: Five Safes RO-Crate 0.4
 * on RO-Crate 1.2, recording every review phase (tre-phases.ts), with the released outputs as payload.
 * - a TRE's crate: that TRE's phases; published by the TRE (its Release's time), its terms of release
 *   as the licence;
 * - the researcher's combined crate: every TRE's phases, a ReceiveAction per verified Release, and the
 *   outputs combined across TREs, each based on the per-TRE outputs it pools.
 * Both end with the UpdateAction (shp#GenerateCheckValue) of the BagIt manifests written next.
 */

import { CrateGraph, type Entity, ref, rfc3339, SHP, STATUS } from "./crate-graph.js";
import type { CrateRelease, ResultsCrateInput } from "./crate-input.js";
import { FIVE_SAFES_PROFILE } from "./profile-iri.js";
import { addTaskEntities, SHA512 } from "./task-entities.js";
import { addTrePhases, treId } from "./tre-phases.js";

export interface BuiltCrate {
  /** The `ro-crate-metadata.json` document. */
  metadata: ReturnType<CrateGraph["toJson"]>;
  /** Every payload file besides the metadata, by its path in the crate. */
  files: Map<string, Uint8Array>;
}

/** One output combined across TREs, as `tremesh aggregate --json` gives it. */
export interface CombinedCrateOutput {
  name: string;
  /** The combined result as JSON text. */
  json: string;
}

export interface CombinedCrateInput extends Omit<ResultsCrateInput, "release"> {
  releases: CrateRelease[];
  combined: CombinedCrateOutput[];
}

/** A TRE's results crate for the task. */
export function buildResultsCrate(input: ResultsCrateInput): BuiltCrate {
  const { task, release } = input;
  const g = new CrateGraph();
  const files = new Map<string, Uint8Array>();
  const spec = analysisOf([release]);
  const ids = addTaskEntities(g, files, task, spec);
  const part = addTrePhases(g, files, task, release, ids, spec, "");
  const licence = `#terms-of-release-${release.tre}`;
  g.add({
    "@id": licence,
    "@type": "CreativeWork",
    name: `Released by TRE ${release.tre} for project ${task.project} under the TRE's data access agreement; use beyond it needs the TRE's permission`,
  });
  const actions = [...part.actions, publishing(g, input, release.tre)];
  g.add({
    "@id": "./",
    "@type": "Dataset",
    name: `tremesh task ${task.taskId} at TRE ${release.tre}`,
    description: `Five Safes results crate of ${task.title ? `"${task.title}", ` : ""}a ${task.kind} analysis for project ${task.project}, as released by TRE ${release.tre} (${releaseWords(release)}).`,
    identifier: task.taskId,
    datePublished: rfc3339(release.releasedAt),
    publisher: ref(treId(release.tre)),
    license: ref(licence),
    ...rootLinks(ids, actions, files),
  });
  return { metadata: g.toJson(), files };
}

/** The researcher's combined crate: every TRE's phases and outputs, received, verified and combined. */
export function buildCombinedCrate(input: CombinedCrateInput): BuiltCrate {
  const { task, releases } = input;
  const g = new CrateGraph();
  const files = new Map<string, Uint8Array>();
  const spec = analysisOf(releases);
  const ids = addTaskEntities(g, files, task, spec);
  const aggregator = "#tremesh-aggregator";
  g.add({
    "@id": aggregator,
    "@type": "SoftwareApplication",
    name: "tremesh aggregator (verifies every Release before use)",
    softwareVersion: input.softwareVersion,
  });
  const actions: string[] = [];
  const perTre = new Map<string, string[]>();
  for (const release of releases) {
    const part = addTrePhases(g, files, task, release, ids, spec, `${release.tre}/`);
    actions.push(...part.actions);
    perTre.set(release.tre, [...part.outputs.values()]);
    actions.push(
      g.add({
        "@id": `#receive-${release.tre}`,
        "@type": "ReceiveAction",
        name: `Release ${release.releaseId} of TRE ${release.tre} received and verified: TRE signature, reviewer decisions, output digests`,
        startTime: rfc3339(input.now),
        endTime: rfc3339(input.now),
        sender: ref(treId(release.tre)),
        agent: ref(aggregator),
        object: [...part.outputs.values()].map(ref),
        actionStatus: STATUS.completed,
      }),
    );
  }
  for (const c of input.combined) {
    const path = `combined/${c.name}`;
    files.set(path, new TextEncoder().encode(`${c.json.trimEnd()}\n`));
    const parts = [...perTre.values()].flatMap((paths) =>
      paths.filter((p) => p.slice(p.lastIndexOf("/") + 1) === c.name),
    );
    g.add({
      "@id": path,
      "@type": "File",
      name: `${c.name}, combined across TREs ${releases.map((r) => r.tre).join(", ")}`,
      encodingFormat: "application/json",
      isBasedOn: parts.map(ref),
    });
  }
  const licence = "#terms-of-release";
  g.add({
    "@id": licence,
    "@type": "CreativeWork",
    name: `Released for project ${task.project} under each TRE's data access agreement; use beyond them needs the TREs' permission`,
  });
  actions.push(publishing(g, input, "combined"));
  g.add({
    "@id": "./",
    "@type": "Dataset",
    name: `tremesh task ${task.taskId}, combined`,
    description: `Five Safes results crate of ${task.title ? `"${task.title}", ` : ""}a ${task.kind} analysis for project ${task.project} across TREs ${releases.map((r) => r.tre).join(", ")}: ${releases.map((r) => `TRE ${r.tre} (${releaseWords(r)})`).join("; ")}.`,
    identifier: task.taskId,
    datePublished: rfc3339(input.now),
    publisher: ref(ids.researcher),
    license: ref(licence),
    ...rootLinks(ids, actions, files),
  });
  return { metadata: g.toJson(), files };
}

/** The analysis as the released output descriptions state it (the same at every TRE). */
function analysisOf(releases: readonly CrateRelease[]): Record<string, unknown> | undefined {
  for (const r of releases) {
    const described = r.outputs.find((o) => o.description)?.description;
    if (described) return described.analysis;
  }
  return undefined;
}

function releaseWords(release: CrateRelease): string {
  const whose =
    release.treKeyPinned === undefined
      ? ""
      : release.treKeyPinned
        ? ", pinned by the researcher"
        : ", as the hub reported it";
  return `Release ${release.releaseId}, signed by the TRE key ${release.treKey}${whose}`;
}

/** The publishing phase's UpdateAction: the BagIt manifests written after this metadata. */
function publishing(g: CrateGraph, input: { now: number; softwareVersion: string }, tag: string): string {
  const tool = "#tremesh-crate";
  g.add({
    "@id": tool,
    "@type": "SoftwareApplication",
    name: "tremesh crate",
    softwareVersion: input.softwareVersion,
  });
  const update: Entity = {
    "@id": `#bagit-${tag}`,
    "@type": "UpdateAction",
    additionalType: ref(`${SHP}GenerateCheckValue`),
    name: "BagIt sha-512 manifests of the crate written",
    startTime: rfc3339(input.now),
    endTime: rfc3339(input.now),
    object: ref("./"),
    instrument: ref(SHA512),
    agent: ref(tool),
    actionStatus: STATUS.completed,
  };
  return g.add(update);
}

function rootLinks(
  ids: { workflow: string; project: string; retrieved: string },
  actions: string[],
  files: Map<string, Uint8Array>,
) {
  return {
    conformsTo: ref(FIVE_SAFES_PROFILE),
    mainEntity: ref(ids.workflow),
    sourceOrganization: ref(ids.project),
    mentions: [...new Set(actions)].map(ref),
    hasPart: [...[...files.keys()].filter((p) => !p.startsWith(ids.retrieved)), ids.retrieved].map(ref),
  };
}
