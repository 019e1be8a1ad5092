/**
 * What the airlock keeps of one executor output: the output itself, the disclosure checks' verdict and
 * findings, and its releasable form (failing cells withheld, counts rounded). A file the checks cannot read
 * (any media type but an output description) goes to a reviewer as it is.
 */
import type { ExecutorOutput } from "../executors/index.js";
import { encodeOutput, newId, OUTPUT_MEDIA_TYPE } from "../protocol/index.js";
import type { NewHeldOutput } from "./airlock-store.js";
import { checkOutput } from "./disclosure-checks.js";
import type { DisclosureRules } from "./disclosure-rules.js";

/** Checks one output against the TRE's disclosure rules, as the airlock will hold it. */
export function toHeldOutput(o: ExecutorOutput, rules: DisclosureRules, heldAt: number): NewHeldOutput {
  const base = { outputId: newId(heldAt), name: o.name, mediaType: o.mediaType, bytes: o.bytes };
  if (o.mediaType !== OUTPUT_MEDIA_TYPE || o.description === undefined) {
    return {
      ...base,
      outcome: "review",
      findings: [
        {
          at: "",
          rule: "unchecked",
          outcome: "review",
          detail: `${o.mediaType} is not checked automatically: a reviewer reads it and decides`,
        },
      ],
      // Nothing automatic can treat a file it cannot read: what a reviewer approves is the file itself.
      releasable: o.bytes,
    };
  }
  const report = checkOutput(o.description, rules, o.facts);
  return {
    ...base,
    outcome: report.outcome,
    findings: report.findings,
    ...(report.releasable ? { releasable: encodeOutput(report.releasable) } : {}),
  };
}
