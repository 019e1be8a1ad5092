/**
 * What the TRE's operator reads when the credential broker cannot do its start-up work (drop roles a crash left,
 * check its grants) because PostgreSQL is away or refuses its login. The leaf still starts: its file datasets and
 * containers work, and each PostgreSQL task waits for the database through its attempts (`maxTaskAttempts`).
 * Each case names the leaf.yaml fields to check, by what the database or the socket said (its code), never by
 * the message's words.
 */
import type { CredentialBrokerError } from "./credential-broker.js";
import type { LeafConfig } from "./leaf-config.js";

/** SQLSTATEs of a login the server refused: invalid_password, invalid_authorization_specification. */
const LOGIN_REFUSED = new Set(["28P01", "28000"]);
/** The server could be reached but the database is not there (invalid_catalog_name). */
const NO_DATABASE = "3D000";

export function postgresStartProblem(
  error: CredentialBrokerError,
  postgres: NonNullable<LeafConfig["postgres"]>,
  datasets: LeafConfig["datasets"],
): string {
  const names = datasets.filter((d) => d.engine === "postgres").map((d) => `'${d.name}'`);
  const tasks = `until then every task on ${names.length === 1 ? "dataset" : "datasets"} ${names.join(", ")} fails`;
  const said = error.message.replace(/^the credential broker's database work failed: /, "");
  if (error.code !== undefined && LOGIN_REFUSED.has(error.code))
    return (
      `PostgreSQL refused the login of leaf.yaml postgres.user '${postgres.user}' (${said}): ${tasks}. ` +
      "Check that postgres.passwordFile holds that role's password (one line), then restart the leaf"
    );
  if (error.code === NO_DATABASE)
    return (
      `PostgreSQL has no database '${postgres.database}' (leaf.yaml postgres.database): ${tasks}. ` +
      "Name the database that holds the datasets' tables, then restart the leaf"
    );
  if (error.retryable)
    return (
      `PostgreSQL cannot be reached at leaf.yaml postgres.host ${postgres.host}, postgres.port ${postgres.port} ` +
      `(${said}): ${tasks} once its attempts (maxTaskAttempts) run out; the leaf checks again at each task. ` +
      "Start PostgreSQL, or correct postgres.host and postgres.port"
    );
  return `PostgreSQL: the credential broker (leaf.yaml postgres) could not start its work (${said}): ${tasks}`;
}
