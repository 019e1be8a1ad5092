import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assetDir } from "./assets.js";

/** The RO-Crate contexts kept in crate/contexts/, by the IRI a crate names them with. */
const CONTEXT_FILES: Readonly<Record<string, string>> = {
  "https://w3id.org/ro/crate/1.1/context": "1.1.jsonld",
  "https://w3id.org/ro/crate/1.2-DRAFT/context": "1.2.jsonld",
  "https://w3id.org/ro/crate/1.2/context": "1.2.jsonld",
  "https://w3id.org/ro/crate/1.3-DRAFT/context": "1.3.jsonld",
  "https://w3id.org/ro/crate/1.3/context": "1.3.jsonld",
};

const cache = new Map<string, unknown>();

/**
 * A jsonld.js document loader that serves the RO-Crate contexts from disk, so expanding a crate
 * never touches the network (and a hostile crate cannot make it). Any other context URL is served
 * as an empty context and recorded in `unknown`: the terms only it defines are then not expanded,
 * which the validator reports.
 */
export function offlineContextLoader(unknown: Set<string>) {
  return async (url: string): Promise<{ contextUrl: undefined; documentUrl: string; document: unknown }> => {
    const file = CONTEXT_FILES[url.replace(/^http:/, "https:").replace(/\/$/, "")];
    if (file === undefined) {
      unknown.add(url);
      return { contextUrl: undefined, documentUrl: url, document: { "@context": {} } };
    }
    return { contextUrl: undefined, documentUrl: url, document: kept(file) };
  };
}

function kept(file: string): unknown {
  let document = cache.get(file);
  if (document === undefined) {
    document = JSON.parse(readFileSync(join(assetDir("contexts"), file), "utf8"));
    cache.set(file, document);
  }
  return document;
}
