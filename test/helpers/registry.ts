// A loopback stand-in for ACR made of real parts: Debian's docker-registry (the CNCF distribution
// registry) serving TLS as <name>.azurecr.io, whose storage `redirect` middleware answers layer GETs
// with a 307 to a blob host, and that blob host: a small HTTPS server posing as
// <account>.blob.core.windows.net that serves the registry's storage directory, as Azure Storage does.
// With `token`, the registry runs `auth: token` behind a small front on the login server's address
// that serves `/oauth2/token` itself and relays everything else, as ACR's login server does.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request as httpsRequest, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, makeLeaf } from './certs.js';
import { createTokenService, type TokenPolicy, type TokenService } from './token-server.js';

/** Debian's package installs it as /usr/bin/docker-registry; found on PATH so a test can hide it. */
const REGISTRY_BIN = 'docker-registry';

export interface TestRegistry {
  /** Login server name the registry's certificate carries, e.g. myregistry.azurecr.io. */
  readonly loginServer: string;
  /** Loopback address the registry listens on (127.0.0.2). */
  readonly registryIp: string;
  /** Blob host name the redirects point at, e.g. account1.blob.core.windows.net. */
  readonly blobHost: string;
  /** Loopback address the blob host listens on (127.0.0.3). */
  readonly blobIp: string;
  /** One port for both: the registry on registryIp, the blob host on blobIp. */
  readonly port: number;
  /** Directory with ca.crt, for skopeo's --src-cert-dir / --dest-cert-dir. */
  readonly certDir: string;
  readonly caPem: string;
  /** The registry's filesystem storage root (what the blob host serves). */
  readonly storageDir: string;
  /** Paths the blob host was asked for (`GET /docker/registry/v2/blobs/...`). */
  readonly blobRequests: string[];
  /** With `token`: the token service (its request log, and `mint` for hand-made tokens). */
  readonly tokens: TokenService | null;
  /** With `token`: every request the login server's front relayed to the registry, with its answer. */
  readonly registryRequests: FrontRecord[];
  /** The registry's stderr so far, for failure messages. */
  log(): string;
  /** Stops the registry process alone (the blob host keeps serving): a registry that is down. */
  stopRegistry(): Promise<void>;
  stop(): Promise<void>;
}

/** One request the front relayed: no header values are kept, only whether it carried a bearer token. */
interface FrontRecord {
  method: string;
  path: string;
  bearer: boolean;
  status: number;
}

export interface RegistryOptions {
  registryName?: string;
  blobAccount?: string;
  /** Overrides `<registryName>.azurecr.io`, e.g. mcr.microsoft.com. */
  loginServer?: string;
  /** Overrides `<blobAccount>.blob.core.windows.net`, e.g. eastus.data.mcr.microsoft.com. */
  blobHost?: string;
  registryIp?: string;
  blobIp?: string;
  /** Further names on the registry certificate (a second login server for refusal tests). */
  extraNames?: string[];
  /** An htpasswd line (`user:$2y$...`): the registry then answers 401 to requests without those credentials. */
  htpasswd?: string;
  /** Token auth as ACR does it: the realm is `https://<login server>/oauth2/token`. Excludes htpasswd. */
  token?: TokenPolicy;
}

/** Which of the tools the e2e tests need are missing on this machine (empty: all there). */
export function missingRegistryTools(): string[] {
  const missing: string[] = [];
  if (spawnSync('skopeo', ['--version'], { stdio: 'ignore' }).status !== 0) missing.push('skopeo');
  if (spawnSync(REGISTRY_BIN, ['--version'], { stdio: 'ignore' }).status !== 0) missing.push('docker-registry');
  return missing;
}

/** Serves files under root at the request path, GET and HEAD, with single byte ranges; nothing outside root. */
function startBlobHost(root: string, ip: string, key: string, cert: string, requests: string[]): Promise<Server> {
  const base = resolve(root);
  const server = createServer({ key, cert }, (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'https://blob').pathname);
    requests.push(`${req.method ?? ''} ${path}`);
    const file = resolve(base, `.${path}`);
    let size = -1;
    try {
      if (file.startsWith(base + sep)) {
        const st = statSync(file);
        if (st.isFile()) size = st.size;
      }
    } catch {
      size = -1;
    }
    if ((req.method !== 'GET' && req.method !== 'HEAD') || size < 0) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405, { 'Content-Length': 0 });
      res.end();
      return;
    }
    let start = 0;
    let end = size - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      end = range[2] === '' ? end : Math.min(end, Number(range[2]));
    }
    if (start > end && size > 0) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': size === 0 ? 0 : end - start + 1,
      'Accept-Ranges': 'bytes',
    };
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || size === 0) res.end();
    else createReadStream(file, { start, end }).pipe(res);
  });
  server.on('tlsClientError', () => undefined);
  return new Promise((done, reject) => {
    server.once('error', reject);
    server.listen(0, ip, () => {
      server.off('error', reject);
      done(server);
    });
  });
}

