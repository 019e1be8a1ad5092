/**
 * A Five Safes RO-Crate 0.4 request, read as a tremesh submission. Its root must conform to the Five Safes
 * profile (`conformsTo` https://w3id.org/5s-crate/0.4, or another version of it). What tremesh takes from it:
 * - the analysis: the root's `mainEntity` must be one of tremesh's analysis workflows
 *   (`urn:tremesh:analysis:KIND:1`, as its results crates name them); the CreateAction that uses it as
 *   `instrument` gives the parameters as its `object` PropertyValues (`name` the parameter, `value` its
 *   value, JSON text for lists and objects), checked like any analysis (a container image must be
 *   pinned by digest); a `kind` parameter, if any, must be the workflow's;
 * - the researcher: the CreateAction's `agent` must name the signing researcher (its `identifier`,
 *   `alternateName` or `name`);
 * - the project: the root's `sourceOrganization` Project, by its identifier PropertyValue named
 *   `tremesh` or after a target TRE (the TRE's local id, as results crates record it), else its `name`.
 * Review actions a client put in the request (AssessAction, DownloadAction, UpdateAction, ReceiveAction)
 * are not the TRE's record: they are dropped, and listed. Anything tremesh cannot honour is refused
 * with the crate entity and property named.
 */
import { type AnalysisSpec, analysisSpec, FieldError, PROJECT_NAME } from "../protocol/index.js";
import { FIVE_SAFES_PROFILE } from "./profile-iri.js";

/** A request crate tremesh cannot honour: which entity, which property, and why. */
export class RequestCrateError extends Error {
  override readonly name = "RequestCrateError";
  constructor(
    readonly entity: string,
    readonly property: string | undefined,
    problem: string,
  ) {
    super(`request crate: ${entity}${property ? ` ${property}` : ""}: ${problem}`);
  }
}

export interface RequestSubmission {
  project: string;
  analysis: AnalysisSpec;
  title?: string;
  /** The client-supplied review actions dropped, by id. */
  stripped: string[];
}

type Node = Record<string, unknown> & { "@id": string };

const WORKFLOW = /^urn:tremesh:analysis:([a-z]+):1$/;
/** Any version of the profile (0.4, trefx's 0.5-DRAFT): they differ only in version IRIs. */
const FIVE_SAFES_PROFILE_PREFIX = "https://w3id.org/5s-crate/";
const REVIEW_TYPES = new Set(["AssessAction", "DownloadAction", "UpdateAction", "ReceiveAction"]);

const types = (e: Node) => [e["@type"]].flat().filter((t): t is string => typeof t === "string");
const ids = (v: unknown) =>
  [v]
    .flat()
    .map((x) => (x && typeof x === "object" ? (x as { "@id"?: unknown })["@id"] : undefined))
    .filter((x): x is string => typeof x === "string");

/** Reads a request crate's metadata as a submission by `researcher` to `tres`. */
export function requestCrateToSubmission(
  metadata: unknown,
  { researcher, tres }: { researcher: string; tres: readonly string[] },
): RequestSubmission {
  const graph = (metadata as { "@graph"?: unknown } | null)?.["@graph"];
  if (!Array.isArray(graph)) throw new RequestCrateError("ro-crate-metadata.json", "@graph", "is not a list");
  const byId = new Map<string, Node>();
  for (const e of graph)
    if (e && typeof e === "object" && typeof (e as Node)["@id"] === "string")
      byId.set((e as Node)["@id"], e as Node);
  const get = (id: string, from: string, property: string): Node => {
    const e = byId.get(id);
    if (!e) throw new RequestCrateError(from, property, `names ${id}, which the crate does not describe`);
    return e;
  };
  const rootId = ids(byId.get("ro-crate-metadata.json")?.about)[0];
  if (rootId === undefined)
    throw new RequestCrateError("ro-crate-metadata.json", "about", "does not name the root dataset");
  const root = get(rootId, "ro-crate-metadata.json", "about");
  const profiles = ids(root.conformsTo);
  if (!profiles.some((p) => p.startsWith(FIVE_SAFES_PROFILE_PREFIX)))
    throw new RequestCrateError(
      rootId,
      "conformsTo",
      `${profiles.join(", ") || "(none)"} names no Five Safes RO-Crate profile; a request crate conformsTo {"@id": "${FIVE_SAFES_PROFILE}"}`,
    );

  const workflowId = ids(root.mainEntity)[0];
  const kind = workflowId === undefined ? undefined : WORKFLOW.exec(workflowId)?.[1];
  if (workflowId === undefined || kind === undefined)
    throw new RequestCrateError(
      rootId,
      "mainEntity",
      `${workflowId ?? "(none)"} is not a workflow tremesh knows; name one of its analyses, urn:tremesh:analysis:KIND:1`,
    );
  const mentioned = ids(root.mentions).map((id) => get(id, rootId, "mentions"));
  const run = mentioned.find(
    (e) => types(e).includes("CreateAction") && ids(e.instrument).includes(workflowId),
  );
  if (!run)
    throw new RequestCrateError(
      rootId,
      "mentions",
      `no CreateAction with instrument ${workflowId} is mentioned`,
    );

  const agentId = ids(run.agent)[0];
  if (agentId === undefined) throw new RequestCrateError(run["@id"], "agent", "is missing");
  const agent = get(agentId, run["@id"], "agent");
  const names = ["identifier", "alternateName", "name"]
    .flatMap((p) => [agent[p]].flat())
    .filter((x) => typeof x === "string");
  if (!names.includes(researcher))
    throw new RequestCrateError(
      agentId,
      "identifier",
      `the requesting agent (${names.map((n) => JSON.stringify(n)).join(", ") || "unnamed"}) is not ${JSON.stringify(researcher)}, who signs this submission`,
    );

  const project = projectName(root, rootId, tres, get);
  const analysis = analysisFrom(kind, run, get);
  const stripped = graph
    .filter(
      (e): e is Node =>
        byId.get((e as Node)?.["@id"]) === e && types(e as Node).some((t) => REVIEW_TYPES.has(t)),
    )
    .map((e) => e["@id"]);
  // A crate's name may run over lines; a task's title is one line of text (protocol TITLE).
  const title =
    typeof root.name === "string"
      ? root.name
          .replace(/[\p{Cc}\p{Cf}\s]+/gu, " ")
          .trim()
          .slice(0, 200)
      : undefined;
  return { project, analysis, stripped, ...(title ? { title } : {}) };
}

