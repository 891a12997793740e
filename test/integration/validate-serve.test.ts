// `config validate` and `serve` (Gateway.create, the code path serve starts with) agree on every
// config of a table: what one refuses the other refuses, so a validated config never fails to start.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { Gateway } from '../../src/gateway.js';
import { writeTagsFile } from '../helpers/tags.js';

const dir = mkdtempSync(join(tmpdir(), 'acr-egress-agree-'));
const tagsFile = writeTagsFile();
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'a-real-token-0123456789abcdef\n');

const base = {
  proxy: { listen: '127.0.0.1:0' },
  registries: [{ name: 'myregistry', regions: ['eastus'] }],
  serviceTags: { enforce: true, source: tagsFile, cacheFile: null },
  admin: { listen: null },
  log: { level: 'silent' },
};
const merge = (extra: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra))
    out[k] =
      v === null || typeof v !== 'object' || Array.isArray(v)
        ? v
        : { ...((base as Record<string, unknown>)[k] as object), ...v };
  return out;
};

const table: [string, Record<string, unknown>, boolean][] = [
  ['a minimal valid config', base, true],
  ['a region typo', merge({ registries: [{ name: 'myregistry', regions: ['westeurop'] }] }), false],
  ['the admin API on 0.0.0.0 with no token', merge({ admin: { listen: '0.0.0.0:0' } }), false],
  ['the admin API on 0.0.0.0 with a token file', merge({ admin: { listen: '0.0.0.0:0', tokenFile } }), true],
  ['a token file that does not exist', merge({ admin: { tokenFile: join(dir, 'nope') } }), false],
  [
    'the Kubernetes placeholder token',
    merge({ admin: { token: 'REPLACE-ME-with-a-random-token-of-32-or-more-characters' } }),
    false,
  ],
  [
    'cloud AzureUSGovernment with the Public page',
    merge({
      cloud: 'AzureUSGovernment',
      serviceTags: { source: 'https://www.microsoft.com/en-us/download/details.aspx?id=56519' },
    }),
    false,
  ],
  ['enforce: true with a parent proxy', merge({ proxy: { parent: 'http://127.0.0.1:3129' } }), false],
  [
    'enforce: true with a parent and enforceWithParent: false',
    merge({ proxy: { parent: 'http://127.0.0.1:3129' }, serviceTags: { enforceWithParent: false } }),
    true,
  ],
  ['an unknown key', merge({ proxy: { lisen: '127.0.0.1:0' } }), false],
  ['a proxy users file that does not exist', merge({ proxy: { auth: { usersFile: join(dir, 'no-users') } } }), false],
];

describe('config validate and serve agree', () => {
  it.each(table)('%s', async (name, config, valid) => {
    const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.json`);
    writeFileSync(file, JSON.stringify(config));
    const out: string[] = [];
    const code = await main(['config', 'validate', file], { out: (l) => out.push(l), err: (l) => out.push(l) });
    let served: boolean;
    try {
      const g = await Gateway.create({ configFile: file, logger: pino({ level: 'silent' }), env: {} });
      await g.stop();
      served = true;
    } catch {
      served = false;
    }
    expect({ validate: code === 0, serve: served }, out.join('\n')).toEqual({ validate: valid, serve: valid });
  });
});

describe('reload runs the same checks', () => {
  it('refuses a region typo with its suggestion and keeps the running config', async () => {
    const file = join(dir, 'reload.json');
    writeFileSync(file, JSON.stringify(base));
    const g = await Gateway.create({ configFile: file, logger: pino({ level: 'silent' }), env: {} });
    const version = g.config.version;
    writeFileSync(
      file,
      JSON.stringify({ ...base, registries: [{ name: 'myregistry', regions: ['eastus', 'westeurop'] }] }),
    );
    const r = await g.reload();
    expect(r).toMatchObject({ ok: false });
    // Checked against the data in use (the test file knows eastus and westus only, too far for a suggestion).
    expect(!r.ok && r.problems).toContain(
      'registries[0].regions[1]: `westeurop`: unknown Azure region (service-tag data, change 1)',
    );
    expect(g.config.version).toBe(version);
    await g.stop();
  });
});
