import { describe, expect, it } from "vitest";
import { ExecutorFailed } from "../errors.js";
import { datasetDefinition } from "./dataset.js";
import { classifyEngineError } from "./engine-errors.js";

const patients = datasetDefinition(
  {
    name: "patients",
    engine: "postgres",
    schema: "public",
    table: "patients",
    columns: { age: "numeric", sex: "categorical" },
  },
  "",
);

/** The sentinel an engine error becomes, and whether another attempt may run. */
function classified(error: unknown): { message: string; retryable: boolean } {
  const e = classifyEngineError(error, patients, 1_000);
  if (!(e instanceof ExecutorFailed)) throw new Error(`not a failure: ${e.name}`);
  return { message: e.message, retryable: e.retryable };
}

describe("PostgreSQL errors", () => {
  it("tries again when the server ends the session, whether its reason arrives or only the closed connection", () => {
    // An administrator ending the session: the server's message (57P01) usually arrives first…
    expect(classified(Object.assign(new Error("terminating connection"), { code: "57P01" }))).toEqual({
      message: "PostgreSQL could not run the analysis (57P01)",
      retryable: true,
    });
    // …but the connection may close before it does: node-postgres then has only its own error, with no SQLSTATE.
    expect(classified(new Error("Connection terminated unexpectedly"))).toEqual({
      message: "PostgreSQL could not run the analysis (08006)",
      retryable: true,
    });
    // …or the socket is reset under it: the same lost connection, in the same words (found by the agent test).
    for (const code of ["ECONNRESET", "EPIPE"])
      expect(classified(Object.assign(new Error(`read ${code}`), { code }))).toEqual({
        message: "PostgreSQL could not run the analysis (08006)",
        retryable: true,
      });
  });

  it("does not try again for an error that says nothing of a lost connection", () => {
    expect(classified(new Error("something else"))).toEqual({
      message: "PostgreSQL could not run the analysis (no SQLSTATE)",
      retryable: false,
    });
    expect(classified(Object.assign(new Error("syntax"), { code: "42601" })).retryable).toBe(false);
  });
});
