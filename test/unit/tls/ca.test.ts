// The inspection CA: ca init/show through the CLI, the checks that refuse bad CA files, and the
// leaf signer's cache (each host signed once).
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, createServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createCa, loadCa, parseCa } from '../../../src/tls/ca.js';
import { LeafSigner } from '../../../src/inspect/leaf-signer.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';

function io(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('acr-egress ca', () => {
  it('init writes ca.crt and a 0600 ca.key, refuses to overwrite without --force, and show prints the trust steps', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'acr-egress-ca-')), 'ca');
    const first = io();
    expect(await main(['ca', 'init', '--dir', dir], first.io)).toBe(0);
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    const cert = readFileSync(join(dir, 'ca.crt'), 'utf8');
    expect(new X509Certificate(cert).ca).toBe(true);

    const again = io();
    expect(await main(['ca', 'init', '--dir', dir], again.io)).toBe(1);
    expect(again.err.join('\n')).toMatch(/exists; use --force/);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(cert);

    const forced = io();
    expect(await main(['ca', 'init', '--dir', dir, '--force'], forced.io)).toBe(0);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).not.toBe(cert);
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).toBe(0o600);

    const show = io();
    expect(await main(['ca', 'show', '--dir', dir], show.io)).toBe(0);
    const text = show.out.join('\n');
    expect(text).toContain('acr-egress inspection CA');
    expect(text).toMatch(/sha256: +([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect(text).toMatch(/expires: +\d{4}-/);
    expect(text).toContain('/etc/docker/certs.d/<registry>/ca.crt');
    expect(text).toContain('hosts.toml');
    expect(text).toContain('IoT Edge');
    expect(text).toContain('update-ca-certificates');
  });

  it('show on a missing CA says so and suggests ca init', async () => {
    const r = io();
    expect(await main(['ca', 'show', '--dir', join(tmpdir(), 'no-such-acr-egress-ca')], r.io)).toBe(1);
    const dir = join(tmpdir(), 'no-such-acr-egress-ca');
    expect(r.err).toEqual([
      `acr-egress ca show: no CA in ${dir} (${join(dir, 'ca.crt')} does not exist): create one with acr-egress ca init --dir ${dir}`,
    ]);
  });
});

describe('CA checks', () => {
  const good = createCa('unit CA');
  const other = makeCa('another unit CA');
  const cases: { name: string; cert: string; key: string; problem: RegExp }[] = [
    { name: 'a key from another CA', cert: good.certPem, key: other.key, problem: /does not belong/ },
    {
      name: 'a leaf certificate as CA',
      cert: makeLeaf(other, ['x.example']).cert,
      key: other.key,
      problem: /not a CA/,
    },
    { name: 'garbage as certificate', cert: 'hello', key: good.keyPem, problem: /not a PEM certificate/ },
    { name: 'garbage as key', cert: good.certPem, key: 'hello', problem: /not a PEM private key/ },
  ];
  it.each(cases)('refuses $name', ({ cert, key, problem }) => {
    const r = parseCa(cert, key);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(problem);
  });

  it('loads a matching pair from disk and names the files when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-ca-'));
    writeFileSync(join(dir, 'ca.crt'), good.certPem);
    writeFileSync(join(dir, 'ca.key'), good.keyPem);
    expect(loadCa(join(dir, 'ca.crt'), join(dir, 'ca.key')).ok).toBe(true);
    const missing = loadCa(join(dir, 'nope.crt'), join(dir, 'ca.key'));
    expect(missing).toMatchObject({ ok: false, problem: expect.stringContaining('nope.crt') });
  });
});

describe('LeafSigner', () => {
  it('signs 200 distinct hosts 200 times, and serves repeats from the cache', () => {
    const pair = createCa('leaf CA');
    const ca = parseCa(pair.certPem, pair.keyPem);
    if (!ca.ok) throw new Error(ca.problem);
    const signer = new LeafSigner(ca.ca);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++) signer.contextFor(`host${i}.example`);
    }
    expect(signer.stats).toEqual({ signatures: 200, hits: 400 });
  });

  it('makes EC P-256 leaves a TLS client accepts for the exact host, signed by the CA', async () => {
    const pair = createCa('leaf CA 2');
    const ca = parseCa(pair.certPem, pair.keyPem);
    if (!ca.ok) throw new Error(ca.problem);
    const signer = new LeafSigner(ca.ca);
    const server = createServer({ SNICallback: (name, cb) => cb(null, signer.contextFor(name)) }, (s) => s.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const got = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'myregistry.azurecr.io', ca: pair.certPem });
      let data = '';
      s.on('secureConnect', () => expect(s.getPeerCertificate().asn1Curve).toBe('prime256v1'));
      s.on('data', (c: Buffer) => (data += c.toString()));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(got).toBe('ok');
    const wrong = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'a.example', ca: pair.certPem });
      s.on('secureConnect', () => {
        // The leaf is for a.example: checking it against another name must fail.
        resolve(String(checkServerIdentity('b.example', s.getPeerCertificate())?.message ?? 'accepted'));
        s.destroy();
      });
      s.on('error', (e) => resolve(e.message));
    });
    expect(wrong).toMatch(/does not match|not in the cert/i);
    server.close();
  });
});
