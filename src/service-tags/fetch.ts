// The gateway's own HTTP GETs (download page and service-tag file): a timeout per request, a size
// cap enforced while streaming, redirects followed by hand so that each hop is checked, and a log line
// per request. These requests are the gateway's, not a client's: the client policy does not apply.

import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { AcrEgressError } from '../errors.js';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  userAgent: string;
  log: Logger;
  fetchImpl?: FetchLike;
  /** Aborts the request (the manager stopping). */
  signal?: AbortSignal;
  accept?: string;
}

export interface Fetched {
  /** The URL that answered, after redirects. */
  url: string;
  body: Buffer;
  contentType: string;
}

const MAX_REDIRECTS = 5;

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || (isIPv4(host) && host.startsWith('127.'));
}

/**
 * Throws unless url may be fetched: https anywhere, plain http only to a loopback host (tests and
 * local mirrors) and never as a downgrade from https, because a redirect must not drop TLS.
 */
export function checkFetchUrl(url: URL, from?: URL, step: 'redirect' | 'link' = 'redirect'): void {
  const code = from ? 'SERVICE_TAGS_REDIRECT_REFUSED' : 'SERVICE_TAGS_FETCH_FAILED';
  const what = from ? `${step} from ${from.href} to ${url.href} refused` : `refusing to fetch ${url.href}`;
  if (url.protocol === 'https:') return;
  if (url.protocol !== 'http:') throw new AcrEgressError(code, `${what}: only https URLs are allowed`);
  if (!isLoopbackHost(url.hostname))
    throw new AcrEgressError(code, `${what}: plain http is allowed only to a loopback host; use https`);
  if (from && from.protocol === 'https:') throw new AcrEgressError(code, `${what}: a redirect may not leave https`);
}

function describeFailure(err: unknown, host: string): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host name not resolved (DNS ${code} ${host})`;
  if (code !== undefined) return `${cause?.message ?? code} (${code})`;
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/** One GET of url, following up to MAX_REDIRECTS checked redirects; the whole body, at most maxBytes. */
export async function fetchLimited(url: string, options: FetchOptions): Promise<Fetched> {
  const doFetch = options.fetchImpl ?? fetch;
  let current = new URL(url);
  checkFetchUrl(current);
  for (let hop = 0; ; hop++) {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout.signal, options.signal]) : timeout.signal;
    const started = Date.now();
    const where = `GET ${current.href}`;
    try {
      let res: Response;
      try {
        res = await doFetch(current.href, {
          redirect: 'manual',
          signal,
          headers: { 'user-agent': options.userAgent, accept: options.accept ?? '*/*' },
        });
      } catch (err) {
        throw failure(where, current.hostname, err, timeout.signal, options);
      }
      const status = res.status;
      if ([301, 302, 303, 307, 308].includes(status)) {
        await res.body?.cancel().catch(() => undefined);
        const location = res.headers.get('location');
        options.log.info(
          { url: current.href, status, location, ms: Date.now() - started },
          'service-tag fetch redirected',
        );
        if (location === null)
          throw new AcrEgressError('SERVICE_TAGS_FETCH_FAILED', `${where}: HTTP ${status} without a Location header`);
        if (hop >= MAX_REDIRECTS)
          throw new AcrEgressError('SERVICE_TAGS_REDIRECT_REFUSED', `${where}: more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(location, current);
        checkFetchUrl(next, current);
        current = next;
        continue;
      }
      if (status < 200 || status > 299) {
        await res.body?.cancel().catch(() => undefined);
        options.log.warn({ url: current.href, status, ms: Date.now() - started }, 'service-tag fetch failed');
        throw new AcrEgressError(
          'SERVICE_TAGS_FETCH_FAILED',
          `${where}: HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}`,
        );
      }
      let body: Buffer;
      try {
        body = await readCapped(res, options.maxBytes, where);
      } catch (err) {
        throw err instanceof AcrEgressError ? err : failure(where, current.hostname, err, timeout.signal, options);
      }
      options.log.info(
        { url: current.href, status, bytes: body.length, ms: Date.now() - started },
        'service-tag fetch',
      );
      return { url: current.href, body, contentType: res.headers.get('content-type') ?? '' };
    } finally {
      clearTimeout(timer);
    }
  }
}

function failure(
  where: string,
  host: string,
  err: unknown,
  timeout: AbortSignal,
  options: FetchOptions,
): AcrEgressError {
  if (timeout.aborted) {
    return new AcrEgressError(
      'SERVICE_TAGS_FETCH_FAILED',
      `${where}: no complete answer within ${options.timeoutMs} ms (serviceTags.fetchTimeoutMs)`,
      { cause: err },
    );
  }
  if (options.signal?.aborted)
    return new AcrEgressError('SERVICE_TAGS_FETCH_FAILED', `${where}: aborted (stopping)`, { cause: err });
  return new AcrEgressError('SERVICE_TAGS_FETCH_FAILED', `${where}: ${describeFailure(err, host)}`, { cause: err });
}

async function readCapped(res: Response, maxBytes: number, where: string): Promise<Buffer> {
  const tooLarge = (seen: string) =>
    new AcrEgressError('SERVICE_TAGS_TOO_LARGE', `${where}: ${seen} exceeds serviceTags.maxBytes (${maxBytes} bytes)`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(`Content-Length ${declared}`);
  }
  if (res.body === null) return Buffer.alloc(0);
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Stop reading now: a hostile or broken server must not fill memory past the cap.
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`the body (${total} bytes read so far)`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
