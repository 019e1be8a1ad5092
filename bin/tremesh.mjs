#!/usr/bin/env node
// The `tremesh` command: the compiled sources' bundle (scripts/bundle-cli.mjs), built by `npm install` (the
// prepare script) or `npm run build`.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const main = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli-bundle", "main.js");
if (!existsSync(main)) {
  console.error(
    "tremesh: not built yet — run `npm install` (or `npm run build`) in the tremesh folder first",
  );
  process.exit(1);
}
const { run } = await import(pathToFileURL(main).href);
process.exitCode = await run(process.argv.slice(2));
