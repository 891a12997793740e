// `acr-egress check HOST --client ADDR [--user NAME]` evaluates client groups, in-process.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import type { Io } from '../../../src/cli/output.js';

const configFile = join(mkdtempSync(join(tmpdir(), 'acr-egress-check-groups-')), 'config.json');
writeFileSync(
  configFile,
  JSON.stringify({
    registries: [{ name: 'iotregistry' }, { name: 'buildregistry' }],
    serviceTags: { enforce: true, source: null, cacheFile: null },
    admin: { listen: null },
    clientGroups: [
      { name: 'iot-edge', cidrs: ['10.1.0.0/16'], registries: ['iotregistry'] },
      { name: 'build-agents', users: ['build-agent'], registries: ['iotregistry', 'buildregistry'] },
    ],
  }),
);

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await main([...argv, '--config', configFile], io);
  return { code, out, err };
}

describe('acr-egress check with client groups', () => {
  it.each([
    [['iotregistry.azurecr.io', '--client', '10.1.2.3'], 0, 'allowed rule=registry:iotregistry:login', ''],
    [
      ['buildregistry.azurecr.io', '--client', '10.1.2.3'],
      1,
      'blocked reason=client_not_allowed',
      'group iot-edge may not use registry:buildregistry:login',
    ],
    [
      ['buildregistry.azurecr.io', '--client', '192.0.2.1', '--user', 'build-agent'],
      0,
      'allowed rule=registry:buildregistry:login',
      '',
    ],
    [
      ['buildregistry.azurecr.io', '--client', '192.0.2.1'],
      1,
      'blocked reason=client_not_allowed',
      'client 192.0.2.1 matches no client group',
    ],
  ])('check %j exits %i with "%s"', async (args, code, line, detail) => {
    const r = await cli('check', ...args);
    expect(r.code).toBe(code);
    expect(r.out).toEqual([line]);
    expect(r.err.join('\n')).toContain(detail);
  });

  it('puts the user in the --json record', async () => {
    const r = await cli('check', 'iotregistry.azurecr.io', '--user', 'build-agent', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0] as string)).toMatchObject({ mode: 'check', user: 'build-agent', decision: 'allowed' });
  });
});
