// The real service-tag files the project carries (test/fixtures/service-tags/*.json.gz), decompressed
// once per process: as bytes, as text, or as a path to a plain JSON copy in a temporary folder.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export const SERVICE_TAG_FIXTURES = [
  'ServiceTags_Public_20250721.json',
  'ServiceTags_Public_20250728.json',
  'ServiceTags_Public_20251017.json',
  'ServiceTags_Public_20251106.json',
] as const;

export type ServiceTagFixture = (typeof SERVICE_TAG_FIXTURES)[number];

/** The newest fixture: what most tests mean by "the real file". */
const LATEST_SERVICE_TAGS: ServiceTagFixture = 'ServiceTags_Public_20251106.json';

const DIR = fileURLToPath(new URL('../fixtures/service-tags/', import.meta.url));
const bytes = new Map<ServiceTagFixture, Buffer>();

/** The uncompressed JSON bytes of a fixture, exactly as Microsoft published them. */
export function serviceTagBytes(name: ServiceTagFixture = LATEST_SERVICE_TAGS): Buffer {
  let data = bytes.get(name);
  if (data === undefined) {
    data = gunzipSync(readFileSync(join(DIR, `${name}.gz`)));
    bytes.set(name, data);
  }
  return data;
}

export function serviceTagText(name: ServiceTagFixture = LATEST_SERVICE_TAGS): string {
  return serviceTagBytes(name).toString('utf8');
}

/**
 * A path to the uncompressed file, for code that takes a file name (the CLI, the service-tag
 * manager). The copy lives in a folder keyed by the content hash, so parallel workers share it.
 */
export function serviceTagPath(name: ServiceTagFixture = LATEST_SERVICE_TAGS): string {
  const data = serviceTagBytes(name);
  const hash = createHash('sha256').update(data).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `acr-egress-fixtures-${hash}`);
  const file = join(dir, name);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, data);
    // rename is atomic: a parallel worker sees either no file or the whole one.
    renameSync(tmp, file);
  }
  return file;
}
