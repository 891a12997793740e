// Keeps the one error registry (src/errors.ts), the docs and the code in step, as fastify's
// test/internals/errors.test.js does: every code is documented with its exit code or status, every
// documented code exists, and no other module keeps a table of its own or throws a bare Error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockResponse, CONNECT_ESTABLISHED } from '../../src/proxy/responses.js';
import { registryErrorBody } from '../../src/inspect/answers.js';
import {
  ADMIN_ERRORS,
  AcrEgressError,
  ERROR_CODES,
  REASONS,
  registryErrorCode,
  STATUS_TEXT,
  type Reason,
} from '../../src/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** `| \`code\` | value |` rows of a doc's `## title` section: code -> second cell. */
function table(doc: string, title: string): Map<string, string> {
  const part = doc.split(/^## /m).find((p) => p.startsWith(`${title}\n`)) ?? '';
  const rows = new Map<string, string>();
  for (const m of part.matchAll(/^\| `([A-Za-z_]+)` \| ([^|]+) \|/gm)) rows.set(m[1]!, m[2]!.trim());
  return rows;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('the error registry', () => {
  it('docs/interface.md lists every error code with its exit code, and no other', () => {
    const rows = table(read('docs/interface.md'), 'Errors');
    const expected = Object.entries(ERROR_CODES).map(([code, e]) => [code, String(e.exitCode)]);
    expect([...rows].sort()).toEqual(expected.sort());
  });

  it('docs/interface.md lists every reason with its status, and no other', () => {
    const rows = table(read('docs/interface.md'), 'Reason codes');
    const expected = Object.entries(REASONS).map(([code, r]) => [code, String(r.status)]);
    expect([...rows].sort()).toEqual(expected.sort());
  });

  it('docs/admin-api.md lists every admin error code with its status, and no other', () => {
    const rows = table(read('docs/admin-api.md'), 'Errors');
    const documented = [...rows].map(([code, cell]) => [code, Number.parseInt(cell, 10)]);
    expect(documented.sort()).toEqual(Object.entries(ADMIN_ERRORS).sort());
  });

  it.each(Object.keys(REASONS) as Reason[])('%s is answered with its status line and registry code', (reason) => {
    const { status } = REASONS[reason];
    expect(STATUS_TEXT[status]).toBeDefined();
    expect(blockResponse(reason)).toMatch(new RegExp(`^HTTP/1\\.1 ${status} ${STATUS_TEXT[status]}\\r\\n`));
    const body = JSON.parse(registryErrorBody(reason, 'x')) as { errors: { code: string }[] };
    expect(body.errors[0]?.code).toBe(registryErrorCode(reason));
  });

  it('the CONNECT answer takes its status line from the registry', () => {
    expect(CONNECT_ESTABLISHED.toString('latin1')).toBe(`HTTP/1.1 200 ${STATUS_TEXT[200]}\r\n\r\n`);
  });

  it('an error takes its exit code and default message from its code', () => {
    const err = new AcrEgressError('USAGE');
    expect([err.exitCode, err.message]).toEqual([ERROR_CODES.USAGE.exitCode, ERROR_CODES.USAGE.message]);
  });

  it('no module of src/ throws a bare Error or keeps a status table of its own', () => {
    const offenders: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      if (/throw new Error\(/.test(text)) offenders.push(`${file}: throw new Error`);
      if (!file.endsWith(join('src', 'errors.ts')) && /\b4\d\d: '[A-Z][a-z]+/.test(text))
        offenders.push(`${file}: a status text table`);
    }
    expect(offenders).toEqual([]);
  });
});
