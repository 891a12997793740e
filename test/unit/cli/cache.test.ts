// `acr-egress cache ls|verify|prune` over a real cache folder named by a real config file.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { blobPath } from '../../../src/cache/layout.js';
import { main } from '../../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-cli-'));
const configFile = join(dir, 'acr-egress.yaml');
const blobs = [randomBytes(3000), randomBytes(4000), randomBytes(5000)];
const hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

beforeAll(async () => {
  writeFileSync(configFile, 'registries: [{name: myregistry}]\ncache: {dir: ./layers, maxBytes: 1048576}\n');
  const cache = await BlobCache.open({ dir: join(dir, 'layers'), maxBytes: 1 << 20 });
  for (const b of blobs) {
    const w = (await cache.beginFill(hex(b)))!;
    await new Promise((resolve, reject) => w.on('finish', resolve).on('error', reject).end(b));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('acr-egress cache', () => {
  it('ls lists every layer and the total, in the config folder', async () => {
    const { code, out } = await run('cache', 'ls', '--config', configFile);
    expect(code).toBe(0);
    for (const b of blobs) expect(out.some((l) => l.startsWith(`sha256:${hex(b)}  ${b.length}  `))).toBe(true);
    expect(out.at(-1)).toBe(`3 layer(s), 12000 of 1048576 bytes (${join(dir, 'layers')})`);
    const json = JSON.parse((await run('cache', 'ls', '--config', configFile, '--json')).out[0]!);
    expect(json.items).toHaveLength(3);
  });

  it('verify removes a layer whose bytes do not match and exits 1', async () => {
    writeFileSync(blobPath(join(dir, 'layers'), hex(blobs[2]!)), randomBytes(5000));
    const bad = await run('cache', 'verify', '--config', configFile);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`removed sha256:${hex(blobs[2]!)}: its bytes do not match the digest`);
    const good = await run('cache', 'verify', '--config', configFile);
    expect(good.code).toBe(0);
    expect(good.out.at(-1)).toMatch(/^2 layer\(s\) verified, 0 removed/);
  });

  it('prune evicts down to --to', async () => {
    const { code, out } = await run('cache', 'prune', '--config', configFile, '--to', '0');
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^2 layer\(s\) evicted: 7000 -> 0 bytes/);
  });

  it.each([
    { argv: ['cache'], message: /cache takes ls, verify or prune/ },
    { argv: ['cache', 'ls', '--to', '5'], message: /--to is for prune/ },
    { argv: ['cache', 'prune', '--to', 'lots'], message: /--to takes a number of bytes/ },
  ])('refuses $argv with exit 2', async ({ argv, message }) => {
    const { code, err } = await run(...argv);
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(message);
  });

  it('answers --help with exit 0', async () => {
    const { code, out } = await run('cache', '--help');
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/cache verify/);
  });
});
