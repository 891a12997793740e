// A second process for the cross-process fill tests: opens the cache folder and either fills a
// digest from a file (slowly, so the other process sees the fill in progress) or follows the fill.
// Prints one JSON line with what it did. `hang` claims the fill, writes half and waits to be killed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlobCache } from '../../../src/cache/blob-cache.js';

const [dir, hex, source, mode] = process.argv.slice(2) as [string, string, string, string];
const data = readFileSync(source);
const cache = await BlobCache.open({ dir, maxBytes: 1 << 30, staleMs: 2_000, pollMs: 10 });
const writer = await cache.beginFill(hex);
if (writer !== null) {
  await writer.expectSize(data.length);
  const step = Math.ceil(data.length / 8);
  const half = mode === 'hang' ? 4 : 8;
  for (let i = 0; i < half; i++) {
    writer.write(data.subarray(i * step, (i + 1) * step));
    await new Promise((r) => setTimeout(r, 40));
  }
  if (mode === 'hang') {
    process.stdout.write(JSON.stringify({ role: 'hanging' }) + '\n');
    await new Promise(() => setInterval(() => undefined, 1_000)); // mid-fill until killed
  }
  writer.end();
  await new Promise((resolve, reject) => writer.on('finish', resolve).on('error', reject));
  process.stdout.write(JSON.stringify({ role: 'filled' }) + '\n');
} else {
  const r = await cache.follow(hex, 10_000);
  if (r === null) {
    process.stdout.write(JSON.stringify({ role: 'none' }) + '\n');
  } else {
    const hash = createHash('sha256');
    for await (const chunk of r.stream) hash.update(chunk as Buffer);
    process.stdout.write(JSON.stringify({ role: 'followed', sha: hash.digest('hex') }) + '\n');
  }
}
