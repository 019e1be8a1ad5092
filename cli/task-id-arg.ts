import { isTaskId } from "../protocol/index.js";
import { usageError } from "./command.js";

/**
 * The one task id a command takes (a lower-case copy of one is taken as it, ULIDs being case-blind), or a usage error
 * naming the command and what is wrong; `hint` follows an argument that is not a task id.
 */
export function taskIdArg(command: string, positionals: readonly string[], hint?: string): string {
  const [id, ...more] = positionals;
  if (id === undefined) throw usageError(`${command}: a task id is required (as submit printed it)`);
  const upper = id.toUpperCase();
  if (!isTaskId(upper))
    throw usageError(
      `${command}: ${JSON.stringify(id)} is not a task id (26 letters and digits, as submit printed it)${hint ? `; ${hint}` : ""}`,
    );
  if (more.length > 0)
    throw usageError(`${command}: one task id at a time; ${JSON.stringify(more[0])} is one too many`);
  return upper;
}
