// Secrets are never shipped and never stale: every token printed in the repository's docs, README,
// manifests and configs is refused at start, and token and credential files are re-read on reload.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.js';
import { EXAMPLE_TOKENS } from '../../../src/config/secrets.js';
import { Gateway } from '../../../src/gateway.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const PLACES = ['README.md', 'docs', 'deploy', 'config', 'docker-compose.yml', 'Dockerfile'];

function files(path: string): string[] {
  const full = join(ROOT, path);
  let st;
  try {
    st = statSync(full);
  } catch {
    return [];
  }
  if (st.isFile()) return [path];
  return readdirSync(full).flatMap((name) => files(join(path, name)));
}

// Where a token is written down: a token: key, kubectl --from-literal, an env assignment, a Bearer header.
const TOKEN_SPOTS = [
  /\btoken["']?\s*[:=]\s*["']?([^\s"'`,}]+)/gi,
  /--from-literal=token=["']?([^\s"'`]+)/g,
  /ACR_EGRESS_ADMIN_TOKEN\s*[:=]\s*["']?([^\s"'`]+)/g,
  /Bearer\s+([^\s"'`]+)/g,
];

/** Literal tokens in a text: 16+ characters, not a variable, placeholder or elision. */
function tokensIn(text: string): string[] {
  return TOKEN_SPOTS.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!)).filter(
    (t) => t.length >= 16 && !/[$<>{}()]|\.\.\./.test(t),
  );
}

/** Every literal token in the docs, README, manifests and configs, with the file it is in. */
function exampleTokens(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of PLACES.flatMap(files))
    for (const t of tokensIn(readFileSync(join(ROOT, file), 'utf8'))) found.set(t, relative(ROOT, join(ROOT, file)));
  return found;
}

const refusal = (token: string): string[] => {
  try {
    buildConfig({ admin: { listen: null, tokens: [{ name: 'ci', token }] } }, null);
    return [];
  } catch (err) {
    return [...(err as { details: string[] }).details];
  }
};

describe('example tokens', () => {
  const found = exampleTokens();
  const all = new Set([...found.keys(), ...EXAMPLE_TOKENS]);

  it('finds tokens where docs write them, and skips variables and placeholders', () => {
    const text = [
      'stringData:\n  token: REPLACE-ME-with-a-random-token-of-32-or-more-characters',
      'curl -H "Authorization: Bearer 0123456789abcdef0123"',
      'token: ${ACR_EGRESS_ADMIN_TOKEN}',
      '--from-literal=token="$(openssl rand -hex 32)"',
      'Bearer <token>',
    ].join('\n');
    expect(tokensIn(text)).toEqual(['REPLACE-ME-with-a-random-token-of-32-or-more-characters', '0123456789abcdef0123']);
  });

  it.each([...all])('refuses %s', (token) => {
    expect(refusal(token), `from ${found.get(token) ?? 'EXAMPLE_TOKENS'}`).toEqual([
      'admin.tokens[0].token: is an example value from the acr-egress docs or manifests; generate your own (openssl rand -hex 32)',
    ]);
  });

  it('accepts a generated token', () => {
    expect(refusal('3f9c1e0b7a6d45e2b8c4d1f0a9e7b6c5')).toEqual([]);
  });
});

describe('secrets from files are re-read on reload', () => {
  it('picks up a rolled admin token and parent credentials without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acr-egress-secrets-'));
    const tokenFile = join(dir, 'token');
    const credentials = join(dir, 'parent-credentials');
    writeFileSync(tokenFile, 'first-token-0123456789abcdef\n');
    writeFileSync(credentials, 'proxyuser:first-password\n');
    const configFile = join(dir, 'acr-egress.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        proxy: {
          listen: '127.0.0.1:0',
          parent: 'http://127.0.0.1:3129',
          parentCredentialsFile: './parent-credentials',
        },
        serviceTags: { enforce: false, source: null, cacheFile: null },
        admin: { listen: null, tokenFile: './token' },
        log: { level: 'silent' },
      }),
    );
    const g = await Gateway.create({ configFile, logger: pino({ level: 'silent' }), env: {} });
    expect(g.config.adminTokens.get('default')).toBe('first-token-0123456789abcdef');
    expect(g.config.parent?.authorization).toBe(`Basic ${Buffer.from('proxyuser:first-password').toString('base64')}`);
    writeFileSync(tokenFile, 'second-token-0123456789abcdef\n');
    writeFileSync(credentials, 'proxyuser:second-password\n');
    expect(await g.reload()).toMatchObject({ ok: true, changed: false });
    expect(g.config.adminTokens.get('default')).toBe('second-token-0123456789abcdef');
    expect(g.config.parent?.authorization).toBe(`Basic ${Buffer.from('proxyuser:second-password').toString('base64')}`);
    await g.stop();
  });
});
