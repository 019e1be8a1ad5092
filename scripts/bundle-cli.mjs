#!/usr/bin/env node
// Bundles the compiled `tremesh` command (dist/cli/main.js) into dist/cli-bundle/, which bin/tremesh.mjs runs.
//
// Why: Node 20 spends most of a short command's start finding, reading and compiling modules one by one (tremesh's
// ~110 and the NATS client's and yaml's ~150 CommonJS files for `tremesh aggregate`). In a few large files a
// researcher's command starts ~80 ms sooner (300 against 220 ms, with ~100 ms of that Node's own start).
//
// Each command is still loaded only when it runs (code splitting keeps cli/main.ts's dynamic imports). Bundled:
// tremesh's own modules and the pure-JavaScript packages every command loads. Every other package stays a
// package, loaded from node_modules as before: native ones (DuckDB, msgpackr's extractor), those that find their
// own files at run time (pino's workers), and those only some commands use (PostgreSQL, Docker's API client, the
// crate validator's JSON-LD and SHACL engines, X.509). The bundle sits two folders below the package root, as
// dist/cli/ does, so the paths modules find their data by (package.json, crate/contexts, .tools) hold.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "cli-bundle");

/** Packages bundled; any other stays external. */
const BUNDLED = [
  "@nats-io/",
  "@hono/node-server",
  "fflate",
  "hono",
  "msgpackr",
  "ts-pattern",
  "tweetnacl",
  "yaml",
];
const bundled = (specifier) =>
  BUNDLED.some((p) =>
    p.endsWith("/") ? specifier.startsWith(p) : specifier === p || specifier.startsWith(`${p}/`),
  );

/** Leaves every package not in BUNDLED (and Node's own modules) to be loaded at run time. */
const externals = {
  name: "tremesh-externals",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("node:") || !bundled(args.path) ? { external: true } : undefined,
    );
  },
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [join(root, "dist", "cli", "main.js")],
  outdir: out,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  plugins: [externals],
  // Bundled CommonJS packages call `require`, which an ES module does not have.
  banner: {
    js: 'import { createRequire as __tremeshRequire } from "node:module"; const require = __tremeshRequire(import.meta.url);',
  },
  logLevel: "warning",
});
