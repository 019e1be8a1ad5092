/**
 * msgpack for every tremesh message. One configuration for the whole mesh: no records or
 * structure extensions (hostile bytes must not be able to define shapes the receiver then
 * builds), maps as plain objects, binary as Uint8Array.
 */
import { Packr, Unpackr } from "msgpackr";

const options = {
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  bundleStrings: false,
  int64AsType: "number",
} as const;

const packr = new Packr(options);
const unpackr = new Unpackr(options);

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Decodes exactly one msgpack value; throws on malformed input or trailing bytes (callers at
 * the edge turn that into a typed error). Trailing bytes are refused so that one accepted
 * message has exactly one byte form.
 */
export function unpack(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes); // msgpackr refuses trailing bytes ("end of buffer not reached")
}
