import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { AuditReadError, verifyAuditLog } from "../audit/index.js";
import { type Command, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
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
      async (nc, profile) => {
        const result = await verifyAuditLog(jetstream(nc)).catch((e: unknown) => {
          // A profile that may not read the log (a researcher's): what it is, and whose profile reads it.
          if (!(e instanceof AuditReadError)) throw e;
          const why = e.cause instanceof Error ? `: ${e.cause.message}` : "";
          throw new CliError(
            `${profile.file} cannot read the audit log (${e.message}${why}); the hub's log is read with the federation admin's profile, a TRE's own with its reviewers' profiles`,
            ExitCode.badInput,
            { cause: e },
          );
        });
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
