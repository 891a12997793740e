// The hand-written proxy request reader: HTTP/1.x only, bounded, and the same answer however the
// bytes are split.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRequestHead, type HeadResult } from '../../../src/proxy/request-head.js';

const MAX = 16 * 1024;

function parse(text: string, max = MAX): HeadResult {
  return parseRequestHead(Buffer.from(text, 'latin1'), max);
}

/** Feeds the bytes one at a time as a socket might, carrying scanFrom, until an answer. */
function parseDripped(text: string, max = MAX): HeadResult {
  const all = Buffer.from(text, 'latin1');
  let scanFrom = 0;
  for (let n = 1; n <= all.length; n++) {
    const got = parseRequestHead(all.subarray(0, n), max, scanFrom);
    if (got.kind !== 'incomplete') return got;
    scanFrom = got.scanFrom;
  }
  return { kind: 'incomplete', scanFrom };
}

describe('parseRequestHead', () => {
  const accepted = [
    {
      name: 'reads a CONNECT with Host and Proxy-Authorization',
      text: 'CONNECT myregistry.azurecr.io:443 HTTP/1.1\r\nHost: myregistry.azurecr.io:443\r\nProxy-Authorization: Basic YTpi\r\n\r\n',
      method: 'CONNECT',
      target: 'myregistry.azurecr.io:443',
      auth: 'Basic YTpi',
    },
    {
      name: 'reads HTTP/1.0 and a header without value',
      text: 'CONNECT a.b:443 HTTP/1.0\r\nX-Empty:\r\n\r\n',
      method: 'CONNECT',
      target: 'a.b:443',
      auth: undefined,
    },
    {
      name: 'accepts bare LF line ends',
      text: 'CONNECT a.b:443 HTTP/1.1\nHost: a.b\n\n',
      method: 'CONNECT',
      target: 'a.b:443',
      auth: undefined,
    },
    {
      name: 'reads an absolute-form GET',
      text: 'GET http://a.b/x HTTP/1.1\r\nHost: a.b\r\n\r\n',
      method: 'GET',
      target: 'http://a.b/x',
      auth: undefined,
    },
    {
      name: 'matches Proxy-Authorization case-insensitively and trims it',
      text: 'CONNECT a.b:443 HTTP/1.1\r\nproxy-AUTHORIZATION:   Basic Zm9v  \r\n\r\n',
      method: 'CONNECT',
      target: 'a.b:443',
      auth: 'Basic Zm9v',
    },
  ];
  it.each(accepted)('$name', ({ text, method, target, auth }) => {
    for (const got of [parse(text), parseDripped(text)]) {
      expect(got.kind).toBe('request');
      if (got.kind !== 'request') return;
      expect(got.head).toMatchObject({ method, target, proxyAuthorization: auth, length: text.length });
    }
  });

  it('stops at the end of the head and leaves the bytes after it (a ClientHello) alone', () => {
    const head = 'CONNECT a.b:443 HTTP/1.1\r\n\r\n';
    const got = parseRequestHead(Buffer.concat([Buffer.from(head), Buffer.from([0x16, 3, 1, 0, 5, 1, 2])]), MAX);
    expect(got).toMatchObject({ kind: 'request', head: { length: head.length } });
  });

  const refused = [
    {
      name: 'refuses an HTTP/0.9-style CONNECT (no version)',
      text: 'CONNECT myregistry.azurecr.io:443\r\n\r\n',
      detail: /no HTTP version/,
    },
    {
      name: 'refuses HTTP/2.0 in the request line',
      text: 'CONNECT a.b:443 HTTP/2.0\r\n\r\n',
      detail: /not HTTP\/1\.0 or HTTP\/1\.1/,
    },
    {
      name: 'refuses a lower-case version',
      text: 'CONNECT a.b:443 http/1.1\r\n\r\n',
      detail: /malformed request line/,
    },
    {
      name: 'refuses two spaces in the request line',
      text: 'CONNECT  a.b:443 HTTP/1.1\r\n\r\n',
      detail: /malformed request line/,
    },
    { name: 'refuses control bytes in the request line', text: 'HELLO\x00\x01 WORLD\r\n\r\n', detail: /\\x00/ },
    { name: 'refuses an empty request line', text: '\r\n\r\n', detail: /empty request line/ },
    { name: 'refuses a folded header', text: 'CONNECT a.b:443 HTTP/1.1\r\nX: a\r\n b\r\n\r\n', detail: /folded/ },
    {
      name: 'refuses a header without a colon',
      text: 'CONNECT a.b:443 HTTP/1.1\r\nNoColon\r\n\r\n',
      detail: /malformed header/,
    },
    {
      name: 'refuses a space before the colon',
      text: 'CONNECT a.b:443 HTTP/1.1\r\nHost : a\r\n\r\n',
      detail: /malformed header/,
    },
    {
      name: 'refuses a bare CR inside a header value',
      text: 'CONNECT a.b:443 HTTP/1.1\r\nX: a\rb\r\n\r\n',
      detail: /malformed header|control character/,
    },
    {
      name: 'refuses two Proxy-Authorization headers',
      text: 'CONNECT a.b:443 HTTP/1.1\r\nProxy-Authorization: Basic a\r\nProxy-Authorization: Basic b\r\n\r\n',
      detail: /more than one Proxy-Authorization/,
    },
  ];
  it.each(refused)('$name', ({ text, detail }) => {
    for (const got of [parse(text), parseDripped(text)]) {
      expect(got.kind).toBe('invalid');
      if (got.kind === 'invalid') expect(got.detail).toMatch(detail);
    }
  });

  it.each([
    {
      name: 'a malformed Proxy-Authorization line',
      text: 'CONNECT a.b:443 HTTP/1.1\r\nProxy-Authorization : Basic c2VjcmV0\r\n\r\n',
    },
    { name: 'a request line with user:password@', text: 'GET http://agent:s3cret@a.b/ HTTP/9\r\n\r\n' },
    { name: 'an HTTP/0.9 CONNECT with user:password@', text: 'CONNECT agent:s3cret@a.b:443\r\n\r\n' },
  ])('never puts the credentials of $name in the detail', ({ text }) => {
    const got = parse(text);
    expect(got.kind).toBe('invalid');
    if (got.kind !== 'invalid') return;
    expect(got.detail).not.toMatch(/s3cret|c2VjcmV0/);
  });

  it('refuses a head larger than maxBytes, complete or not', () => {
    const big = `CONNECT a.b:443 HTTP/1.1\r\nX: ${'a'.repeat(300)}\r\n\r\n`;
    expect(parse(big, 256)).toMatchObject({ kind: 'invalid', detail: expect.stringMatching(/maxHeaderBytes \(256/) });
    expect(parse(big.slice(0, 280), 256)).toMatchObject({ kind: 'invalid' });
    expect(parseDripped(big, 256)).toMatchObject({ kind: 'invalid' });
  });

  it('waits while the head is incomplete', () => {
    for (const text of [
      '',
      'CONNECT a.b:443 HTTP/1.1',
      'CONNECT a.b:443 HTTP/1.1\r\n',
      'CONNECT a.b:443 HTTP/1.1\r\n\r',
    ])
      expect(parse(text).kind).toBe('incomplete');
  });
});

describe('parseRequestHead on arbitrary input', () => {
  it('never throws, never reads past maxBytes, and answers the same however the bytes are split', () => {
    const pieces = fc.constantFrom(
      'CONNECT ',
      'GET ',
      'a.b:443',
      'http://a.b/',
      ' HTTP/1.1',
      ' HTTP/1.0',
      ' HTTP/2',
      '\r\n',
      '\n',
      '\r',
      'Host: a.b',
      'Proxy-Authorization: Basic YTpi',
      ': ',
      ' ',
      '\t',
      '\x00',
      'PROXY ',
    );
    const input = fc.oneof(
      fc.array(pieces, { maxLength: 12 }).map((p) => Buffer.from(p.join(''), 'latin1')),
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(input, fc.integer({ min: 16, max: 400 }), fc.integer({ min: 1, max: 7 }), (buf, max, step) => {
        const whole = parseRequestHead(buf, max);
        if (whole.kind === 'request') expect(whole.head.length).toBeLessThanOrEqual(max);
        let scanFrom = 0;
        let split: HeadResult = { kind: 'incomplete', scanFrom: 0 };
        for (
          let n = Math.min(step, buf.length);
          n <= buf.length;
          n = n === buf.length ? n + 1 : Math.min(n + step, buf.length)
        ) {
          split = parseRequestHead(buf.subarray(0, n), max, scanFrom);
          if (split.kind !== 'incomplete') break;
          scanFrom = split.scanFrom;
        }
        if (buf.length > 0) expect(split.kind).toBe(whole.kind);
        if (split.kind === 'request' && whole.kind === 'request') expect(split.head).toEqual(whole.head);
      }),
      { numRuns: 2000 },
    );
  });
});
