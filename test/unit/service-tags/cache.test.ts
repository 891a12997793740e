// The cache file is replaced whole or not at all.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAcrEgressError } from '../../../src/errors.js';
import { touchFile, writeFileAtomic } from '../../../src/service-tags/cache.js';

const dir = () => mkdtempSync(join(tmpdir(), 'acr-egress-cache-'));

describe('writeFileAtomic', () => {
  it('creates missing directories and writes the bytes', async () => {
    const path = join(dir(), 'a', 'b', 'service-tags.json');
    await writeFileAtomic(path, Buffer.from('{"x":1}'));
    expect(readFileSync(path, 'utf8')).toBe('{"x":1}');
  });

  it('replaces an existing file and leaves no temp file behind', async () => {
    const d = dir();
    const path = join(d, 'service-tags.json');
    writeFileSync(path, 'old');
    await writeFileAtomic(path, Buffer.from('new'));
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(readdirSync(d)).toEqual(['service-tags.json']);
  });

  it('fails with SERVICE_TAGS_CACHE_WRITE_FAILED when the directory cannot be made, touching nothing', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), 'x');
    const err = await writeFileAtomic(join(d, 'file', 'cache.json'), Buffer.from('new')).catch((e: unknown) => e);
    expect(isAcrEgressError(err, 'SERVICE_TAGS_CACHE_WRITE_FAILED')).toBe(true);
    expect(readdirSync(d)).toEqual(['file']);
  });

  it('fails when the rename cannot replace the target, removing its temp file', async () => {
    const d = dir();
    mkdirSync(join(d, 'cache.json'));
    writeFileSync(join(d, 'cache.json', 'keep'), 'x');
    const err = await writeFileAtomic(join(d, 'cache.json'), Buffer.from('new')).catch((e: unknown) => e);
    expect(isAcrEgressError(err, 'SERVICE_TAGS_CACHE_WRITE_FAILED')).toBe(true);
    expect(readdirSync(d)).toEqual(['cache.json']);
  });
});

describe('touchFile', () => {
  it('sets the modification time (the age of the cached data)', async () => {
    const path = join(dir(), 'f');
    writeFileSync(path, 'x');
    const when = new Date('2025-11-06T00:00:00Z');
    await touchFile(path, when);
    expect(statSync(path).mtime.toISOString()).toBe(when.toISOString());
  });
});
