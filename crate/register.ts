/**
 * A data use register's entries from published crates: one per project, in the field names of the HDR UK
 * Gateway's data use register upload (`projectIdText`, `projectTitle`, `datasetNames`, …; see docs/crates.md
 * for the mapping). Only what the crates state goes in, and the title, lay summary and organisation the
 * federation admin gave the project in its registry: a field tremesh does not record (organisation sector,
 * legal basis…) is left out for the register's curator, never guessed.
 */

type Node = Record<string, unknown> & { "@id": string };

/** One project's entry. */
export interface RegisterEntry {
  projectIdText: string;
  /** The registry's title; without one, the project as the crates name it (its id). */
  projectTitle: string;
  /** The registry's lay summary; without one, left out. */
  laySummary?: string;
  /** The researchers who ran the project's tasks. */
  applicantNames: string[];
  /** The registry's organisation; without one, the researchers' organisations as the crates name them. */
  organisationName: string;
  /** Each dataset as `DATASET (TRE t)`: the datasets by TRE. */
  datasetNames: string[];
  /** The TREs the data stayed in. */
  dataLocation: string;
  /** Each released output as `NAME (TRE t, task T)`. */
  researchOutputs: string;
  /** The first run's date, YYYY-MM-DD. */
  accessDate: string;
  /** The latest sign-off by a TRE, YYYY-MM-DD. */
  latestApprovalDate: string;
  /**
   * tremesh's own record: the tasks and the crates' bag identifiers the entry is built from, and the fields
   * taken from the project registry (the others are built from the crates alone).
   */
  tremesh: { tasks: string[]; externalIdentifiers: string[]; fromRegistry: RegistryField[] };
}

/** What the federation's project registry says of a project for the register (`admin project set`). */
export interface RegisteredProject {
  title?: string;
  laySummary?: string;
  organisation?: string;
}

/** The entry's fields that the project registry may fill. */
export type RegistryField = "projectTitle" | "laySummary" | "organisationName";

/** What one crate says of its task, by TRE. */
interface CrateFacts {
  project: string;
  projectTitle: string;
  taskId: string;
  externalId: string | undefined;
  researchers: string[];
  organisations: string[];
  runs: Array<{ tre: string; datasets: string[]; outputs: string[]; start?: string }>;
  signOffs: string[];
}

const ids = (v: unknown): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((x) =>
    typeof (x as { "@id"?: unknown })?.["@id"] === "string" ? [(x as { "@id": string })["@id"]] : [],
  );
const text = (v: unknown) => (typeof v === "string" ? v : undefined);
const date = (v: unknown) => text(v)?.slice(0, 10);

/** Reads one crate's metadata; undefined when it is not a tremesh task crate. */
export function crateFacts(metadata: unknown, externalId?: string): CrateFacts | undefined {
  const graph = (metadata as { "@graph"?: unknown })?.["@graph"];
  if (!Array.isArray(graph)) return undefined;
  const nodes = new Map<string, Node>();
  for (const e of graph)
    if (typeof (e as Node)?.["@id"] === "string") nodes.set((e as Node)["@id"], e as Node);
  const root = nodes.get("./");
  const project = nodes.get(ids(root?.sourceOrganization)[0] ?? "");
  const taskId = text(root?.identifier);
  if (!root || !project || !taskId) return undefined;
  const runs = [...nodes.values()].filter(
    (n) => n["@type"] === "CreateAction" && n["@id"].startsWith("#run-"),
  );
  const people = runs.flatMap((r) => ids(r.agent)).map((id) => nodes.get(id));
  return {
    project: project["@id"].replace(/^#project-/, ""),
    projectTitle: text(project.name) ?? project["@id"],
    taskId,
    externalId,
    researchers: people.flatMap((p) => (text(p?.name) ? [text(p?.name) as string] : [])),
    organisations: people
      .flatMap((p) => ids(p?.affiliation))
      .flatMap((id) => (text(nodes.get(id)?.name) ? [text(nodes.get(id)?.name) as string] : [])),
    runs: runs.map((r) => {
      const inputs = ids(r.object).map((id) => nodes.get(id));
      const start = date(r.startTime);
      return {
        tre: r["@id"].slice("#run-".length),
        datasets: inputs
          .filter((i) => i?.name === "dataset")
          .flatMap((i) => (text(i?.value) ? [text(i?.value) as string] : [])),
        outputs: ids(r.result).flatMap((id) =>
          text(nodes.get(id)?.name) ? [text(nodes.get(id)?.name) as string] : [],
        ),
        ...(start ? { start } : {}),
      };
    }),
    signOffs: [...nodes.values()]
      .filter((n) => ids(n.additionalType).includes("https://w3id.org/shp#SignOff"))
      .flatMap((n) => (date(n.endTime) ? [date(n.endTime) as string] : [])),
  };
}

/**
 * The register's entries, one per project, from every crate's facts (a task's crates may overlap), with what
 * `registered` says of each project where it says it.
 */
export function registerEntries(
  crates: readonly CrateFacts[],
  registered: (project: string) => RegisteredProject | undefined = () => undefined,
): RegisterEntry[] {
  const byProject = new Map<string, CrateFacts[]>();
  for (const c of crates) byProject.set(c.project, [...(byProject.get(c.project) ?? []), c]);
  const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
  return [...byProject.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([project, cs]) => {
      const runs = cs.flatMap((c) => c.runs.map((r) => ({ ...r, taskId: c.taskId })));
      const { title, laySummary, organisation } = registered(project) ?? {};
      const fromRegistry: RegistryField[] = [
        ...(title ? (["projectTitle"] as const) : []),
        ...(laySummary ? (["laySummary"] as const) : []),
        ...(organisation ? (["organisationName"] as const) : []),
      ];
      return {
        projectIdText: project,
        projectTitle: title || (cs[0]?.projectTitle ?? project),
        ...(laySummary ? { laySummary } : {}),
        applicantNames: sorted(cs.flatMap((c) => c.researchers)),
        organisationName: organisation || sorted(cs.flatMap((c) => c.organisations)).join("; "),
        datasetNames: sorted(runs.flatMap((r) => r.datasets.map((d) => `${d} (TRE ${r.tre})`))),
        dataLocation: sorted(runs.map((r) => `TRE ${r.tre}`)).join("; "),
        researchOutputs: sorted(
          runs.flatMap((r) => r.outputs.map((o) => `${o} (TRE ${r.tre}, task ${r.taskId})`)),
        ).join("; "),
        accessDate: sorted(runs.flatMap((r) => (r.start ? [r.start] : [])))[0] ?? "",
        latestApprovalDate: sorted(cs.flatMap((c) => c.signOffs)).at(-1) ?? "",
        tremesh: {
          tasks: sorted(cs.map((c) => c.taskId)),
          externalIdentifiers: sorted(cs.flatMap((c) => (c.externalId ? [c.externalId] : []))),
          fromRegistry,
        },
      };
    });
}
