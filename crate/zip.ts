/**
 * Writes a zip file (PKWARE APPNOTE 6.3, no zip64: a crate is far below 4 GiB) with Node's own zlib: a TRE zips a
 * crate for every Release, and native deflate costs a quarter of fflate's in JavaScript. Reading stays with
 * fflate's `unzipSync`. Every entry has the same fixed time, so the same files zip to the same bytes.
 *
 * Deflate level 3, not zlib's default 6: on an 11 kB `ro-crate-metadata.json` it takes a quarter of the time
 * (31 µs against 121 µs) for 8 % more bytes (2,439 against 2,252).
 */
import { crc32, deflateRawSync } from "node:zlib";

/** One file: its path in the zip, its bytes, and whether to deflate them (else stored as they are). */
export type ZipEntry = readonly [path: string, bytes: Uint8Array, deflate: boolean];

/** 2000-01-01 00:00:00 as MS-DOS date and time (local time in the format, UTC by choice here). */
const DOS_DATE = ((2000 - 1980) << 9) | (1 << 5) | 1;
const DOS_TIME = 0;
const UTF8_NAMES = 1 << 11;
const DEFLATE = { level: 3 };

export function zipFiles(entries: readonly ZipEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [path, bytes, deflate] of entries) {
    const name = Buffer.from(path, "utf8");
    const packed = deflate ? deflateRawSync(bytes, DEFLATE) : bytes;
    // A deflated file that came out larger is stored instead.
    const method = deflate && packed.length < bytes.length ? 8 : 0;
    const data = method === 8 ? packed : bytes;
    const fields = {
      flags: /^[\x20-\x7e]*$/.test(path) ? 0 : UTF8_NAMES,
      method,
      crc: crc32(bytes),
      compressed: data.length,
      size: bytes.length,
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeCommon(local, 4, fields, name.length);
    parts.push(local, name, data);

    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4); // made by: version 2.0
    writeCommon(entry, 6, fields, name.length);
    // extra and comment lengths, disk number, internal and external attributes: all zero
    entry.writeUInt32LE(offset, 42);
    central.push(entry, name);
    offset += local.length + name.length + data.length;
  }
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...parts, ...central, end]));
}

/** The fields a local header and a central directory entry share, from `at` (version needed onward). */
function writeCommon(
  b: Buffer,
  at: number,
  f: { flags: number; method: number; crc: number; compressed: number; size: number },
  nameLength: number,
): void {
  b.writeUInt16LE(20, at); // version needed to extract: 2.0 (deflate)
  b.writeUInt16LE(f.flags, at + 2);
  b.writeUInt16LE(f.method, at + 4);
  b.writeUInt16LE(DOS_TIME, at + 6);
  b.writeUInt16LE(DOS_DATE, at + 8);
  b.writeUInt32LE(f.crc, at + 10);
  b.writeUInt32LE(f.compressed, at + 14);
  b.writeUInt32LE(f.size, at + 18);
  b.writeUInt16LE(nameLength, at + 22);
  // extra field length at + 24: zero
}
