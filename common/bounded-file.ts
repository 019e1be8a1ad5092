/**
 * Reading a file a person named, to a size limit. `readFile` reads until the end: given /dev/zero it never ends
 * (memory grows until the process dies), and a huge file is read whole before any check of its size.
 */
import { open } from "node:fs/promises";

/** A named file that is not one tremesh reads: a device, or over the size limit. Its message says which. */
export class InputFileError extends Error {
  override readonly name = "InputFileError";
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

const CHUNK_BYTES = 64 * 1024;

/**
 * The bytes of `path`, refused with an InputFileError when it is a device (a terminal, /dev/zero) or holds more
 * than `maxBytes`; a regular file by its size before anything is read, a pipe (`<(…)`, /dev/stdin from a pipe)
 * as it is read. System errors (ENOENT, EISDIR…) are thrown as they are.
 */
export async function readBoundedFile(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const info = await handle.stat();
    if (info.isCharacterDevice() || info.isBlockDevice())
      throw new InputFileError(path, "is a device, not a file; give a file");
    if (info.isFile()) {
      if (info.size > maxBytes) throw tooLarge(path, maxBytes);
      return await handle.readFile();
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(CHUNK_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return Buffer.concat(chunks, total);
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

function tooLarge(path: string, maxBytes: number): InputFileError {
  return new InputFileError(path, `is over ${maxBytes} bytes, more than tremesh reads from such a file`);
}
