// Which requests the cache interceptor claims: blob GETs (with or without Range) of a tunnel whose
// rule match carries a registry with cache: true; HEAD, manifests, other digests and registries
// without cache: true are left to the usual relay.
import { mkdtempSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RequestFields } from '../../../src/audit/record.js';
import { BlobCache } from '../../../src/cache/blob-cache.js';
import { BlobCacheHandler } from '../../../src/cache/blob-cache-handler.js';
import { CacheInterceptor } from '../../../src/cache/cache-interceptor.js';
import type { Exchange, TunnelState } from '../../../src/inspect/inspected-request.js';
import type { RegistryRoute } from '../../../src/inspect/registry-path.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
let interceptor: CacheInterceptor;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'acr-egress-cache-interceptor-'));
  interceptor = new CacheInterceptor(
    new BlobCacheHandler(await BlobCache.open({ dir, maxBytes: 1 << 20 }), {
      minBlobBytes: 0,
    }),
  );
});

function exchange(method: string, route: RegistryRoute, cache = true, headers: IncomingHttpHeaders = {}): Exchange {
  // Only what claims() reads: the match's registry, the method, the route and the headers.
  const tunnel = { registry: { name: 'myregistry', cache } } as unknown as TunnelState;
  return { tunnel, method, route, headers, fields: {} as RequestFields, bodyBytes: null };
}

const blob: RegistryRoute = { kind: 'blob', repository: 'team/app', digest: DIGEST };

describe('CacheInterceptor.claims', () => {
  it.each([
    ['claims a blob GET on a registry with cache: true', exchange('GET', blob), true],
    [
      'claims a blob GET with Range (served from disk on a hit)',
      exchange('GET', blob, true, { range: 'bytes=0-9' }),
      true,
    ],
    ['leaves a blob HEAD to the relay', exchange('HEAD', blob), false],
    ['leaves a registry without cache: true alone', exchange('GET', blob, false), false],
    [
      'leaves a manifest by digest to the registry',
      exchange('GET', { kind: 'manifest', repository: 'team/app', reference: DIGEST, byDigest: true }),
      false,
    ],
    [
      'leaves a digest other than sha256 alone',
      exchange('GET', { kind: 'blob', repository: 'team/app', digest: `sha512:${'b'.repeat(128)}` }),
      false,
    ],
  ])('%s', (_name, ex, claimed) => {
    expect(interceptor.claims(ex)).toBe(claimed);
  });
});
