// A tiny authoritative DNS server on 127.0.0.1 (UDP) for resolver tests: answers A/AAAA from a table
// with the given TTL, NXDOMAIN otherwise, and counts the queries it saw.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIP } from 'node:net';

export interface DnsRecordSet {
  addresses: string[];
  ttl: number;
}

export interface TestDnsServer {
  readonly address: string;
  readonly queries: string[];
  readonly table: Map<string, DnsRecordSet>;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i] as number;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += len + 1;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export async function startDnsServer(table: Record<string, DnsRecordSet> = {}): Promise<TestDnsServer> {
  const records = new Map(Object.entries(table));
  const queries: string[] = [];
  const sock: Socket = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    queries.push(`${name}/${qtype === 28 ? 'AAAA' : qtype === 1 ? 'A' : qtype}`);
    const set = records.get(name);
    const family = qtype === 28 ? 6 : 4;
    const answers = (set?.addresses ?? []).filter((a) => isIP(a) === family);
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8400 | (set ? 0 : 3), 2); // response, authoritative, NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const question = msg.subarray(12, end + 4);
    const rrs = answers.map((a) => {
      const data = family === 4 ? Buffer.from(a.split('.').map(Number)) : ipv6Bytes(a);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(set?.ttl ?? 0, 6);
      rr.writeUInt16BE(data.length, 10);
      return Buffer.concat([rr, data]);
    });
    sock.send(Buffer.concat([header, question, ...rrs]), rinfo.port, rinfo.address);
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const { port } = sock.address();
  return {
    address: `127.0.0.1:${port}`,
    queries,
    table: records,
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}
