/**
 * With `tremesh demo --keep`: one TRE reviewer's page (`tremesh airlock serve`), started as a demo process
 * (stopped by `demo stop` with the rest), its one-time login URL read from its log.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { waitFor } from "../common/index.js";
import { DEMO_TRES, type DemoFederation, type DemoProcesses } from "./demo-federation.js";

const LOGIN_LINE = /^review page: (\S+)$/m;

/** Starts the page of the first TRE's first reviewer; resolves with its login URL and whose page it is. */
export async function startDemoReviewPage(
  fed: DemoFederation,
  processes: DemoProcesses,
): Promise<{ url: string; reviewer: string }> {
  const tre = DEMO_TRES[0]!.tre;
  const [reviewer, profile] =
    Object.entries(fed.files.profiles).find(([who]) => who.startsWith(`reviewer-${tre}-`)) ?? [];
  if (!reviewer || !profile) throw new Error(`the demo has no reviewer profile for TRE ${tre}`);
  const name = `review-page-${tre}`;
  await processes.start(name, ["airlock", "serve", "--profile", profile, "--port", "0"]);
  const log = join(fed.dir, "logs", `${name}.log`);
  const url = await Promise.race([
    waitFor(`${name}'s login URL in ${log}`, async () => LOGIN_LINE.exec(await readFile(log, "utf8"))?.[1], {
      timeoutMs: 30_000,
    }),
    processes.died,
  ]);
  return { url, reviewer };
}
