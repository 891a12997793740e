// Registry API parsing and rules, table-driven over method x path: what each request is read as and
// the verdict a pullOnly registry limited to team-a/* and base/** gives it.
import { describe, expect, it } from 'vitest';
import type { ResolvedRegistry } from '../../../src/config/registries.js';
import { parseRegistryPath, pathOnly } from '../../../src/inspect/registry-path.js';
import { checkRegistryRequest, compileRegistryRules } from '../../../src/inspect/rules.js';

const D = `sha256:${'a'.repeat(64)}`;
const registry = (over: Partial<ResolvedRegistry> = {}): ResolvedRegistry => ({
  name: 'myregistry',
  regions: [],
  dataEndpoints: [],
  regionalEndpoints: [],
  blobStorage: false,
  blobLearned: true,
  inspect: true,
  pullOnly: true,
  repositories: ['team-a/*', 'base/**'],
  cache: false,
  ...over,
});
const locked = compileRegistryRules(registry());
const open = compileRegistryRules(registry({ pullOnly: false, repositories: null }));

type Case = [method: string, target: string, expected: string | null, kind?: string];

// expected: the reason for the locked registry (null = allowed)
const cases: Case[] = [
  ['GET', '/v2/', null, 'base'],
  ['GET', '/v2', null, 'base'],
  ['POST', '/v2/', 'request_not_allowed', 'base'],
  ['GET', '/oauth2/token?service=x&scope=repository:team-a/app:pull', null, 'token'],
  ['POST', '/oauth2/token', null, 'token'],
  ['POST', '/oauth2/exchange', null, 'token'],
  ['GET', '/oauth2/exchange', 'request_not_allowed', 'token'],
  ['GET', '/v2/team-a/app/manifests/1.0', null, 'manifest'],
  ['HEAD', `/v2/team-a/app/manifests/${D}`, null, 'manifest'],
  ['GET', `/v2/team-a/app/manifests/sha256%3A${'a'.repeat(64)}`, null, 'manifest'],
  ['GET', '/v2/base/ubuntu/manifests/22.04', null, 'manifest'],
  ['GET', '/v2/base/deep/er/ubuntu/manifests/22.04', null, 'manifest'],
  ['GET', '/v2/team-a/nested/app/manifests/1.0', 'repository_not_allowed', 'manifest'],
  ['GET', '/v2/team-b/app/manifests/1.0', 'repository_not_allowed', 'manifest'],
  ['GET', '/v2/team-a/manifests/1.0', 'repository_not_allowed', 'manifest'],
  ['PUT', '/v2/team-a/app/manifests/1.0', 'push_not_allowed', 'manifest'],
  ['DELETE', `/v2/team-a/app/manifests/${D}`, 'push_not_allowed', 'manifest'],
  ['PATCH', '/v2/team-a/app/manifests/1.0', 'request_not_allowed', 'manifest'],
  ['GET', `/v2/team-a/app/blobs/${D}`, null, 'blob'],
  ['HEAD', `/v2/team-a/app/blobs/${D}?sig=SECRET`, null, 'blob'],
  ['DELETE', `/v2/team-a/app/blobs/${D}`, 'push_not_allowed', 'blob'],
  ['GET', '/v2/team-a/app/blobs/latest', 'request_not_allowed', 'ambiguous'],
  ['POST', '/v2/team-a/app/blobs/uploads/', 'push_not_allowed', 'upload'],
  ['PATCH', '/v2/team-a/app/blobs/uploads/0f3c-11aa', 'push_not_allowed', 'upload'],
  ['PUT', `/v2/team-a/app/blobs/uploads/0f3c-11aa?digest=${D}`, 'push_not_allowed', 'upload'],
  ['POST', `/v2/team-a/app/blobs/uploads/?mount=${D}&from=team-b/app`, 'push_not_allowed', 'upload'],
  ['GET', '/v2/team-a/app/tags/list?n=10', null, 'tags'],
  ['GET', '/v2/team-c/app/tags/list', 'repository_not_allowed', 'tags'],
  ['GET', `/v2/team-a/app/referrers/${D}`, null, 'referrers'],
  ['GET', '/v2/_catalog', 'repository_not_allowed', 'catalog'],
  ['GET', '/acr/v1/_catalog', 'repository_not_allowed', 'catalog'],
  ['GET', '/acr/v1/team-a/app/_tags', null, 'acr'],
  ['GET', '/acr/v1/team-a/app/_tags/1.0', null, 'acr'],
  ['GET', `/acr/v1/team-a/app/_manifests/${D}`, null, 'acr'],
  ['GET', '/acr/v1/team-a/app', null, 'acr'],
  ['PATCH', '/acr/v1/team-a/app/_tags/1.0', 'push_not_allowed', 'acr'],
  ['DELETE', '/acr/v1/team-a/app', 'push_not_allowed', 'acr'],
  ['GET', '/acr/v1/team-b/app/_tags', 'repository_not_allowed', 'acr'],
  // Tricks: every one is refused as ambiguous, before any repository check could be fooled.
  ['GET', '/v2/team-a%2Fapp/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/team-a/app%2F..%2F..%2Fteam-b/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/team-a/../team-b/app/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/team-a/./app/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/team-a//app/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/team-a/app\\x/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/team-a/manifests/x/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/Team-A/app/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/v2/team-a/app/manifests/bad:tag', 'request_not_allowed', 'ambiguous'],
  ['GET', 'http://evil.example/v2/team-a/app/manifests/1.0', 'request_not_allowed', 'ambiguous'],
  ['GET', '/', 'request_not_allowed', 'unknown'],
  ['GET', '/v2/team-a/app/unknown/x', 'request_not_allowed', 'unknown'],
  ['GET', '/acr/v2/whatever', 'request_not_allowed', 'unknown'],
];

