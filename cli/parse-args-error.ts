/**
 * node:util parseArgs's errors in tremesh's words: an unknown flag named, with the command's nearest flag when one is
 * a typo away ("unknown flag --projetc; did you mean --project?"), a flag missing its value said plainly. Loaded only
 * when a command line is wrong.
 */

/** The message for a parseArgs error of `code`, given the command's usage text (which lists its flags). */
export function parseArgsMessage(code: string, message: string, usage: string): string {
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const flag = /^Unknown option '([^']*)'/.exec(message)?.[1];
    if (flag === undefined) return message;
    const near = nearestFlag(flag, usage);
    return `unknown flag ${flag}${near ? `; did you mean ${near}?` : ""}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const missing = /^Option '(-[^' ]+)(?: <value>)?' argument missing/.exec(message)?.[1];
    if (missing !== undefined) return `${missing} needs a value`;
    const ambiguous = /^Option '(-[^' ]+)' argument is ambiguous/.exec(message)?.[1];
    if (ambiguous !== undefined)
      return `${ambiguous} needs a value (one that starts with a dash goes as ${ambiguous}=-…)`;
    const noValue = /^Option '(-[^' ]+)' does not take an argument/.exec(message)?.[1];
    if (noValue !== undefined) return `${noValue} takes no value`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = /^Unexpected argument '([^']*)'/.exec(message)?.[1];
    if (arg !== undefined) return `unexpected argument ${JSON.stringify(arg)}`;
  }
  return message;
}

/** The flag of `usage` within two edits of `flag`, the nearest first; undefined when none is. */
function nearestFlag(flag: string, usage: string): string | undefined {
  const known = new Set(usage.match(/--[a-z][a-z0-9-]*/g) ?? []);
  let best: { flag: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(flag, candidate);
    if (distance <= 2 && (best === undefined || distance < best.distance))
      best = { flag: candidate, distance };
  }
  return best?.flag;
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  return d[a.length]![b.length]!;
}
