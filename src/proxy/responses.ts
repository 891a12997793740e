// The one place that turns a block reason into bytes on the wire: an HTTP status line with the
// X-Acr-Egress-Reason header, or (once a tunnel is open) a plain close.
import type { Socket } from 'node:net';
import { REASONS, type Reason } from '../policy/reasons.js';
import { REFUSAL_LINGER_MS } from './defaults.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Sent with every 407, so that clients (curl, Docker, skopeo) retry with their credentials. */
export const PROXY_AUTHENTICATE = 'Basic realm="acr-egress"';

export function statusFor(reason: Reason): number {
  return REASONS[reason].status;
}

/** The plain-text body every refusal carries, on a raw socket or through http-proxy's response. */
export function blockBody(reason: Reason, detail?: string): string {
  return `acr-egress: ${reason}: ${detail ?? REASONS[reason].text}\n`;
}

/** The full HTTP/1.1 response for a refused proxy request (connection closes after it). */
function blockResponse(reason: Reason, detail?: string): string {
  const status = statusFor(reason);
  const body = blockBody(reason, detail);
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    `X-Acr-Egress-Reason: ${reason}\r\n` +
    (reason === 'proxy_auth_required' ? `Proxy-Authenticate: ${PROXY_AUTHENTICATE}\r\n` : '') +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * Answers and closes a client socket that has not been turned into a tunnel yet. What the client
 * still sends is read and dropped, so its FIN closes the socket; one that neither reads nor closes
 * is cut after REFUSAL_LINGER_MS.
 */
export function refuseSocket(socket: Socket, reason: Reason, detail?: string): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.end(blockResponse(reason, detail));
  else socket.destroy();
  linger(socket);
}

/**
 * After our answer: drain the client's side until it closes, at most REFUSAL_LINGER_MS from now.
 * An absolute timer, not an idle one: a client that keeps dripping bytes must not keep the socket.
 */
export function linger(socket: Socket): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
}

/** One buffer for every tunnel: written as is, never copied or re-encoded per connection. */
export const CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');
