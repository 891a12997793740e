// The inspection keys at config load: what a registry that inspects needs, and the refusals.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { buildConfig } from '../../../src/config/load.js';
import { isAcrEgressError } from '../../../src/errors.js';
import { createCa } from '../../../src/tls/ca.js';
import { makeCa } from '../../helpers/certs.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-inspect-config-'));
const ca = createCa('config CA');
const certFile = join(dir, 'ca.crt');
const keyFile = join(dir, 'ca.key');
const otherKey = join(dir, 'other.key');
const junk = join(dir, 'junk.pem');
writeFileSync(certFile, ca.certPem);
writeFileSync(keyFile, ca.keyPem);
writeFileSync(otherKey, makeCa('config other CA').key);
writeFileSync(junk, 'not a certificate\n');

function problems(raw: Record<string, unknown>): string[] {
  try {
    buildConfig(raw, null);
    return [];
  } catch (err) {
    if (isAcrEgressError(err)) return [...err.details];
    throw err;
  }
}

const inspected = { name: 'myregistry', inspect: true, pullOnly: true, blobStorage: 'learned' };

describe('inspection config', () => {
  it('accepts an inspected registry with a matching CA and resolves its keys', () => {
    const loaded = buildConfig(
      {
        registries: [{ ...inspected, repositories: ['team-a/*', 'base/**'] }],
        inspect: { caCertFile: certFile, caKeyFile: keyFile, upstreamCaFile: certFile },
      },
      null,
    );
    expect(loaded.registries[0]).toMatchObject({
      inspect: true,
      pullOnly: true,
      blobStorage: false,
      blobLearned: true,
      repositories: ['team-a/*', 'base/**'],
    });
    expect(loaded.config.inspect.learnedTtlSeconds).toBe(600);
  });

  const cases: { name: string; raw: Record<string, unknown>; problem: RegExp }[] = [
    {
      name: 'an inspected registry without a CA',
      raw: { registries: [inspected] },
      problem: /^inspect\.caCertFile: registry myregistry has inspect: true/,
    },
    {
      name: 'a CA key that does not match the certificate',
      raw: { registries: [inspected], inspect: { caCertFile: certFile, caKeyFile: otherKey } },
      problem: /^inspect\.caCertFile: the CA key does not belong to the CA certificate/,
    },
    {
      name: 'a CA file that is not a certificate',
      raw: { registries: [inspected], inspect: { caCertFile: junk, caKeyFile: keyFile } },
      problem: /not a PEM certificate/,
    },
    {
      name: 'a missing CA file',
      raw: { registries: [inspected], inspect: { caCertFile: join(dir, 'none.crt'), caKeyFile: keyFile } },
      problem: /cannot read the CA certificate .*none\.crt.*ENOENT/,
    },
    {
      name: 'an upstream CA file without certificates',
      raw: { mcr: true, inspect: { upstreamCaFile: junk } },
      problem: /^inspect\.upstreamCaFile: .* holds no PEM certificate/,
    },
    {
      name: 'pullOnly without inspect',
      raw: { registries: [{ name: 'myregistry', pullOnly: true }] },
      problem: /^registries\(myregistry\)\.pullOnly: needs inspect: true/,
    },
    {
      name: 'blobStorage: learned without inspect',
      raw: { registries: [{ name: 'myregistry', blobStorage: 'learned' }] },
      problem: /blobStorage: learned needs inspect: true/,
    },
    {
      name: 'a repository pattern with ** inside a segment',
      raw: {
        registries: [{ ...inspected, repositories: ['team**'] }],
        inspect: { caCertFile: certFile, caKeyFile: keyFile },
      },
      problem: /repositories\[0\]: "team\*\*": \*\* must be a whole path segment/,
    },
  ];
  it.each(cases)('refuses $name with a clear problem', ({ raw, problem }) => {
    expect(
      problems(raw).some((p) => problem.test(p)),
      problems(raw).join('\n'),
    ).toBe(true);
  });

  it('config validate refuses a mismatched CA pair with exit 2 and says which key is wrong', async () => {
    const file = join(dir, 'mismatch.json');
    writeFileSync(
      file,
      JSON.stringify({ registries: [inspected], inspect: { caCertFile: certFile, caKeyFile: otherKey } }),
    );
    const err: string[] = [];
    const code = await main(['config', 'validate', file], { out: () => undefined, err: (l) => err.push(l) });
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(
      /inspect\.caCertFile: the CA key does not belong to the CA certificate .*other\.key/,
    );
  });
});
