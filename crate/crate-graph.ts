/** A crate's JSON-LD `@graph` as it is built: entities by `@id`, later properties merged in. */

export type Entity = { "@id": string; "@type": string | string[] } & Record<string, unknown>;

/** `{ "@id": id }`: a reference to another entity. */
export const ref = (id: string) => ({ "@id": id });

/** RFC 3339 time (UTC) of ms since the epoch. */
export const rfc3339 = (ms: number) => new Date(ms).toISOString();

export const SHP = "https://w3id.org/shp#";
export const STATUS = {
  potential: "http://schema.org/PotentialActionStatus",
  active: "http://schema.org/ActiveActionStatus",
  completed: "http://schema.org/CompletedActionStatus",
  failed: "http://schema.org/FailedActionStatus",
} as const;

export class CrateGraph {
  readonly #entities = new Map<string, Entity>();

  /** Adds an entity, or merges its properties into the one of the same `@id`. */
  add(entity: Entity): string {
    const existing = this.#entities.get(entity["@id"]);
    this.#entities.set(entity["@id"], existing ? { ...existing, ...entity } : entity);
    return entity["@id"];
  }

  /** Appends values to a list property of an entity already added. */
  append(id: string, property: string, ...values: unknown[]): void {
    const entity = this.#entities.get(id);
    if (!entity) throw new Error(`no entity ${id} in the crate`);
    const current = entity[property];
    entity[property] = [
      ...(current === undefined ? [] : Array.isArray(current) ? current : [current]),
      ...values,
    ];
  }

  get(id: string): Entity | undefined {
    return this.#entities.get(id);
  }

  /** The RO-Crate 1.2 metadata document. */
  toJson(): { "@context": string; "@graph": Entity[] } {
    return { "@context": "https://w3id.org/ro/crate/1.2/context", "@graph": [...this.#entities.values()] };
  }
}
