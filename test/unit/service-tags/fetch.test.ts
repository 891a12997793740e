// The gateway's own GETs: which URLs and redirects are followed, the size cap while streaming,
// the User-Agent. Uses an in-memory fetch; test/integration covers real sockets.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { isAcrEgressError, type ErrorCode } from '../../../src/errors.js';
import { checkFetchUrl, fetchLimited, type FetchLike } from '../../../src/service-tags/fetch.js';

const log = pino({ level: 'silent' });

type Route = (url: string) => Response;
function fakeFetch(route: Route) {
  const seen: Array<{ url: string; headers: Record<string, string>; redirect: string | undefined }> = [];
  const impl: FetchLike = async (url, init) => {
    seen.push({ url, headers: init.headers as Record<string, string>, redirect: init.redirect });
    return route(url);
  };
  return { impl, seen };
}

const opts = (impl: FetchLike, maxBytes = 1024) => ({
  timeoutMs: 1000,
  maxBytes,
  userAgent: 'acr-egress/test',
  log,
  fetchImpl: impl,
});

/** A body of n bytes in chunks of 100, with no Content-Length. */
function streamed(n: number): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      const size = Math.min(100, left);
      left -= size;
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
}

describe('checkFetchUrl', () => {
  it.each([
    { name: 'allows https anywhere', url: 'https://download.microsoft.com/x.json', ok: true },
    { name: 'allows plain http to 127.0.0.1 (tests, local mirrors)', url: 'http://127.0.0.1:8080/x.json', ok: true },
    { name: 'allows plain http to [::1]', url: 'http://[::1]:8080/x.json', ok: true },
    { name: 'refuses plain http to a public host', url: 'http://download.microsoft.com/x.json', ok: false },
    { name: 'refuses plain http to a private address', url: 'http://10.0.0.5/x.json', ok: false },
    { name: 'refuses ftp', url: 'ftp://127.0.0.1/x.json', ok: false },
  ])('$name', ({ url, ok }) => {
    const run = () => checkFetchUrl(new URL(url));
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(/only https|plain http is allowed only to a loopback host/);
  });

  it.each([
    {
      name: 'refuses a redirect from https down to loopback http',
      from: 'https://a.example/x',
      to: 'http://127.0.0.1/x',
      ok: false,
    },
    {
      name: 'refuses a redirect from loopback http to non-loopback http',
      from: 'http://127.0.0.1/x',
      to: 'http://192.0.2.10/x',
      ok: false,
    },
    {
      name: 'follows a redirect from loopback http to https',
      from: 'http://127.0.0.1/x',
      to: 'https://a.example/x',
      ok: true,
    },
  ])('$name', ({ from, to, ok }) => {
    const run = () => checkFetchUrl(new URL(to), new URL(from));
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(expect.objectContaining({ code: 'SERVICE_TAGS_REDIRECT_REFUSED' }));
  });
});

describe('fetchLimited', () => {
  it('sends the User-Agent, handles redirects itself and returns the final URL', async () => {
    const { impl, seen } = fakeFetch((url) =>
      url.endsWith('/a')
        ? new Response(null, { status: 302, headers: { location: '/b' } })
        : new Response('{"ok":1}', { headers: { 'content-type': 'application/json' } }),
    );
    const got = await fetchLimited('https://h.example/a', opts(impl));
    expect(got.url).toBe('https://h.example/b');
    expect(got.body.toString()).toBe('{"ok":1}');
    expect(seen.map((s) => [s.url, s.headers['user-agent'], s.redirect])).toEqual([
      ['https://h.example/a', 'acr-egress/test', 'manual'],
      ['https://h.example/b', 'acr-egress/test', 'manual'],
    ]);
  });

  it('reads a body exactly at the cap', async () => {
    const { impl } = fakeFetch(() => new Response(streamed(1024)));
    expect((await fetchLimited('https://h.example/f', opts(impl, 1024))).body.length).toBe(1024);
  });

  const failures: Array<{ name: string; route: Route; code: ErrorCode; message: RegExp; url?: string }> = [
    {
      name: 'refuses a streamed body past the cap while reading',
      route: () => new Response(streamed(5000)),
      code: 'SERVICE_TAGS_TOO_LARGE',
      message: /exceeds serviceTags.maxBytes \(1024 bytes\)/,
    },
    {
      name: 'refuses a declared Content-Length past the cap before reading',
      route: () => new Response(streamed(10), { headers: { 'content-length': '999999' } }),
      code: 'SERVICE_TAGS_TOO_LARGE',
      message: /Content-Length 999999 exceeds/,
    },
    {
      name: 'reports HTTP 500 with the URL',
      route: () => new Response('oops', { status: 500 }),
      code: 'SERVICE_TAGS_FETCH_FAILED',
      message: /GET https:\/\/h.example\/f: HTTP 500/,
    },
    {
      name: 'reports HTTP 404',
      route: () => new Response('', { status: 404 }),
      code: 'SERVICE_TAGS_FETCH_FAILED',
      message: /HTTP 404/,
    },
    {
      name: 'refuses a redirect to non-loopback http',
      route: () => new Response(null, { status: 301, headers: { location: 'http://192.0.2.10/f' } }),
      code: 'SERVICE_TAGS_REDIRECT_REFUSED',
      message: /redirect from https:\/\/h.example\/f to http:\/\/192.0.2.10\/f refused/,
    },
    {
      name: 'stops after 5 redirects',
      route: (u) => new Response(null, { status: 302, headers: { location: `${u}x` } }),
      code: 'SERVICE_TAGS_REDIRECT_REFUSED',
      message: /more than 5 redirects/,
    },
    {
      name: 'reports a redirect without Location',
      route: () => new Response(null, { status: 307 }),
      code: 'SERVICE_TAGS_FETCH_FAILED',
      message: /HTTP 307 without a Location/,
    },
    {
      name: 'refuses a plain-http source off loopback without asking',
      route: () => new Response('{}'),
      url: 'http://h.example/f',
      code: 'SERVICE_TAGS_FETCH_FAILED',
      message: /refusing to fetch/,
    },
  ];

  it.each(failures)('$name', async ({ route, code, message, url }) => {
    const { impl } = fakeFetch(route);
    const err = await fetchLimited(url ?? 'https://h.example/f', opts(impl)).catch((e: unknown) => e);
    expect(isAcrEgressError(err, code), String(err)).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it('names a refused connection', async () => {
    const impl: FetchLike = async () => {
      throw Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      });
    };
    await expect(fetchLimited('https://h.example/f', opts(impl))).rejects.toThrow(
      /GET https:\/\/h.example\/f: connection refused \(ECONNREFUSED\)/,
    );
  });

  it('times out a request that never answers', async () => {
    const impl: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) =>
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      );
    await expect(fetchLimited('https://h.example/f', { ...opts(impl), timeoutMs: 50 })).rejects.toThrow(
      /no complete answer within 50 ms/,
    );
  });
});