function projectName(
  root: Node,
  rootId: string,
  tres: readonly string[],
  get: (id: string, from: string, property: string) => Node,
): string {
  const projectId = ids(root.sourceOrganization)[0];
  if (projectId === undefined) throw new RequestCrateError(rootId, "sourceOrganization", "is missing");
  const project = get(projectId, rootId, "sourceOrganization");
  const local = ids(project.identifier)
    .map((id) => get(id, projectId, "identifier"))
    .filter((p) => p.name === "tremesh" || tres.includes(String(p.name)))
    .map((p) => String(p.value));
  const candidates = [...new Set(local.length > 0 ? local : [String(project.name ?? "")])];
  const [name, ...others] = candidates;
  if (others.length > 0)
    throw new RequestCrateError(
      projectId,
      "identifier",
      `names different projects: ${candidates.join(", ")}`,
    );
  if (name === undefined || !PROJECT_NAME.test(name))
    throw new RequestCrateError(
      projectId,
      local.length > 0 ? "identifier" : "name",
      `${JSON.stringify(name)} is not a tremesh project name; give it as an identifier PropertyValue named "tremesh" (or after the TRE)`,
    );
  return name;
}

function analysisFrom(
  kind: string,
  run: Node,
  get: (id: string, from: string, property: string) => Node,
): AnalysisSpec {
  const spec: Record<string, unknown> = { kind };
  const where = new Map<string, string>();
  for (const id of ids(run.object)) {
    const input = get(id, run["@id"], "object");
    if (!types(input).includes("PropertyValue") || typeof input.name !== "string")
      throw new RequestCrateError(
        id,
        "@type",
        "tremesh takes an analysis's parameters as named PropertyValues; files sent with a request are not read (the TRE's own datasets are)",
      );
    const value = parameterValue(input.value);
    // The workflow names the analysis; a `kind` parameter may repeat it, never replace it.
    if (input.name === "kind" && value !== kind)
      throw new RequestCrateError(
        id,
        "value",
        `kind ${JSON.stringify(value)} contradicts the root's mainEntity, urn:tremesh:analysis:${kind}:1; name the analysis once, by mainEntity (and the CreateAction's instrument)`,
      );
    spec[input.name] = value;
    where.set(input.name, id);
  }
  try {
    return analysisSpec(spec, "");
  } catch (e) {
    if (!(e instanceof FieldError)) throw e;
    const field = e.path.split(/[.[]/).find((p) => p !== "") ?? "";
    throw new RequestCrateError(
      where.get(field) ?? run["@id"],
      where.has(field) ? "value" : "object",
      e.message,
    );
  }
}

/** A PropertyValue's value: JSON text (a list, an object, a number, true or false) read as JSON. */
function parameterValue(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    const parsed: unknown = JSON.parse(v);
    return typeof parsed === "string" ? v : parsed;
  } catch {
    return v;
  }
}
