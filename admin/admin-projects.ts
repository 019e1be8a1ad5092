/**
 * The registry's projects and, in config mode, its researchers' signing keys: what `tremesh admin project …`
 * and config mode's `add-researcher` / `revoke researcher` change. Operator mode checks a project's TREs
 * against what its admin folder onboarded; config mode's TREs are in hub.yaml, so nothing is checked there.
 */
import type { Project, Registry, Researcher } from "../hub/index.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import type { FederationState } from "./admin-store.js";

/** Refuses a TRE the admin folder's federation never onboarded, or revoked; `state` absent: config mode. */
export function checkProjectTres(state: FederationState | undefined, tres: readonly string[]): void {
  const unknown = state
    ? tres.find((t) => !state.tres[t] || state.tres[t].revokedAt !== undefined)
    : undefined;
  if (unknown !== undefined)
    throw new AdminError(`no TRE ${unknown} in this federation (or it is revoked)`, AdminErrorCode.failed);
}

/** Refuses a member the registry does not hold, or holds revoked. */
export async function checkProjectMembers(registry: Registry, members: readonly string[]): Promise<void> {
  for (const m of members) {
    const r = await registry.researcher(m);
    if (!r || r.revoked !== undefined)
      throw new AdminError(
        `no researcher ${m}; add them first ('admin add-researcher')`,
        AdminErrorCode.failed,
      );
  }
}

/** A new project; one of that name already there is refused (`setProject` changes it). */
export async function createProject(registry: Registry, project: Project): Promise<Project> {
  if (await registry.project(project.name))
    throw new AdminError(`project ${project.name} exists; use 'admin project set'`, AdminErrorCode.failed);
  await registry.putProject(project);
  return project;
}

/** Adds or removes one member or TRE of a project; adding one it has, or removing one it lacks, changes nothing. */
export function editProjectList(
  registry: Registry,
  project: string,
  field: "members" | "tres",
  adding: boolean,
  item: string,
): Promise<Project> {
  return registry.updateProject(project, (p) => {
    // Removing what is not there is a mistyped name far more often than a wish: refused, so the admin sees it.
    if (!adding && !p[field].includes(item))
      throw new AdminError(
        `${item} is not ${field === "members" ? "a member" : "a TRE"} of project ${project}; nothing changed`,
        AdminErrorCode.failed,
      );
    return { ...p, [field]: adding ? [...new Set([...p[field], item])] : p[field].filter((x) => x !== item) };
  });
}

/** The project of that name; none is refused. */
export async function projectNamed(registry: Registry, name: string): Promise<Project> {
  const project = await registry.project(name);
  if (!project) throw new AdminError(`no project ${JSON.stringify(name)}`, AdminErrorCode.failed);
  return project;
}

/** Every project in the registry, by name. */
export async function allProjects(registry: Registry): Promise<Project[]> {
  const projects: Project[] = [];
  for await (const key of await registry.kv.keys("project.>")) {
    const p = await registry.project(key.slice("project.".length));
    if (p) projects.push(p);
  }
  return projects.sort((a, b) => a.name.localeCompare(b.name));
}

/** Config mode: a researcher's signing key in the registry (their connection user lives in hub.yaml). */
export async function putResearcherKey(registry: Registry, researcher: Researcher): Promise<void> {
  await registry.putResearcher(researcher);
}

/** Config mode: marks a researcher's signing key revoked; one the registry does not hold is refused. */
export async function revokeResearcherKey(registry: Registry, name: string): Promise<void> {
  const existing = await registry.researcher(name);
  if (!existing) throw new AdminError(`no researcher ${name}`, AdminErrorCode.failed);
  await registry.putResearcher({ ...existing, revoked: Date.now() });
}
