import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The folder of a data asset kept beside the sources (`profile`, `contexts`): crate/NAME when run
 * from the sources, and the same folder in the source tree when run from dist/crate/ (tsc copies
 * no data files).
 */
export function assetDir(name: "profile" | "contexts"): string {
  for (const dir of [join(here, name), join(here, "..", "..", "crate", name)]) {
    if (existsSync(dir)) return dir;
  }
  throw new Error(`crate/${name} is missing from this installation`);
}
