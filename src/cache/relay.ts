// Writes an upstream answer to the client as it came (status, end-to-end headers, body), for every
// answer the cache must not touch: refusals, errors, and redirects it does not take over.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** What the cache is handed: the registry's (or storage's) answer, whoever fetched it. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export function relay(answer: UpstreamAnswer, res: ServerResponse): void {
  answer.body.once('error', () => res.destroy());
  res.writeHead(answer.status, endToEnd(answer.headers));
  answer.body.pipe(res);
}