/** A free TCP port on ip (closed again at once; a lost race shows up as EADDRINUSE and is retried). */
async function freePort(ip: string): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((done, reject) => {
    probe.once('error', reject);
    probe.listen(0, ip, done);
  });
  const port = (probe.address() as AddressInfo).port;
  await new Promise((done) => probe.close(done));
  return port;
}

/**
 * The login server's front: `/oauth2/token` answered by the token service, every other request
 * relayed unchanged (Host included, so the registry's Location headers name the login server) to
 * docker-registry on its inner port. Records each relayed request for the tests to count.
 */
function startFront(o: {
  ip: string;
  port: number;
  key: string;
  cert: string;
  inner: { port: number; servername: string; ca: string };
  tokens: TokenService;
  records: FrontRecord[];
}): Promise<Server> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const server = createServer({ key: o.key, cert: o.cert }, (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://front').pathname;
    if (path === '/oauth2/token') {
      o.tokens.handle(req, res);
      return;
    }
    const record: FrontRecord = {
      method: req.method ?? '',
      path,
      bearer: /^Bearer /i.test(req.headers.authorization ?? ''),
      status: 0,
    };
    o.records.push(record);
    const up = httpsRequest(
      {
        host: o.ip,
        port: o.inner.port,
        servername: o.inner.servername,
        ca: o.inner.ca,
        agent,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upRes) => {
        record.status = upRes.statusCode ?? 0;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('error', () => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'Content-Length': 0 }).end();
      else res.destroy();
    });
    req.pipe(up);
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
  });
  server.on('tlsClientError', () => undefined);
  server.on('close', () => agent.destroy());
  return new Promise((done, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.ip, () => {
      server.off('error', reject);
      done(server);
    });
  });
}

function registryConfig(o: {
  storageDir: string;
  ip: string;
  port: number;
  blobBase: string;
  certFile: string;
  keyFile: string;
  htpasswdFile: string | null;
  token: { realm: string; service: string; issuer: string; rootcertbundle: string } | null;
}): string {
  // JSON is YAML: no YAML writer needed, and no quoting surprises.
  return JSON.stringify(
    {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: o.storageDir },
        delete: { enabled: true },
        redirect: { disable: false },
      },
      // The filesystem driver cannot redirect by itself; this middleware gives it a URLFor that
      // points at the blob host, so blob GETs answer 307 like ACR's redirect to Azure Storage.
      middleware: { storage: [{ name: 'redirect', options: { baseurl: o.blobBase } }] },
      http: {
        addr: `${o.ip}:${o.port}`,
        secret: randomBytes(16).toString('hex'),
        tls: { certificate: o.certFile, key: o.keyFile },
      },
      health: { storagedriver: { enabled: false } },
      ...(o.htpasswdFile === null ? {} : { auth: { htpasswd: { realm: 'acr-egress-test', path: o.htpasswdFile } } }),
      ...(o.token === null ? {} : { auth: { token: o.token } }),
    },
    null,
    2,
  );
}

