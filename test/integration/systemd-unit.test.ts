// deploy/systemd/acr-egress.service: a hardened unit that runs the CLI's serve on the image's config
// layout, read as systemd reads it (`systemd-analyze verify`, `systemd-analyze security --offline`)
// where systemd is installed, and by its keys everywhere.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { findTool } from '../helpers/tools.js';

const ROOT = join(import.meta.dirname, '..', '..');
const UNIT = join(ROOT, 'deploy', 'systemd', 'acr-egress.service');
const text = readFileSync(UNIT, 'utf8');

/** Section -> key -> every value it is given (systemd keys may repeat). */
function unitKeys(unit: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current = new Map<string, string[]>();
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const service = unitKeys(text).get('Service')!;
const one = (key: string): string | undefined => service.get(key)?.at(-1);

describe('deploy/systemd/acr-egress.service', () => {
  it('runs serve from the package bin on the config at /etc/acr-egress', () => {
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
    expect(one('ExecStart')).toBe(
      `/usr/bin/node /opt/acr-egress/${bin['acr-egress']} serve --config /etc/acr-egress/acr-egress.yaml`,
    );
  });

  it('reloads with SIGHUP and stops with SIGTERM after the drain time', () => {
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('KillSignal')).toBe('SIGTERM');
    const drainMs = loadConfigFile(join(ROOT, 'deploy', 'docker', 'acr-egress.yaml'), {}).config.proxy.drainTimeoutMs;
    expect(Number(/^(\d+)s$/.exec(one('TimeoutStopSec') ?? '')?.[1]) * 1000).toBeGreaterThan(drainMs);
  });

  it('is hardened: its own user, read-only system, no new privileges, no capabilities', () => {
    expect(one('DynamicUser') === 'yes' || one('User') !== undefined).toBe(true);
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('AmbientCapabilities')).toBe('');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
  });

  it('keeps the tag cache and the embedded store of the image config in its StateDirectory', () => {
    const stateDir = `/var/lib/${one('StateDirectory')}`;
    const config = loadConfigFile(join(ROOT, 'deploy', 'docker', 'acr-egress.yaml'), {}).config;
    expect(dirname(config.serviceTags.cacheFile as string)).toBe(stateDir);
    expect(config.audit.dir.startsWith(`${stateDir}/`)).toBe(true);
  });
});

const analyze = findTool('systemd-analyze');
describe.skipIf(analyze === undefined)(
  `systemd-analyze on the unit${analyze === undefined ? ' (skipped: systemd-analyze is not installed)' : ''}`,
  () => {
    /** The unit as shipped, or with this node in ExecStart where /usr/bin/node is absent (verify checks it exists). */
    function unitFile(): { file: string; done: () => void } {
      const dir = mkdtempSync(join(tmpdir(), 'acr-egress-unit-'));
      const file = join(dir, 'acr-egress.service');
      writeFileSync(file, existsSync('/usr/bin/node') ? text : text.replace('/usr/bin/node ', `${process.execPath} `));
      return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
    }

    it('passes systemd-analyze verify with no warning', () => {
      const { file, done } = unitFile();
      try {
        const r = spawnSync(analyze as string, ['verify', file], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        // Unknown keys and bad values are warnings on stderr with exit 0: none may name this unit.
        expect(r.stderr.split('\n').filter((l) => l.includes('acr-egress.service'))).toEqual([]);
      } finally {
        done();
      }
    });

    it('rates OK or better in systemd-analyze security', () => {
      const { file, done } = unitFile();
      try {
        const r = spawnSync(analyze as string, ['security', '--offline=yes', file], { encoding: 'utf8' });
        const level = Number(/Overall exposure level for [^:]+: ([\d.]+)/.exec(r.stdout)?.[1]);
        expect(level, r.stdout.slice(-400)).toBeLessThanOrEqual(2);
      } finally {
        done();
      }
    });
  },
);
