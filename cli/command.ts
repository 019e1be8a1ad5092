import { CliError, ExitCode } from "./exit-codes.js";

/** Where a command writes: injected so tests can read it and `--json` stays clean. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Whether `out` is a terminal (live redrawing is allowed). Default false. */
  tty?: boolean;
}

export interface Command {
  usage: string;
  examples: string[];
  run(argv: string[], io: Io): Promise<number> | number;
}

export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.usage);
}
