/** `submit --crate`: a Five Safes request crate read as the researcher's submission. */
import { InputFileError, isSystemError } from "../common/index.js";
import {
  RequestCrateError,
  type RequestSubmission,
  readRequestCrate,
  requestCrateToSubmission,
} from "../crate/index.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { cannotRead } from "./input-file.js";

/**
 * The submission a request crate asks for, by `user` to `tres`, with its bag's `External-Identifier`; a
 * `--project` given as well must be the crate's. Whatever tremesh cannot honour is a bad-input error naming the entity and property.
 */
export async function crateSubmission(
  file: string,
  user: string,
  tres: readonly string[],
  project: string | undefined,
): Promise<RequestSubmission & { externalId?: string }> {
  try {
    const { metadata, externalId } = await readRequestCrate(file);
    const s = requestCrateToSubmission(metadata, { researcher: user, tres });
    if (project !== undefined && project !== s.project)
      throw new RequestCrateError(
        "sourceOrganization",
        "identifier",
        `names project ${s.project}, but --project says ${project}`,
      );
    return externalId ? { ...s, externalId } : s;
  } catch (cause) {
    if (isSystemError(cause) || cause instanceof InputFileError) throw cannotRead(file, cause);
    if (!(cause instanceof RequestCrateError)) throw cause;
    throw new CliError(`${file}: ${cause.message}`, ExitCode.badInput, { cause });
  }
}
