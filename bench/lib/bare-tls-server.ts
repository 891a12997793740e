// The floor for serving a cached layer from Node: a bare HTTPS server (its own process, started by
// the layer-cache scenario) answering every GET with one file from disk, streamed as Node streams it
// (createReadStream piped to the response), no hashing, no policy, no upstream. Its CPU per GiB is
// what the cache's hit is held against. Argument: JSON { ip, port, file, certFile, keyFile }.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:https';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  ip: string;
  port: number;
  file: string;
  certFile: string;
  keyFile: string;
};
const size = statSync(o.file).size;
const server = createServer({ cert: readFileSync(o.certFile), key: readFileSync(o.keyFile) }, (req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
  if (req.method === 'HEAD') res.end();
  else createReadStream(o.file, { highWaterMark: 256 * 1024 }).pipe(res);
});
server.on('tlsClientError', () => undefined);
server.listen(o.port, o.ip);
process.on('SIGTERM', () => process.exit(0));
