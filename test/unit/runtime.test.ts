// The runtime check: which Node versions run acr-egress, and the one line (exit 2) on the others,
// given before the command line loads.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runtimeProblem, SUPPORTED_NODE } from '../../src/runtime.js';

describe('runtimeProblem', () => {
  it.each(['22.13.0', '22.23.3', '23.0.0', '24.0.0', '24.21.0', '26.10.0', '27.1.0'])('runs on %s', (v) => {
    expect(runtimeProblem(v)).toBeNull();
  });

  it.each(['22.12.0', '22.0.0', '20.20.2', '20.19.0', '18.20.8', '12.0.0', 'nonsense'])(
    'refuses %s in one line that says what it needs, what it found and how to get 24 or 26',
    (v) => {
      const line = runtimeProblem(v) as string;
      expect(line).not.toContain('\n');
      expect(line).toContain(SUPPORTED_NODE);
      expect(line).toContain(`found ${v}`);
      expect(line).toMatch(/Node 24 or 26/);
      expect(line).toMatch(/nvm install 24/);
    },
  );
});

describe('the entry point on an old Node (a fake process.versions)', () => {
  const real = process.versions;
  const exitCode = process.exitCode;
  afterEach(() => {
    Object.defineProperty(process, 'versions', { value: real, configurable: true, writable: false });
    process.exitCode = exitCode;
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it('writes the one line, sets exit code 2 and never loads the command line', async () => {
    Object.defineProperty(process, 'versions', { value: { ...real, node: '20.20.2' }, configurable: true });
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    vi.doMock('../../src/cli/run.js', () => {
      throw new Error('the command line was loaded on an unsupported Node');
    });
    vi.resetModules();
    await import('../../src/cli.js');
    expect(written).toEqual([`${runtimeProblem('20.20.2')}\n`]);
    expect(process.exitCode).toBe(2);
  });
});
