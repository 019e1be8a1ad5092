#!/usr/bin/env node
// Keeps the layering of DESIGN.md true: which top-level folder may import which, that other
// folders are reached only through their index.ts, and that no import cycle exists.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Which folders each folder may import from (besides itself). */
const allowed = {
  protocol: [],
  common: ["protocol"],
  audit: ["protocol"],
  hub: ["protocol", "common", "audit"],
  executors: ["protocol", "common"],
  aggregator: ["protocol", "common"],
  crate: ["protocol", "common"],
  leaf: ["protocol", "common", "audit", "executors", "crate"],
  admin: ["protocol", "common", "hub"],
  fixtures: ["protocol", "common", "executors"],
  cli: [
    "protocol",
    "common",
    "audit",
    "hub",
    "leaf",
    "executors",
    "aggregator",
    "crate",
    "admin",
    "fixtures",
  ],
  bench: [
    "protocol",
    "common",
    "audit",
    "hub",
    "leaf",
    "executors",
    "aggregator",
    "admin",
    "fixtures",
    "cli",
    "test",
  ],
  test: [
    "protocol",
    "common",
    "audit",
    "hub",
    "leaf",
    "executors",
    "aggregator",
    "crate",
    "admin",
    "fixtures",
    "cli",
  ],
  examples: ["protocol", "common", "audit", "hub", "leaf", "executors", "aggregator", "fixtures"],
};

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const files = Object.keys(allowed).flatMap((d) => {
  try {
    return walk(join(root, d));
  } catch {
    return [];
  }
});

const importRe =
  /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
const problems = [];
const graph = new Map();

for (const file of files) {
  const rel = relative(root, file);
  const top = rel.split(sep)[0];
  const text = readFileSync(file, "utf8");
  const edges = [];
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue;
    const target = relative(root, resolve(dirname(file), spec)).replace(/\.js$/, ".ts");
    const targetTop = target.split(sep)[0];
    edges.push(target);
    if (targetTop === top) continue;
    if (!allowed[top].includes(targetTop)) {
      problems.push(`${rel}: ${top}/ may not import ${targetTop}/ (${spec})`);
    } else if (target !== join(targetTop, "index.ts") && top !== "test" && top !== "bench") {
      problems.push(`${rel}: import ${targetTop}/ through ${targetTop}/index.ts, not ${spec}`);
    }
  }
  graph.set(rel, edges);
}

// Cycle detection: depth-first search with colours.
const state = new Map();
function visit(node, stack) {
  state.set(node, 1);
  stack.push(node);
  for (const next of graph.get(node) ?? []) {
    if (state.get(next) === 1) {
      problems.push(`import cycle: ${[...stack.slice(stack.indexOf(next)), next].join(" → ")}`);
    } else if (!state.has(next) && graph.has(next)) {
      visit(next, stack);
    }
  }
  stack.pop();
  state.set(node, 2);
}
for (const node of graph.keys()) if (!state.has(node)) visit(node, []);

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`check-imports: ${problems.length} problem(s) in ${files.length} files`);
  process.exit(1);
}
console.log(`check-imports: ${files.length} files, layering and cycles ok`);
