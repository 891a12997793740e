// A loopback stand-in for ACR made of real parts: Debian's docker-registry (the CNCF distribution
// registry) serving TLS as <name>.azurecr.io, whose storage `redirect` middleware answers layer GETs
// with a 307 to a blob host, and that blob host: a small HTTPS server posing as
// <account>.blob.core.windows.net that serves the registry's storage directory, as Azure Storage does.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, makeLeaf } from './certs.js';

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
  /** The registry's stderr so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  registryName?: string;
  blobAccount?: string;
  registryIp?: string;
  blobIp?: string;
  /** Further names on the registry certificate (a second login server for refusal tests). */
  extraNames?: string[];
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

function registryConfig(o: {
  storageDir: string;
  ip: string;
  port: number;
  blobBase: string;
  certFile: string;
  keyFile: string;
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
    if (status === 200) return;
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
  const loginServer = `${registryName}.azurecr.io`;
  const blobHost = `${opts.blobAccount ?? 'account1'}.blob.core.windows.net`;
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
  const blobLeaf = makeLeaf(ca, [`*.blob.core.windows.net`, blobIp]);
  writeFileSync(join(certDir, 'ca.crt'), ca.cert);
  const certFile = join(dir, 'registry.crt');
  const keyFile = join(dir, 'registry.key');
  writeFileSync(certFile, leaf.cert);
  writeFileSync(keyFile, leaf.key, { mode: 0o600 });

  const blobRequests: string[] = [];
  const sockets = new Set<Socket>();
  for (let attempt = 1; ; attempt++) {
    const blobServer = await startBlobHost(storageDir, blobIp, blobLeaf.key, blobLeaf.cert, blobRequests);
    blobServer.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    const port = (blobServer.address() as AddressInfo).port;
    const configFile = join(dir, 'config.yml');
    writeFileSync(
      configFile,
      registryConfig({ storageDir, ip: registryIp, port, blobBase: `https://${blobHost}:${port}/`, certFile, keyFile }),
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
    const closeBlob = async (): Promise<void> => {
      for (const s of sockets) s.destroy();
      blobServer.close();
      await once(blobServer, 'close').catch(() => undefined);
    };
    try {
      await waitForRegistry(child, registryIp, port, loginServer, ca.cert, log);
    } catch (err) {
      await stopChild(child);
      await closeBlob();
      if (attempt < 3 && /address already in use/i.test(stderr)) continue;
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
      log,
      async stop() {
        await stopChild(child);
        await closeBlob();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
