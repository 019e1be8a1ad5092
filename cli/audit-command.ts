import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { verifyAuditLog } from "../audit/index.js";
import { type Command, usageError } from "./command.js";
import { ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";

export const audit: Command = {
  usage: "tremesh audit verify [--profile FILE] [--json]",
  examples: [
    "tremesh audit verify --profile admin.profile.yaml",
    "tremesh audit verify --profile reviewer-a-rita.profile.yaml   # TRE a's own log",
  ],
  async run(argv, io) {
    const [verb, ...rest] = argv;
    if (verb !== "verify") throw usageError(`audit: expected 'verify', got ${JSON.stringify(verb ?? "")}`);
    const { values } = parseArgs({
      args: rest,
      strict: true,
      options: { profile: { type: "string" }, json: { type: "boolean" } },
    });
    return withHub(
      values.profile,
      async (nc) => {
        const result = await verifyAuditLog(jetstream(nc));
        if (values.json) io.out(JSON.stringify(result));
        else if (result.ok)
          io.out(`audit log intact: ${result.count} records, head ${result.head.seq} ${result.head.hash}`);
        else
          io.out(`audit log BROKEN at record ${result.firstBrokenSeq} (${result.reason}): ${result.message}`);
        return result.ok ? ExitCode.ok : ExitCode.failed;
      },
      { server: "any" },
    );
  },
};
