// A first start that explains itself: the default config admits only loopback and private clients,
// says which registry it allows (only MCR while ACR_REGISTRY is unset), and prints exactly one line
// on whether service-tag ranges are enforced now.
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildConfig, loadConfigFile } from '../../src/config/load.js';
import { checkRequest } from '../../src/policy/decide.js';
import { compilePolicy } from '../../src/policy/snapshot.js';
import { allowLine, tagsLine } from '../../src/start-lines.js';
import { startGateway, testConfig } from '../helpers/gateway.js';

const DEFAULT = fileURLToPath(new URL('../../config/acr-egress.yaml', import.meta.url));

describe('the default config', () => {
  it('lets loopback and private-range clients in and refuses a public one (Squid localnet)', () => {
    const policy = compilePolicy(loadConfigFile(DEFAULT, {}), null);
    const from = (client: string) =>
      checkRequest(policy, { client, host: 'mcr.microsoft.com', port: 443 }).decision.reason;
    for (const client of ['127.0.0.1', '10.1.2.3', '172.20.0.5', '192.168.1.10', '::1', 'fd00::5'])
      expect(from(client), client).toBeNull();
    expect(from('203.0.113.7')).toBe('client_not_allowed');
  });

  it('allows only MCR when ACR_REGISTRY is unset, and says so (it used to allow myregistry.azurecr.io)', () => {
    const loaded = loadConfigFile(DEFAULT, {});
    expect(loaded.registries).toEqual([]);
    expect(allowLine(loaded)).toBe('allowing only MCR (mcr.microsoft.com) (ACR_REGISTRY not set: no registry from it)');
  });

  it('names the registry ACR_REGISTRY sets', () => {
    expect(allowLine(loadConfigFile(DEFAULT, { ACR_REGISTRY: 'contoso12' }))).toBe(
      'allowing registry contoso12.azurecr.io and MCR (mcr.microsoft.com)',
    );
  });
});

describe('the service-tag line', () => {
  const with_ = (enforce: unknown) =>
    buildConfig({ serviceTags: { enforce, source: null, cacheFile: null }, admin: { listen: null } }, null);
  it.each([
    [true, true, 'service-tag ranges are enforced'],
    ['when-available', true, 'service-tag ranges are enforced'],
    ['when-available', false, 'service-tag ranges are not enforced until data arrives'],
    [true, false, 'blocking everything that needs service tags until data arrives'],
  ])('enforce %s, data %s: %s', (enforce, data, line) => {
    expect(tagsLine(with_(enforce), data)).toBe(line);
  });

  it('is printed exactly once by a starting gateway', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(String(JSON.parse(l).msg)) });
    const gw = await startGateway(
      testConfig({ serviceTags: { enforce: 'when-available', source: null, cacheFile: null } }),
      { logger },
    );
    await gw.stop();
    const said = lines.filter((l) =>
      [
        'service-tag ranges are enforced',
        'service-tag ranges are not enforced until data arrives',
        'blocking everything that needs service tags until data arrives',
      ].includes(l),
    );
    expect(said).toEqual(['service-tag ranges are not enforced until data arrives']);
    expect(lines).toContain('allowing registry myregistry.azurecr.io and MCR (mcr.microsoft.com)');
  });
});
