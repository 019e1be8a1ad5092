/**
 * With `tremesh demo --keep`: one TRE reviewer's page (`tremesh airlock serve`) and the researcher's page
 * (`tremesh ui`), each started as a demo process (stopped by `demo stop` with the rest), their one-time login
 * URLs read from their logs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { waitFor } from "../common/index.js";
import { DEMO_TRES, type DemoFederation, type DemoProcesses } from "./demo-federation.js";

export interface DemoPages {
  review: { url: string; reviewer: string };
  researcher: { url: string; researcher: string };
}

/** Starts `tremesh ARGS…` as a demo process and resolves with the login URL it prints after `label: `. */
async function startPage(
  fed: DemoFederation,
  processes: DemoProcesses,
  name: string,
  args: string[],
  label: string,
): Promise<string> {
  await processes.start(name, [...args, "--port", "0"]);
  const log = join(fed.dir, "logs", `${name}.log`);
  const line = new RegExp(`^${label}: (\\S+)$`, "m");
  return Promise.race([
    waitFor(`${name}'s login URL in ${log}`, async () => line.exec(await readFile(log, "utf8"))?.[1], {
      timeoutMs: 30_000,
    }),
    processes.died,
  ]);
}

/** Starts the page of the first TRE's first reviewer and alice's page. */
export async function startDemoPages(fed: DemoFederation, processes: DemoProcesses): Promise<DemoPages> {
  const tre = DEMO_TRES[0]!.tre;
  const [reviewer, profile] =
    Object.entries(fed.files.profiles).find(([who]) => who.startsWith(`reviewer-${tre}-`)) ?? [];
  const researcherProfile = fed.files.profiles.alice;
  if (!reviewer || !profile || !researcherProfile)
    throw new Error(`the demo has no profile for TRE ${tre}'s reviewer or for alice`);
  return {
    review: {
      url: await startPage(
        fed,
        processes,
        `review-page-${tre}`,
        ["airlock", "serve", "--profile", profile],
        "review page",
      ),
      reviewer,
    },
    researcher: {
      url: await startPage(
        fed,
        processes,
        "researcher-page",
        ["ui", "--profile", researcherProfile],
        "researcher's page",
      ),
      researcher: "alice",
    },
  };
}
