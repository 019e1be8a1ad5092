/**
 * Reads a tcpdump capture (classic pcap, Ethernet frames) back into what each TCP connection carried: one
 * byte stream per direction, its segments put in sequence order with retransmitted bytes kept once. A string
 * the application sent is then found whole even when TCP split it across segments, which a search of the raw
 * packets would miss.
 */
import { readFile } from "node:fs/promises";

/** The bytes one direction of one TCP connection carried. */
export interface TcpStream {
  /** `198.51.100.11:40512` */
  from: string;
  to: string;
  bytes: Buffer;
}

const ETHERNET = 1;
const ETHERTYPE_IPV4 = 0x0800;
const IP_TCP = 6;

/** One TCP packet of a capture. */
export interface TcpPacket {
  from: string;
  to: string;
  seq: number;
  payload: Buffer;
}

type Segment = Pick<TcpPacket, "seq" | "payload">;

/** The packets of a classic pcap file, as Ethernet frames. Refuses pcapng and other link types by name. */
function frames(file: string, data: Buffer): Buffer[] {
  if (data.length < 24) throw new Error(`${file}: not a pcap file (${data.length} bytes)`);
  const magic = data.readUInt32LE(0);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && data.readUInt32BE(0) !== 0xa1b2c3d4 && data.readUInt32BE(0) !== 0xa1b23c4d)
    throw new Error(`${file}: not a classic pcap file (magic ${magic.toString(16)})`);
  const u32 = (at: number) => (little ? data.readUInt32LE(at) : data.readUInt32BE(at));
  if (u32(20) !== ETHERNET) throw new Error(`${file}: link type ${u32(20)}, expected Ethernet`);
  const out: Buffer[] = [];
  for (let at = 24; at + 16 <= data.length; ) {
    const captured = u32(at + 8);
    out.push(data.subarray(at + 16, Math.min(at + 16 + captured, data.length)));
    at += 16 + captured;
  }
  return out;
}

/** Every IPv4 TCP packet in the capture `file`, in capture order (others are passed over). */
export async function readTcpPackets(file: string): Promise<TcpPacket[]> {
  const packets: TcpPacket[] = [];
  for (const frame of frames(file, await readFile(file))) {
    if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== ETHERTYPE_IPV4) continue;
    const ipPacket = frame.subarray(14);
    const ipHeader = (ipPacket[0]! & 0x0f) * 4;
    if (ipPacket[9] !== IP_TCP) continue;
    const ipLength = Math.min(ipPacket.readUInt16BE(2) || ipPacket.length, ipPacket.length);
    const tcp = ipPacket.subarray(ipHeader, ipLength);
    if (tcp.length < 20) continue;
    const address = (at: number) => [...ipPacket.subarray(at, at + 4)].join(".");
    packets.push({
      from: `${address(12)}:${tcp.readUInt16BE(0)}`,
      to: `${address(16)}:${tcp.readUInt16BE(2)}`,
      seq: tcp.readUInt32BE(4),
      payload: Buffer.from(tcp.subarray((tcp[12]! >> 4) * 4)),
    });
  }
  return packets;
}

/** Every TCP stream in the capture `file`, by direction. */
export async function readCapture(file: string): Promise<TcpStream[]> {
  const segments = new Map<string, Segment[]>();
  for (const p of await readTcpPackets(file)) {
    if (p.payload.length === 0) continue;
    const key = `${p.from}>${p.to}`;
    const list = segments.get(key) ?? [];
    list.push(p);
    segments.set(key, list);
  }
  return [...segments].map(([key, list]) => {
    const [from = "", to = ""] = key.split(">");
    return { from, to, bytes: reassemble(list) };
  });
}

/** One direction's segments in sequence order, each byte once. */
function reassemble(list: Segment[]): Buffer {
  const first = list[0]!.seq;
  // Sequence numbers wrap at 2^32: the signed 32-bit distance from the first segment orders them.
  const offset = (s: Segment) => (s.seq - first) | 0;
  const ordered = [...list].sort((a, b) => offset(a) - offset(b));
  const parts: Buffer[] = [];
  let end = offset(ordered[0]!);
  for (const s of ordered) {
    const start = offset(s);
    const fresh = s.payload.subarray(Math.max(0, end - start));
    if (fresh.length === 0) continue;
    parts.push(fresh);
    end = Math.max(end, start) + fresh.length;
  }
  return Buffer.concat(parts);
}

/** The streams of `capture` that carry `text` (UTF-8), as `from > to`. */
export function streamsCarrying(capture: readonly TcpStream[], text: string): string[] {
  const needle = Buffer.from(text, "utf8");
  return capture.filter((s) => s.bytes.includes(needle)).map((s) => `${s.from} > ${s.to}`);
}
