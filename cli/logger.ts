/**
 * The process logger of `hub start` and `leaf start` (libraries emit events; processes log them). JSON
 * lines on stdout. Only ids, names, states and codes are logged, never data values or secrets: the
 * events it is given carry nothing else.
 */
import { pino } from "pino";

export type Logger = pino.Logger;

export function processLogger(name: string): Logger {
  return pino({ name, level: process.env.TREMESH_LOG_LEVEL ?? "info", base: { pid: process.pid } });
}

/** Logs an error event by message and name only (a cause chain may hold connection details). */
export function errorFields(error: Error): { err: { name: string; message: string } } {
  return { err: { name: error.name, message: error.message } };
}
