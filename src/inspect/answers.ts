// Refusals inside an inspected tunnel, in the registry's own error shape, so that docker, containerd
// and skopeo print the reason to the user (a bare 403 on CONNECT only says "Forbidden").
import type { ServerResponse } from 'node:http';
import { REASONS, type Reason } from '../policy/reasons.js';

function registryErrorBody(reason: Reason, detail: string): string {
  const code = REASONS[reason].status === 403 ? 'DENIED' : 'UNAVAILABLE';
  return JSON.stringify({ errors: [{ code, message: `acr-egress: ${reason}: ${detail}` }] });
}

/** Answers one request with the reason's status; closes the connection when a request body is unread. */
export function answerRefusal(res: ServerResponse, reason: Reason, detail: string, bodyUnread: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = registryErrorBody(reason, detail);
  res.writeHead(REASONS[reason].status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'X-Acr-Egress-Reason': reason,
    'Docker-Distribution-Api-Version': 'registry/2.0',
    ...(bodyUnread ? { Connection: 'close' } : {}),
  });
  res.end(body);
}
