import { type AnalysisOutput, decodeOutput } from "../protocol/index.js";

/** A held output's bytes as a tremesh output description, or undefined for any other file (a container's). */
export function decodedOutput(bytes: Uint8Array | undefined): AnalysisOutput | undefined {
  if (!bytes) return undefined;
  try {
    return decodeOutput(bytes);
  } catch {
    return undefined;
  }
}
