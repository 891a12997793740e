// A stand-in for ACR's token service (`GET /oauth2/token` on the login server): checks Basic
// credentials and hands out short-lived registry JWTs that docker-registry's `auth: token` accepts.
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { makeCa, makeLeaf } from './certs.js';

type RegistryAction = 'pull' | 'push';

export interface TokenUser {
  password: string;
  /** Repository name → the actions this user may get a token for. */
  repositories: Record<string, RegistryAction[]>;
}

export interface TokenPolicy {
  /** Known users; any other name, or a wrong password, gets a 401 and no token. */
  users: Record<string, TokenUser>;
  /** Repositories anyone may pull without credentials (MCR's model); none by default. */
  anonymousPull?: string[];
  /** Token lifetime in seconds: short, as ACR's are. Default 120. */
  ttlSeconds?: number;
}

interface AccessEntry {
  type: 'repository';
  name: string;
  actions: RegistryAction[];
}

/** What the token endpoint was asked and answered, for tests to count (no secrets kept). */
interface TokenRequestRecord {
  user: string | null;
  scopes: string[];
  status: number;
  granted: AccessEntry[];
}

export interface TokenService {
  /** The `service` the registry expects as the token's audience. */
  readonly service: string;
  readonly issuer: string;
  /** PEM of the CA that signed the token-signing certificate: the registry's `rootcertbundle`. */
  readonly rootCertPem: string;
  readonly requests: TokenRequestRecord[];
  /** Mints a token directly (e.g. one for another repository); `expired` makes it long past `exp`. */
  mint(subject: string, access: AccessEntry[], opts?: { expired?: boolean }): string;
  /** Serves `GET /oauth2/token?service=..&scope=..` (the caller routes that path here). */
  handle(req: IncomingMessage, res: ServerResponse): void;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/**
 * A JWS is three base64url parts and one signature call; with Node's crypto that is a few lines,
 * so no JWT library is pulled in for a test fixture. The header carries `x5c` (the signing
 * certificate) because docker-registry 2.8 accepts that in place of a libtrust-style `kid`, and it
 * checks the chain against its rootcertbundle.
 */
function signJwt(key: KeyObject, certDer: Buffer, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
}

/** Parses `repository:<name>:<a>,<b>`; names may hold `/` but not `:` (no registry host in a scope here). */
function parseScope(scope: string): AccessEntry | null {
  const m = /^repository:([a-z0-9][a-z0-9._\-/]*):([a-z,*]+)$/.exec(scope);
  if (m === null) return null;
  const actions = m[2]!.split(',').filter((a): a is RegistryAction => a === 'pull' || a === 'push');
  return { type: 'repository', name: m[1]!, actions };
}

function basicUser(req: IncomingMessage): { user: string; password: string } | null | 'malformed' {
  const h = req.headers.authorization;
  if (h === undefined) return null;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(h);
  if (m === null) return 'malformed';
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return 'malformed';
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function createTokenService(opts: { service: string; issuer?: string; policy: TokenPolicy }): TokenService {
  const ca = makeCa('acr-egress test token CA');
  const leaf = makeLeaf(ca, ['token-signer.test']);
  const key = createPrivateKey(leaf.key);
  const certDer = new X509Certificate(leaf.cert).raw;
  const issuer = opts.issuer ?? 'acr-egress-test-token-issuer';
  const ttl = opts.policy.ttlSeconds ?? 120;
  const requests: TokenRequestRecord[] = [];

  const mint = (subject: string, access: AccessEntry[], o: { expired?: boolean } = {}): string => {
    // The registry allows 60 s of clock leeway, so "expired" is well past it.
    const now = Math.floor(Date.now() / 1000) - (o.expired === true ? 3600 : 0);
    return signJwt(key, certDer, {
      iss: issuer,
      sub: subject,
      aud: opts.service,
      exp: now + ttl,
      nbf: now - 5,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    });
  };

  const answer = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...extra });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'https://token');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter((x) => x !== ''));
    const record = (user: string | null, status: number, granted: AccessEntry[]): void => {
      requests.push({ user, scopes, status, granted });
    };
    if (req.method !== 'GET') {
      record(null, 405, []);
      answer(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'GET only' }] }, { Allow: 'GET' });
      return;
    }
    if (url.searchParams.get('service') !== opts.service) {
      record(null, 400, []);
      answer(res, 400, { errors: [{ code: 'INVALID_REQUEST', message: 'unknown service' }] });
      return;
    }
    const creds = basicUser(req);
    let user: string | null = null;
    let allowed: Record<string, RegistryAction[]> = {};
    if (creds !== null) {
      const known = creds === 'malformed' ? undefined : opts.policy.users[creds.user];
      if (creds === 'malformed' || known === undefined || known.password !== creds.password) {
        record(creds === 'malformed' ? null : creds.user, 401, []);
        answer(
          res,
          401,
          { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
          { 'WWW-Authenticate': 'Basic realm="acr-egress-test"' },
        );
        return;
      }
      user = creds.user;
      allowed = known.repositories;
    }
    for (const repo of opts.policy.anonymousPull ?? [])
      allowed = { ...allowed, [repo]: [...(allowed[repo] ?? []), 'pull'] };
    if (user === null && (opts.policy.anonymousPull ?? []).length === 0) {
      record(null, 401, []);
      answer(
        res,
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        { 'WWW-Authenticate': 'Basic realm="acr-egress-test"' },
      );
      return;
    }
    // As a token service does: grant the requested actions this client holds, silently drop the rest.
    const granted: AccessEntry[] = [];
    for (const s of scopes) {
      const want = parseScope(s);
      if (want === null) continue;
      const may = allowed[want.name] ?? [];
      const actions = want.actions.filter((a) => may.includes(a));
      if (actions.length > 0) granted.push({ type: 'repository', name: want.name, actions });
    }
    record(user, 200, granted);
    const token = mint(user ?? '', granted);
    answer(res, 200, {
      token,
      access_token: token,
      expires_in: ttl,
      issued_at: new Date().toISOString(),
    });
  };

  return { service: opts.service, issuer, rootCertPem: ca.cert, requests, mint, handle };
}
