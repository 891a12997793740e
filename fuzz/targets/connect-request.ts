// Fuzz target: the CONNECT request head parser. Whatever the bytes and however they are split, the
// answer is the same, bounded and never past maxBytes; generated heads parse to their own values.
import fc from 'fast-check';
import { parseRequestHead, type HeadResult } from '../../src/proxy/request-head.js';
import { must, type FuzzTarget } from '../lib.js';

const MAX_BYTES = 1024;
const TCHAR = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Feeds buf in chunks of `step`, passing scanFrom along as the reader does; the answer at the end. */
function parseInSteps(buf: Buffer, step: number): HeadResult {
  let scanFrom = 0;
  for (let n = Math.min(step, buf.length); ; n = Math.min(n + step, buf.length)) {
    const r = parseRequestHead(buf.subarray(0, n), MAX_BYTES, scanFrom);
    if (r.kind !== 'incomplete' || n === buf.length) return r;
    scanFrom = r.scanFrom;
  }
}

function same(a: HeadResult, b: HeadResult): boolean {
  const strip = (r: HeadResult): unknown => (r.kind === 'incomplete' ? { kind: r.kind } : r);
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

interface Case {
  bytes: Buffer;
  /** Chunk size for the split-arrival check. */
  step: number;
  head?: Generated;
}

function invariants(c: Case): void {
  const r = parseRequestHead(c.bytes, MAX_BYTES);
  if (r.kind === 'invalid') {
    must(r.detail.length > 0 && r.detail.length <= 200, `detail of ${r.detail.length} characters`);
    // eslint-disable-next-line no-control-regex
    must(!/[\x00-\x1f\x7f]/.test(r.detail), 'a control character in the detail');
  } else if (r.kind === 'incomplete') {
    must(c.bytes.length < MAX_BYTES, `incomplete after ${c.bytes.length} bytes: reads past maxBytes`);
    must(r.scanFrom >= 0 && r.scanFrom <= c.bytes.length, `scanFrom ${r.scanFrom} outside the buffer`);
  } else {
    const h = r.head;
    must(h.length > 0 && h.length <= c.bytes.length && h.length <= MAX_BYTES, `head length ${h.length}`);
    must(TCHAR.test(h.method), `method ${JSON.stringify(h.method)} is not a token`);
    must(/^[\x21-\x7e]+$/.test(h.target), `target ${JSON.stringify(h.target)} is not visible ASCII`);
    must(h.version === '1.0' || h.version === '1.1', `version ${String(h.version)}`);
    if (h.proxyAuthorization !== undefined)
      // eslint-disable-next-line no-control-regex
      must(!/[\x00-\x08\x0a-\x1f\x7f]/.test(h.proxyAuthorization), 'a control character in Proxy-Authorization');
    // The head delimits itself: the bytes after it (a ClientHello) never change it.
    must(same(parseRequestHead(c.bytes.subarray(0, h.length), MAX_BYTES), r), 'the head alone parses differently');
  }
  must(same(parseInSteps(c.bytes, c.step), r), `split into ${c.step}-byte chunks the answer differs`);
  if (r.kind !== 'incomplete') {
    const more = parseRequestHead(Buffer.concat([c.bytes, Buffer.from('\r\n\r\nX')]), MAX_BYTES);
    must(same(more, r), `a definite ${r.kind} changed when more bytes arrived`);
  }
}

export interface Generated {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  auth: string | undefined;
  bytes: Buffer;
}

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
const headerValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?$/);
export const generatedHead: fc.Arbitrary<Generated> = fc
  .record({
    method: fc.oneof({ weight: 4, arbitrary: fc.constant('CONNECT') }, token),
    target: fc.oneof(
      fc.tuple(fc.domain(), fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`),
      fc.stringMatching(/^[\x21-\x7e]{1,60}$/),
    ),
    version: fc.constantFrom('1.0' as const, '1.1' as const),
    headers: fc.array(fc.tuple(token, headerValue), { maxLength: 6 }),
    auth: fc.option(headerValue, { nil: undefined }),
    authName: fc.constantFrom('Proxy-Authorization', 'proxy-authorization', 'PROXY-AUTHORIZATION'),
    eol: fc.constantFrom('\r\n', '\n'),
  })
  .filter((g) => g.headers.every(([name]) => name.toLowerCase() !== 'proxy-authorization'))
  .map((g) => {
    const lines = [`${g.method} ${g.target} HTTP/${g.version}`, ...g.headers.map(([n, v]) => `${n}: ${v}`)];
    if (g.auth !== undefined) lines.splice(1 + (g.headers.length >> 1), 0, `${g.authName}:  ${g.auth} `);
    const bytes = Buffer.from(`${lines.join(g.eol)}${g.eol}${g.eol}`, 'latin1');
    return { method: g.method, target: g.target, version: g.version, auth: g.auth, bytes };
  })
  .filter((g) => g.bytes.length <= MAX_BYTES);

// Pieces of request heads that parsers get wrong: versions, line ends, folding, NULs, big numbers.
const PIECES = [
  'CONNECT ',
  'CONNECT',
  'GET ',
  ' ',
  '  ',
  '\t',
  'myregistry.azurecr.io:443',
  '[::1]:443',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/0.9',
  'HTTP/2',
  'HTTP/1.10',
  'http/1.1',
  '\r\n',
  '\n',
  '\r',
  '\r\n\r\n',
  '\n\n',
  '\r\r\n',
  'Host: x',
  'Proxy-Authorization: Basic YTpi',
  'proxy-authorization:',
  ' folded',
  ':',
  '\0',
  '\x7f',
  '\xff',
  'X'.repeat(300),
];

export const connectRequestTarget: FuzzTarget<Case> = {
  name: 'connect-request',
  ext: 'bin',
  encode: (c) => Buffer.from(c.bytes),
  decode: (bytes) => ({ bytes, step: 1 }),
  invariants,
  properties: [
    {
      name: 'random bytes and pieces of heads, split any way',
      cases: fc.record({
        bytes: fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
          fc.array(fc.constantFrom(...PIECES), { maxLength: 16 }).map((p) => Buffer.from(p.join(''), 'latin1')),
        ),
        step: fc.integer({ min: 1, max: 64 }),
      }),
    },
    {
      name: 'generated head parses to its values, whatever follows',
      cases: fc
        .tuple(generatedHead, fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 64 }))
        .map(([g, rest, step]): Case => ({ bytes: Buffer.concat([g.bytes, rest]), step, head: g })),
      expect: (c) => {
        const g = c.head!;
        const r = parseRequestHead(c.bytes, MAX_BYTES);
        const want = { method: g.method, target: g.target, version: g.version, auth: g.auth, length: g.bytes.length };
        const got =
          r.kind === 'request'
            ? {
                method: r.head.method,
                target: r.head.target,
                version: r.head.version,
                auth: r.head.proxyAuthorization,
                length: r.head.length,
              }
            : r;
        must(
          JSON.stringify(got) === JSON.stringify(want),
          `expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`,
        );
      },
    },
    {
      name: 'every prefix of a generated head is incomplete',
      cases: fc
        .tuple(generatedHead, fc.nat(), fc.integer({ min: 1, max: 64 }))
        .map(([g, at, step]): Case => ({ bytes: g.bytes.subarray(0, at % g.bytes.length), step, head: g })),
      expect: (c) => {
        const r = parseRequestHead(c.bytes, MAX_BYTES);
        must(r.kind === 'incomplete', `prefix of ${c.bytes.length} bytes answered ${JSON.stringify(r)}`);
      },
    },
    {
      name: 'a request line without HTTP/1.0 or 1.1 is invalid (no HTTP/0.9)',
      cases: fc
        .tuple(
          token,
          fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
          fc.constantFrom('', ' HTTP/0.9', ' HTTP/2', ' HTTP/1.2', ' HTTP/1.1 x', ' http/1.1'),
        )
        .map(([m, t, v]): Case => ({ bytes: Buffer.from(`${m} ${t}${v}\r\nHost: x\r\n\r\n`, 'latin1'), step: 7 })),
      expect: (c) => {
        const r = parseRequestHead(c.bytes, MAX_BYTES);
        must(r.kind === 'invalid', `${JSON.stringify(c.bytes.toString('latin1'))} answered ${JSON.stringify(r)}`);
      },
    },
  ],
};
