/**
 * The federation's registry of projects, researchers and which TREs serve which project, in a
 * JetStream KV bucket of the FED account. Values are JSON so an admin can read them with any
 * NATS tool; every value is validated when read, so a hand-edited bad entry is refused with the
 * field named rather than trusted.
 *
 * Keys: `project.<name>`, `researcher.<name>` and (operator mode) `tre.<name>`, the member TREs.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { openBucket, userPublicKey } from "../common/index.js";
import {
  arr,
  type Check,
  FieldError,
  type Infer,
  int,
  isPublicKey,
  obj,
  optional,
  PROJECT_NAME,
  str,
  TRE_NAME,
} from "../protocol/index.js";

/** Bucket name in the FED account. */
const REGISTRY_BUCKET = "REGISTRY";

const name = (what: string, pattern: RegExp) => str({ min: 1, max: 64, pattern, what });

/** One line of printable text: no control characters and no line or paragraph separators. */
export const ONE_LINE_TEXT = /^[^\p{Cc}\p{Zl}\p{Zp}]+$/u;
/** The longest title, lay summary and organisation a project may have, in characters. */
export const PROJECT_TEXT_MAX = { title: 300, laySummary: 5000, organisation: 200 } as const;
const oneLine = (max: number) =>
  str({ min: 1, max, pattern: ONE_LINE_TEXT, what: "one line of printable text" });

const projectSchema = obj({
  name: name("a project name", PROJECT_NAME),
  /**
   * What the data use register shows of the project (`admin register`); absent from older entries. A title is
   * checked for length only: older ones were not checked for line breaks, and refusing them now would refuse
   * every submission to their project.
   */
  title: optional(str({ max: PROJECT_TEXT_MAX.title })),
  laySummary: optional(oneLine(PROJECT_TEXT_MAX.laySummary)),
  /** The organisation the project's researchers work for, as the register names it. */
  organisation: optional(oneLine(PROJECT_TEXT_MAX.organisation)),
  /** Start and end of the project's approval, ms since the epoch. Submissions outside are refused. */
  startsAt: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  endsAt: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  tres: arr(name("a TRE name", TRE_NAME), { max: 1000, unique: true }),
  members: arr(name("a researcher name", PROJECT_NAME), { max: 10_000, unique: true }),
});
const researcherSchema = obj({
  name: name("a researcher name", PROJECT_NAME),
  publicKey: userPublicKey,
  revoked: optional(int({ min: 0, max: Number.MAX_SAFE_INTEGER })),
});

/** An nkey account public key (A…). */
const accountPublicKey: Check<string> = (v, path) => {
  if (typeof v !== "string" || v.length !== 56 || !v.startsWith("A") || !isPublicKey(v)) {
    throw new FieldError(path, "is not an nkey account public key (A…)");
  }
  return v;
};
const treSchema = obj({
  name: name("a TRE name", TRE_NAME),
  /** The TRE's message-signing key (U…), made inside the TRE: status events, releases, heartbeats. */
  publicKey: userPublicKey,
  /** The TRE's account on the hub (A…): its leaf link and the hub's operations user belong to it. */
  account: accountPublicKey,
  /** When the TRE joined, ms since the epoch. */
  addedAt: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  /** When it was revoked, ms since the epoch: the hub stops managing its streams and trusting its key. */
  revoked: optional(int({ min: 0, max: Number.MAX_SAFE_INTEGER })),
});

export type Project = Infer<typeof projectSchema>;
export type Researcher = Infer<typeof researcherSchema>;
/** A member TRE (operator mode). */
export type TreEntry = Infer<typeof treSchema>;

export class RegistryError extends Error {
  override readonly name = "RegistryError";
}

const decoder = new TextDecoder();

function parse<T>(schema: (v: unknown, path: string) => T, key: string, value: Uint8Array): T {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(value));
  } catch (cause) {
    throw new RegistryError(`registry entry ${key} is not JSON`, { cause });
  }
  try {
    return schema(json, "");
  } catch (cause) {
    throw new RegistryError(
      `registry entry ${key}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
  }
}

export class Registry {
  private constructor(readonly kv: KV) {}

  /** Opens the registry bucket, creating it on first use (keeps 10 revisions of each entry for review). */
  static async open(js: JetStreamClient): Promise<Registry> {
    return new Registry(await openBucket(js, REGISTRY_BUCKET, { history: 10 }));
  }

  async project(projectName: string): Promise<Project | undefined> {
    const e = await this.kv.get(`project.${projectName}`);
    return e && e.operation === "PUT" ? parse(projectSchema, e.key, e.value) : undefined;
  }

  async researcher(researcherName: string): Promise<Researcher | undefined> {
    const e = await this.kv.get(`researcher.${researcherName}`);
    return e && e.operation === "PUT" ? parse(researcherSchema, e.key, e.value) : undefined;
  }

  /** A TRE's entry, revoked or not; undefined when there is none. */
  async tre(treName: string): Promise<TreEntry | undefined> {
    const e = await this.kv.get(`tre.${treName}`);
    return e && e.operation === "PUT" ? parse(treSchema, e.key, e.value) : undefined;
  }

  async putProject(project: Project): Promise<void> {
    projectSchema(project, "project");
    if (project.endsAt <= project.startsAt) throw new RegistryError("project.endsAt must be after startsAt");
    await this.kv.put(`project.${project.name}`, JSON.stringify(project));
  }

  async putResearcher(researcher: Researcher): Promise<void> {
    researcherSchema(researcher, "researcher");
    await this.kv.put(`researcher.${researcher.name}`, JSON.stringify(researcher));
  }

  /** Adds or replaces a TRE's entry (revoking it is a put with `revoked` set, so its history stays). */
  async putTre(tre: TreEntry): Promise<void> {
    treSchema(tre, "tre");
    await this.kv.put(`tre.${tre.name}`, JSON.stringify(tre));
  }

  /** Changes one project atomically (compare-and-set on its revision, retried on a concurrent edit). */
  async updateProject(projectName: string, change: (p: Project) => Project): Promise<Project> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const e = await this.kv.get(`project.${projectName}`);
      if (e?.operation !== "PUT") throw new RegistryError(`no project ${JSON.stringify(projectName)}`);
      const next = change(parse(projectSchema, e.key, e.value));
      projectSchema(next, "project");
      try {
        await this.kv.update(e.key, JSON.stringify(next), e.revision);
        return next;
      } catch {
        // Someone else changed it first: read again.
      }
    }
    throw new RegistryError(`project ${projectName} is being changed concurrently; try again`);
  }

  /** Every researcher, for building the submission service's trust store. */
  async researchers(): Promise<Researcher[]> {
    const out: Researcher[] = [];
    for await (const key of await this.kv.keys("researcher.>")) {
      const e = await this.kv.get(key);
      if (e && e.operation === "PUT") out.push(parse(researcherSchema, key, e.value));
    }
    return out;
  }

  /** Every TRE entry, revoked ones included. */
  async tres(): Promise<TreEntry[]> {
    const out: TreEntry[] = [];
    for await (const key of await this.kv.keys("tre.>")) {
      const e = await this.kv.get(key);
      if (e && e.operation === "PUT") out.push(parse(treSchema, key, e.value));
    }
    return out;
  }
}
