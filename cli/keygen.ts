import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isSystemError, systemErrorTold } from "../common/index.js";
import { generateKeyPair } from "../protocol/index.js";
import { type Command, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";

export const keygen: Command = {
  usage: "tremesh keygen --out FILE [--kind user|account|operator] [--json]",
  examples: [
    "tremesh keygen --out alice.seed   # a researcher's signing key: the seed stays here, the public key (UA…) is printed",
    "tremesh leaf keygen --out tre-a.seed   # a TRE's key comes from leaf keygen",
  ],
  run(argv, io) {
    const { values } = parseArgs({
      args: argv,
      options: {
        out: { type: "string" },
        kind: { type: "string", default: "user" },
        json: { type: "boolean" },
      },
      strict: true,
    });
    if (!values.out)
      throw usageError("keygen: --out FILE is required (the seed is a secret and never printed)");
    const kind = values.kind;
    if (kind !== "user" && kind !== "account" && kind !== "operator") {
      throw usageError(`keygen: --kind must be user, account or operator, not ${JSON.stringify(kind)}`);
    }
    const { seed, publicKey } = generateKeyPair(kind);
    try {
      writeFileSync(values.out, `${seed}\n`, { mode: 0o600, flag: "wx" });
    } catch (cause) {
      const exists = (cause as NodeJS.ErrnoException).code === "EEXIST";
      throw new CliError(
        exists
          ? `${values.out} exists; refusing to overwrite a key`
          : `${values.out}: cannot write: ${isSystemError(cause) ? systemErrorTold(cause) : String(cause)}`,
        ExitCode.badInput,
        { cause },
      );
    }
    io.out(values.json ? JSON.stringify({ publicKey, seedFile: values.out }) : publicKey);
    return ExitCode.ok;
  },
};