/** Resolves once the registry answers /v2/ over TLS, rejects when it exits or the deadline passes. */
async function waitForRegistry(
  child: ChildProcess,
  ip: string,
  port: number,
  servername: string,
  ca: string,
  log: () => string,
): Promise<void> {
  // A plain retry loop rather than vi.waitFor: bench/ starts this registry outside vitest.
  const deadline = Date.now() + 15_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (exited) throw new Error(`docker-registry exited during start-up:\n${log()}`);
    const status = await new Promise<number>((done) => {
      const socket = tlsConnect({ host: ip, port, servername, ca }, () => {
        socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${servername}:${port}\r\nConnection: close\r\n\r\n`);
      });
      let buf = '';
      socket.on('data', (c: Buffer) => (buf += c.toString('latin1')));
      socket.on('close', () => done(Number(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? 0)));
      socket.on('error', () => done(0));
      socket.setTimeout(2_000, () => socket.destroy());
    });
    if (status === 200 || status === 401) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer /v2/ on ${ip}:${port}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts the blob host (on an ephemeral port of blobIp) and the registry (on the same port of
 * registryIp). A port taken on registryIp is retried with a new one.
 */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const registryName = opts.registryName ?? 'myregistry';
  const loginServer = opts.loginServer ?? `${registryName}.azurecr.io`;
  const blobHost = opts.blobHost ?? `${opts.blobAccount ?? 'account1'}.blob.core.windows.net`;
  const registryIp = opts.registryIp ?? '127.0.0.2';
  const blobIp = opts.blobIp ?? '127.0.0.3';
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-registry-'));
  const storageDir = join(dir, 'storage');
  const certDir = join(dir, 'certs');
  mkdirSync(storageDir);
  mkdirSync(certDir);
  const ca = makeCa();
  // The IP SAN lets skopeo push straight to the address, without any name resolution.
  const leaf = makeLeaf(ca, [loginServer, ...(opts.extraNames ?? []), registryIp]);
  const blobLeaf = makeLeaf(ca, [
    opts.blobHost === undefined ? `*.blob.core.windows.net` : `*.${blobHost.split('.').slice(1).join('.')}`,
    blobIp,
  ]);
  writeFileSync(join(certDir, 'ca.crt'), ca.cert);
  const certFile = join(dir, 'registry.crt');
  const keyFile = join(dir, 'registry.key');
  writeFileSync(certFile, leaf.cert);
  writeFileSync(keyFile, leaf.key, { mode: 0o600 });

  const blobRequests: string[] = [];
  const registryRequests: FrontRecord[] = [];
  const sockets = new Set<Socket>();
  const track = (server: Server): void => {
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
  };
  if (opts.token !== undefined && opts.htpasswd !== undefined) throw new Error('token and htpasswd exclude each other');
  const tokens = opts.token === undefined ? null : createTokenService({ service: loginServer, policy: opts.token });
  const rootBundle = join(dir, 'token-root.crt');
  if (tokens !== null) writeFileSync(rootBundle, tokens.rootCertPem);
  for (let attempt = 1; ; attempt++) {
    const blobServer = await startBlobHost(storageDir, blobIp, blobLeaf.key, blobLeaf.cert, blobRequests);
    track(blobServer);
    const port = (blobServer.address() as AddressInfo).port;
    // With a front, docker-registry listens on an inner port and the front takes the public one.
    const innerPort = tokens === null ? port : await freePort(registryIp);
    const configFile = join(dir, 'config.yml');
    const htpasswdFile = opts.htpasswd === undefined ? null : join(dir, 'htpasswd');
    if (htpasswdFile !== null) writeFileSync(htpasswdFile, `${opts.htpasswd}\n`);
    writeFileSync(
      configFile,
      registryConfig({
        storageDir,
        ip: registryIp,
        port: innerPort,
        blobBase: `https://${blobHost}:${port}/`,
        certFile,
        keyFile,
        htpasswdFile,
        token:
          tokens === null
            ? null
            : {
                realm: `https://${loginServer}:${port}/oauth2/token`,
                service: tokens.service,
                issuer: tokens.issuer,
                rootcertbundle: rootBundle,
              },
      }),
    );
    const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const keep = (c: Buffer): void => {
      stderr = (stderr + c.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
    const log = (): string => stderr;
    let front: Server | null = null;
    const closeFront = async (): Promise<void> => {
      if (front === null) return;
      const f = front;
      front = null;
      f.close();
      f.closeAllConnections();
      await once(f, 'close').catch(() => undefined);
    };
    const closeBlob = async (): Promise<void> => {
      await closeFront();
      for (const s of sockets) s.destroy();
      blobServer.close();
      await once(blobServer, 'close').catch(() => undefined);
    };
    try {
      await waitForRegistry(child, registryIp, innerPort, loginServer, ca.cert, log);
      if (tokens !== null) {
        front = await startFront({
          ip: registryIp,
          port,
          key: leaf.key,
          cert: leaf.cert,
          inner: { port: innerPort, servername: loginServer, ca: ca.cert },
          tokens,
          records: registryRequests,
        });
      }
    } catch (err) {
      await stopChild(child);
      await closeBlob();
      const inUse = /address already in use/i.test(stderr) || (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (attempt < 3 && inUse) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      loginServer,
      registryIp,
      blobHost,
      blobIp,
      port,
      certDir,
      caPem: ca.cert,
      storageDir,
      blobRequests,
      tokens,
      registryRequests,
      log,
      // The login server goes away as a whole: the front stops listening too.
      async stopRegistry() {
        await closeFront();
        await stopChild(child);
      },
      async stop() {
        await stopChild(child);
        await closeBlob();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
