// The ceiling for Node: the smallest CONNECT proxy one would write (http 'connect' + net.connect +
// pipe), with no policy, no logging and a static name map. Run as its own process by the bench.
// Usage: node --import tsx bench/node-pipe.ts '{"port":3128,"hosts":{"name":"127.0.0.2"}}'
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';

interface Options {
  port: number;
  hosts: Record<string, string>;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;

const server = createServer();
server.on('connect', (req, client: Socket, head: Buffer) => {
  client.on('error', () => undefined);
  const m = /^([^:]+):(\d+)$/.exec(req.url ?? '');
  const ip = m ? opts.hosts[m[1] as string] : undefined;
  if (!m || ip === undefined) {
    client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const upstream = connect({ host: ip, port: Number(m[2]), noDelay: true }, () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen(opts.port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
