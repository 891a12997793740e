// Writes an upstream answer to the client as it came (status, end-to-end headers, body), for every
// answer the cache must not touch: refusals, errors, and redirects it does not take over.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { stripHopByHop } from '../net/hop-by-hop.js';

/** What the cache is handed: the registry's (or storage's) answer, whoever fetched it. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
}

/** The answer's end-to-end headers; Transfer-Encoding too is dropped: Node frames what it relays. */
function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out = { ...headers };
  stripHopByHop(out);
  delete out['transfer-encoding'];
  return out;
}

export function relay(answer: UpstreamAnswer, res: ServerResponse): void {
  answer.body.once('error', () => res.destroy());
  res.writeHead(answer.status, endToEnd(answer.headers));
  answer.body.pipe(res);
}
