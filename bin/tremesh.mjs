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
// A reader that stops early (`tremesh status | head`) closes the pipe: the rest of the output is unwanted, which is
// no error. Without this, Node throws the write's EPIPE as an unhandled 'error' event, with its stack.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (error) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
const { run } = await import(pathToFileURL(main).href);
process.exitCode = await run(process.argv.slice(2));
