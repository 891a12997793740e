// A tiny forward proxy on 127.0.0.1 that speaks CONNECT only, for tests of the gateway's own egress
// (service-tag download) and of tunnels handed to a parent proxy. It logs every CONNECT with its
// Proxy-Authorization header, "resolves" names through a table, and can be told to refuse.
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

interface ConnectLogEntry {
  authority: string;
  proxyAuthorization: string | undefined;
}

export interface ConnectProxy {
  readonly url: string;
  readonly port: number;
  readonly log: ConnectLogEntry[];
  /** Answer every CONNECT with this status instead of tunnelling (e.g. 403, 407); null = tunnel. */
  refuseWith: number | null;
  close(): Promise<void>;
}

/** names: host -> address to dial instead (the parent's own DNS); other hosts are dialled as given. */
export async function startConnectProxy(names: Record<string, string> = {}): Promise<ConnectProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(405, { connection: 'close' }).end('CONNECT only\n');
  });
  const proxy: ConnectProxy = {
    url: '',
    port: 0,
    log: [],
    refuseWith: null,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const authority = req.url ?? '';
    proxy.log.push({ authority, proxyAuthorization: req.headers['proxy-authorization'] });
    client.on('error', () => undefined);
    if (proxy.refuseWith !== null) {
      client.end(
        `HTTP/1.1 ${proxy.refuseWith} Refused by test proxy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    const colon = authority.lastIndexOf(':');
    const host = authority.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(authority.slice(colon + 1));
    const upstream = connect({ host: names[host] ?? host, port });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, { port, url: `http://127.0.0.1:${port}` });
}
