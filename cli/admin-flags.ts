/** What every `tremesh admin` command shares: its flags, its usage text, and JSON-or-text output. */
import type { parseArgs } from "node:util";
import { PROJECT_NAME } from "../protocol/index.js";
import type { Io } from "./command.js";

export const USAGE = [
  "tremesh admin init --dir DIR [--host H] [--client-port N] [--leaf-port N] [--monitor-port N] [--operator NAME]",
  "                   [--client-url URL]… [--leaf-url URL]…   # the URLs people dial, when not tls://HOST:PORT",
  "tremesh admin init --dir DIR --node NAME=HOST --node NAME=HOST --node NAME=HOST   # a 3-node hub cluster",
  "tremesh admin add-tre NAME --signing-key U… [--storage-mb N]",
  "tremesh admin set-tre NAME --storage-mb N   # a TRE's hub account storage (its task queue and results), at once",
  "tremesh admin add-researcher NAME --signing-key U…",
  "tremesh admin revoke researcher|tre NAME",
  "tremesh admin push | list",
  "tremesh admin rotate-hub-key --seed-file FILE | --finish   # change the hub's signing key: prints each party's step",
  "tremesh admin project create NAME --until DATE [--tres a,b] [--members alice,bob] [--from DATE]",
  "                             [--title T] [--lay-summary TEXT] [--organisation ORG]   # for the data use register",
  "tremesh admin project add-member|remove-member PROJECT RESEARCHER",
  "tremesh admin project add-tre|remove-tre PROJECT TRE",
  "tremesh admin project set NAME [--tres …] [--members …] [--from DATE] [--until DATE] [--title T]",
  '                          [--lay-summary TEXT] [--organisation ORG]   # "" removes a title, summary or organisation',
  "tremesh admin project show NAME | project list",
  "tremesh admin init … [--tls-ca FILE --tls-cert NODE=FILE --tls-key NODE=FILE | --no-tls [--insecure]]",
  "tremesh admin tls status | tls renew [--days N]",
  "tremesh admin register CRATE.zip|DIR… [--json]   # data use register entries from published crates,",
  "                                                 # with each project's title, lay summary and organisation",
  "                                                 # from the registry (over --dir or --profile)",
  "(--dir DIR or TREMESH_ADMIN_DIR names the admin folder; config mode: --profile FILE instead; --json everywhere)",
].join("\n       ");

export const options = {
  dir: { type: "string" },
  profile: { type: "string" },
  json: { type: "boolean" },
  tres: { type: "string" },
  members: { type: "string" },
  from: { type: "string" },
  until: { type: "string" },
  title: { type: "string" },
  "lay-summary": { type: "string" },
  organisation: { type: "string" },
  "signing-key": { type: "string" },
  "storage-mb": { type: "string" },
  host: { type: "string" },
  operator: { type: "string" },
  "client-port": { type: "string" },
  "client-url": { type: "string", multiple: true },
  "leaf-url": { type: "string", multiple: true },
  "leaf-port": { type: "string" },
  "monitor-port": { type: "string" },
  node: { type: "string", multiple: true },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string", multiple: true },
  "tls-key": { type: "string", multiple: true },
  "no-tls": { type: "boolean" },
  insecure: { type: "boolean" },
  days: { type: "string" },
  "seed-file": { type: "string" },
  finish: { type: "boolean" },
} as const;

export type Values = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>["values"];

export const isName = (s: string) => PROJECT_NAME.test(s);

/** `--json`: the value as JSON; otherwise the lines `text` makes. */
export function print(io: Io, json: boolean | undefined, value: unknown, text: () => string[]): void {
  if (json) io.out(JSON.stringify(value, null, 2));
  else for (const line of text()) io.out(line);
}