describe('registry API requests on a pullOnly registry limited to team-a/* and base/**', () => {
  it.each(cases)('%s %s -> %s', (method, target, expected, kind) => {
    const route = parseRegistryPath(target);
    if (kind !== undefined) expect(route.kind).toBe(kind);
    expect(checkRegistryRequest(locked, method, route).reason).toBe(expected);
  });
});

describe('without pullOnly or a repository list', () => {
  const more: Case[] = [
    ['POST', '/v2/team-z/app/blobs/uploads/', null],
    ['PUT', '/v2/anything/manifests/1', null],
    ['GET', '/v2/_catalog', null],
    ['GET', '/v2/team-a/app/manifests/..', 'request_not_allowed'],
    ['OPTIONS', '/v2/', 'request_not_allowed'],
  ];
  it.each(more)('%s %s -> %s', (method, target, expected) => {
    expect(checkRegistryRequest(open, method, parseRegistryPath(target)).reason).toBe(expected);
  });
});

describe('cross-repository mounts', () => {
  const pushAllowed = compileRegistryRules(registry({ pullOnly: false }));
  const mounts: Case[] = [
    ['POST', `/v2/team-a/app/blobs/uploads/?mount=${D}&from=team-a/other`, null],
    ['POST', `/v2/team-a/app/blobs/uploads/?mount=${D}&from=team-b/app`, 'repository_not_allowed'],
    ['POST', `/v2/team-a/app/blobs/uploads/?mount=${D}&from=team-a/x&from=team-b/y`, 'request_not_allowed'],
    ['POST', `/v2/team-a/app/blobs/uploads/?mount=${D}&from=..%2Fteam-b`, 'request_not_allowed'],
    ['POST', `/v2/team-b/app/blobs/uploads/?mount=${D}&from=team-a/app`, 'repository_not_allowed'],
  ];
  it.each(mounts)('%s %s -> %s', (method, target, expected) => {
    expect(checkRegistryRequest(pushAllowed, method, parseRegistryPath(target)).reason).toBe(expected);
  });

  it('reads a mount source from from=, and a digest reference as a digest', () => {
    expect(parseRegistryPath(`/v2/team-a/app/blobs/uploads/?mount=${D}&from=base/x`)).toEqual({
      kind: 'upload',
      repository: 'team-a/app',
      session: null,
      mountFrom: 'base/x',
    });
    expect(parseRegistryPath(`/v2/a/b/manifests/${D}`)).toMatchObject({ byDigest: true, reference: D });
    expect(parseRegistryPath('/v2/a/b/manifests/v1')).toMatchObject({ byDigest: false, reference: 'v1' });
  });

  it('keeps no query string in the recorded path', () => {
    expect(pathOnly('/x/blobs/y?sig=SECRETSIG&se=2026')).toBe('/x/blobs/y');
  });
});
