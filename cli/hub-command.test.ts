import pino from "pino";
import { describe, expect, it } from "vitest";
import { logHubEvent } from "./hub-command.js";

/** A logger whose lines land in `lines`, parsed. */
function capturing() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ base: null }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe("the hub's log", () => {
  it("says what to check when a TRE's heartbeat or Release is signed by a key the hub does not hold for it", () => {
    const { log, lines } = capturing();
    const refused = {
      type: "refused",
      code: "unknown_signer",
      reason: "signer UB2DP3KU… is not trusted",
    } as const;
    logHubEvent(log, {
      service: "liveness",
      event: { ...refused, subject: "tremesh.tre.north.out.heartbeat" },
    });
    logHubEvent(log, {
      service: "status",
      event: { ...refused, subject: "tremesh.tre.north.out.release.x" },
    });
    // A researcher's unknown key is the researcher's matter, said as before.
    logHubEvent(log, { service: "researcher-api", event: { ...refused, request: "query" } });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [
        40,
        expect.stringContaining(
          "its leaf.yaml signingKeyFile is not the seed whose public key was given to `tremesh admin add-tre`",
        ),
      ],
      [40, expect.stringContaining("its leaf.yaml signingKeyFile is not the seed")],
      [40, "refused"],
    ]);
  });
});
