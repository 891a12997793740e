// `npm start` rebuilds only when a source is newer than the last build: the staleness check on a
// scratch tree with real files and mtimes, and the package scripts that use it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUTPUTS, STAMP, newestInput, nodeRefused, staleReason, writeStamp } from '../../../scripts/build-if-stale.mjs';
import { runtimeProblem } from '../../../src/runtime.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
let root: string;

/** Writes `file` under the scratch root with its mtime `ageS` seconds ago. */
function put(file: string, ageS: number): void {
  const path = join(root, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, file);
  const t = Date.now() / 1000 - ageS;
  utimesSync(path, t, t);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'acr-egress-stale-'));
  put('src/cli.ts', 100);
  put('ui/src/main.tsx', 100);
  put('package.json', 100);
  for (const out of OUTPUTS) put(out, 50);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('staleReason', () => {
  it('builds when no build has been stamped yet', () => {
    expect(staleReason(root)).toBe('no build by npm install or npm start yet');
  });

  it('is up to date after a build that started after the last change', () => {
    writeStamp(root, Date.now() - 60_000);
    expect(staleReason(root)).toBeNull();
  });

  it.each(['src/proxy/tunnel.ts', 'ui/src/style.css', 'package.json', 'tsconfig.build.json'])(
    'builds again once %s changes',
    (file) => {
      writeStamp(root, Date.now() - 60_000);
      put(file, 10);
      expect(staleReason(root)).toBe('sources changed since the last build');
    },
  );

  it('counts a source saved while the build ran as a change (the stamp is the start time)', () => {
    const started = Date.now() - 30_000;
    put('src/saved-during-build.ts', 20);
    writeStamp(root, started);
    expect(staleReason(root)).toBe('sources changed since the last build');
  });

  it('builds when an output is missing, whatever the stamp says', () => {
    writeStamp(root, Date.now());
    rmSync(join(root, 'dist', 'ui'), { recursive: true });
    expect(staleReason(root)).toBe(`${join('dist', 'ui', 'index.html')} is missing`);
  });

  it('ignores node_modules and inputs that do not exist', () => {
    const before = newestInput(root);
    put('ui/node_modules/x/index.js', 0);
    expect(newestInput(root)).toBe(before);
    expect(newestInput(root, ['no-such-dir'])).toBe(0);
  });
});

describe('package scripts', () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;

  it('checks staleness before npm start instead of building every time, and builds at install', () => {
    expect(scripts.prestart).toBe('node scripts/build-if-stale.mjs');
    expect(scripts.prepare).toBe('node scripts/build-if-stale.mjs --always');
    expect(scripts.build).toMatch(/^tsc -p tsconfig.build.json && node ui\/build.mjs$/);
  });

  it('keeps the stamp inside dist/, which git and the image build ignore', () => {
    expect(STAMP.startsWith('dist')).toBe(true);
  });
});

describe('nodeRefused', () => {
  it.each(['18.20.4', '20.20.2', '22.12.0', '22.13.0', '22.23.3', '23.0.0', '24.21.0', '26.10.0'])(
    'agrees with the CLI on Node %s',
    (version) => {
      expect(nodeRefused(version)).toBe(runtimeProblem(version) !== null);
    },
  );
});
