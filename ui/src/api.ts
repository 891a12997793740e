// Talks to the admin API: every call sends the bearer token from memory (sessionStorage keeps it for
// the tab, never a URL or a cookie), and the live stream is read with fetch() because EventSource
// cannot send an Authorization header.

import type { DecisionRecord } from '../../src/audit/record.js';

const TOKEN_KEY = 'acr-egress.admin-token';

/**
 * A decision record as the API sends it: the server's own type, but every field optional and nullable,
 * and unknown fields allowed: a record is shown, never trusted.
 */
export type Rec = { [K in keyof DecisionRecord]?: DecisionRecord[K] | null } & {
  id: string;
  time: string;
  decision: string;
  [field: string]: unknown;
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
  }
}

let token: string | null = readStored();
const unauthorizedListeners = new Set<(e: ApiError) => void>();

function readStored(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export const session = {
  token: (): string | null => token,
  set(value: string | null): void {
    token = value === null || value === '' ? null : value;
    try {
      if (token === null) sessionStorage.removeItem(TOKEN_KEY);
      else sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      // Storage off (private mode): the token lives in memory only.
    }
  },
  /** Called with every 401, so the app can show the login view with the API's own message. */
  onUnauthorized(fn: (e: ApiError) => void): () => void {
    unauthorizedListeners.add(fn);
    return () => unauthorizedListeners.delete(fn);
  },
};

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json', ...extra };
  if (token !== null) h.authorization = `Bearer ${token}`;
  return h;
}

async function failure(res: Response): Promise<ApiError> {
  let body: { error?: unknown; message?: unknown; problems?: unknown } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not JSON (a proxy in between): the status says enough.
  }
  const problems = Array.isArray(body.problems) ? body.problems.map(String) : [];
  const err = new ApiError(
    res.status,
    typeof body.error === 'string' ? body.error : `http_${res.status}`,
    typeof body.message === 'string' ? body.message : res.statusText || `HTTP ${res.status}`,
    problems,
  );
  if (res.status === 401) for (const fn of unauthorizedListeners) fn(err);
  return err;
}

/** GET (or POST with a JSON body) an API path; throws ApiError for any non-2xx answer. */
export async function api<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { headers: headers(), cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers = headers({ 'content-type': 'application/json' });
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/** A query string from the non-empty values, so an unset filter is never sent as "". */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

export type StreamState = 'connecting' | 'open' | 'retrying' | 'refused';

/**
 * Follows /api/v1/logs/stream until signal aborts: parses server-sent events from a fetch() body and
 * reconnects with Last-Event-ID after a drop (the server replays what was missed). `after`: the newest
 * record the caller already has, so nothing written between its page and the stream is lost.
 */
export async function follow(
  onRecord: (rec: Rec) => void,
  onState: (state: StreamState, detail?: string) => void,
  signal: AbortSignal,
  after: string | null = null,
): Promise<void> {
  // Sent as Last-Event-ID from the first connection on: the server replays what was written since.
  let lastId: string | null = after;
  let delay = 500;
  while (!signal.aborted) {
    onState('connecting');
    try {
      const res = await fetch('/api/v1/logs/stream', {
        headers: headers(
          lastId === null ? { accept: 'text/event-stream' } : { accept: 'text/event-stream', 'last-event-id': lastId },
        ),
        cache: 'no-store',
        credentials: 'omit',
        signal,
      });
      if (!res.ok || res.body === null) {
        const err = await failure(res);
        if (res.status === 401 || res.status === 400) {
          onState('refused', err.message);
          return;
        }
        throw err;
      }
      onState('open');
      delay = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const rec = parseEvent(block);
          if (rec !== null) {
            lastId = rec.id;
            onRecord(rec);
          }
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      onState('retrying', err instanceof Error ? err.message : String(err));
    }
    if (signal.aborted) return;
    onState('retrying');
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

function parseEvent(block: string): Rec | null {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0 || (event !== 'decision' && event !== 'message')) return null;
  try {
    const rec = JSON.parse(data.join('\n')) as Rec;
    return typeof rec === 'object' && rec !== null && typeof rec.id === 'string' ? rec : null;
  } catch {
    return null;
  }
}
