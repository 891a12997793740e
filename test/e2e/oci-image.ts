// Writes a small OCI image layout (oci-layout, index.json, blobs/) with random gzip tar layers, so
// the e2e tests push and pull a real image without downloading one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface OciImage {
  readonly dir: string;
  readonly tag: string;
  /** The compressed layers as in the manifest: sha256:<hex> and size in bytes. */
  readonly layers: readonly { digest: string; size: number }[];
  /** The config blob (a few hundred bytes, below any sensible cache.minBlobBytes). */
  readonly config: { digest: string; size: number };
  readonly manifestDigest: string;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** One ustar header block for a regular file. */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const put = (text: string, offset: number, length: number): void => {
    h.write(text.slice(0, length), offset, length, 'ascii');
  };
  const octal = (n: number, length: number): string => `${n.toString(8).padStart(length - 1, '0')}\0`;
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime: fixed, so the bytes depend only on the content
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  put('0', 156, 1); // regular file
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/** A tar holding one file, padded to 512-byte blocks and closed with two zero blocks. */
function tarOneFile(name: string, content: Buffer): Buffer {
  const pad = (512 - (content.length % 512)) % 512;
  return Buffer.concat([tarHeader(name, content.length), content, Buffer.alloc(pad), Buffer.alloc(1024)]);
}

function writeBlob(dir: string, data: Buffer): string {
  const digest = sha256(data);
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
  return digest;
}

/** Writes the layout into dir (created) with one layer per entry of `layerBytes`, each that many random bytes. */
export function writeOciImage(dir: string, tag: string, layerBytes: readonly number[]): OciImage {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const diffIds: string[] = [];
  const layers = layerBytes.map((bytes, i) => {
    const tar = tarOneFile(`payload-${i}.bin`, randomBytes(bytes));
    diffIds.push(sha256(tar));
    // Random bytes do not compress: level 1 keeps it quick.
    const layer = gzipSync(tar, { level: 1 });
    return { digest: writeBlob(dir, layer), size: layer.length };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = writeBlob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
    }),
  );
  const manifestDigest = writeBlob(dir, manifest);
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir, tag, layers, config: { digest: configDigest, size: config.length }, manifestDigest };
}
