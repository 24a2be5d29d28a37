/* DNS messages as Kiln needs them: id, query or response, rcode, flags, counts, and the question,
 * decoded with dns-packet (the wire-format library). Only the header and the question are needed, and
 * captured messages may be cut short (bpf/dns.h DNS_CAP), so the answer, authority and additional
 * sections are not decoded: their counts come from the header. Malformed input returns null; it never
 * throws. */
import dnsPacket from 'dns-packet';

export interface DnsMessage {
  id: number;
  response: boolean;
  /** response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...) */
  rcode: number;
  truncated: boolean;
  answers: number;
  /** normalised: lower case, no trailing dot; '' for the root */
  name: string;
  /** 'A', 'AAAA', ... or 'TYPE<n>' for types the library does not name */
  qtype: string;
}

const HEADER = 12;

export function normaliseDomain(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** Parses the header and the first question of a DNS message; null when it is not one. */
export function parseDnsMessage(buf: Buffer): DnsMessage | null {
  if (buf.length < HEADER) return null;
  const flags = buf.readUInt16BE(2);
  const qdcount = buf.readUInt16BE(4);
  const opcode = (flags >> 11) & 0xf;
  if (qdcount !== 1 || opcode !== 0) return null; // resolvers ask one question with a standard query
  // the header and question only: the other sections' counts set to zero, so a message cut short
  // after its question still decodes, and the library reads no further than it must
  const head = Buffer.from(buf);
  head.fill(0, 6, HEADER);
  let q: dnsPacket.Question | undefined;
  try {
    q = dnsPacket.decode(head).questions?.[0];
  } catch {
    return null;
  }
  if (!q || typeof q.name !== 'string') return null;
  const type = String(q.type);
  const qtype = type.startsWith('UNKNOWN_') ? `TYPE${type.slice(8)}` : type;
  return {
    id: buf.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    rcode: flags & 0xf,
    truncated: (flags & 0x0200) !== 0,
    answers: buf.readUInt16BE(6),
    name: normaliseDomain(q.name),
    qtype,
  };
}

export const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };
