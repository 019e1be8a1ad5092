/** tremesh's version, as a crate names the software that wrote it. */
import { existsSync, readFileSync } from "node:fs";

let version: string | undefined;

/** The version in tremesh's package.json: one folder up from common/, two from dist/common/. */
export function softwareVersion(): string {
  if (version !== undefined) return version;
  version = "unknown";
  for (const up of ["../package.json", "../../package.json"]) {
    const file = new URL(up, import.meta.url);
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "tremesh" && pkg.version) {
      version = pkg.version;
      break;
    }
  }
  return version;
}
