// `acr-egress logs`: the recent decisions of a running gateway through its admin API, as a table
// (oldest first, like tail) or JSON lines; --follow then prints new ones as they happen.
import type { DecisionRecord } from '../audit/record.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import { reportError, type Io } from './output.js';
import { LOGS_IMPORT_USAGE, runLogsImport } from './logs-import.js';

const LOGS_USAGE = `  logs [--blocked|--allowed] [--reason R] [--host H] [--client C] [--rule R] [--since 1h] [--until T]
       [--kind K] [--repository R] [--digest D] [--user U] [--instance I]
       [--limit N] [--follow] [--json] [--url URL] [--token T]
                                             recent decisions from a running gateway's admin API
                                             (URL: --url, $ACR_EGRESS_ADMIN_URL, http://127.0.0.1:9128;
                                             token: --token or $ACR_EGRESS_ADMIN_TOKEN)
${LOGS_IMPORT_USAGE}`;

export const logsCommand: Command = { name: 'logs', usage: LOGS_USAGE, run: (io, argv) => runLogs(io, argv) };

const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9128';

export interface LogsDeps {
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  /** Ends --follow (the command then exits 0). */
  signal?: AbortSignal;
}

const OPTIONS = {
  blocked: { type: 'boolean' },
  allowed: { type: 'boolean' },
  reason: { type: 'string' },
  host: { type: 'string' },
  client: { type: 'string' },
  rule: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  kind: { type: 'string' },
  repository: { type: 'string' },
  digest: { type: 'string' },
  user: { type: 'string' },
  instance: { type: 'string' },
  limit: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
  json: { type: 'boolean' },
  url: { type: 'string' },
  token: { type: 'string' },
} as const;

class ApiError extends Error {}

export async function runLogs(io: Io, argv: string[], deps: LogsDeps = {}): Promise<number> {
  if (argv[0] === 'import') return runLogsImport(io, argv.slice(1));
  let values: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };
  try {
    values = parseCommandArgs('logs', { args: argv, options: OPTIONS, allowPositionals: false }).values;
  } catch (err) {
    return reportError(io, err, 2);
  }
  if (values.blocked && values.allowed) return usage(io, 'give --blocked or --allowed, not both');
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
    return usage(io, `--limit must be a whole number from 1 to 100000 (got ${values.limit})`);
  const env = deps.env ?? process.env;
  const base = (values.url ?? env.ACR_EGRESS_ADMIN_URL ?? DEFAULT_ADMIN_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(base)) return usage(io, `--url must be an http(s) URL (got ${base})`);
  const token = values.token ?? env.ACR_EGRESS_ADMIN_TOKEN;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const filters = new URLSearchParams();
  if (values.blocked) filters.set('decision', 'blocked');
  if (values.allowed) filters.set('decision', 'allowed');
  const keys = [
    'reason',
    'host',
    'client',
    'rule',
    'since',
    'until',
    'kind',
    'repository',
    'digest',
    'user',
    'instance',
  ];
  for (const key of keys as (keyof typeof OPTIONS)[]) {
    const v = values[key];
    if (typeof v === 'string') filters.set(key, v);
  }
  const doFetch = deps.fetch ?? fetch;
  const print = values.json
    ? (r: DecisionRecord) => io.out(JSON.stringify(r))
    : (r: DecisionRecord) => io.out(formatRow(r));
  try {
    const records = await fetchRecent(doFetch, base, filters, headers, limit);
    if (!values.json) io.out(HEADER);
    for (let i = records.length - 1; i >= 0; i--) print(records[i] as DecisionRecord);
    if (values.follow) await follow(doFetch, base, filters, headers, records[0]?.id ?? null, print, deps.signal);
    return 0;
  } catch (err) {
    if (deps.signal?.aborted) return 0;
    io.err(
      `acr-egress logs: ${err instanceof ApiError ? err.message : `cannot reach the admin API at ${base}: ${causeOf(err)}`}`,
    );
    return 1;
  }
}

function usage(io: Io, message: string): number {
  return reportError(io, usageError(`logs: ${message}: try acr-egress logs --help`));
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

async function failure(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: string; message?: string };
    if (body.message) message = `${res.status} ${body.error ?? ''}: ${body.message}`;
  } catch {
    // not JSON: the status says enough
  }
  if (res.status === 401) message += ' (give --token or set ACR_EGRESS_ADMIN_TOKEN)';
  return new ApiError(message);
}

/** Newest first, up to `limit`, following cursors across pages of at most 1000. */
async function fetchRecent(
  doFetch: typeof fetch,
  base: string,
  filters: URLSearchParams,
  headers: Record<string, string>,
  limit: number,
): Promise<DecisionRecord[]> {
  const out: DecisionRecord[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams(filters);
    q.set('limit', String(Math.min(1000, limit - out.length)));
    if (cursor !== null) q.set('cursor', cursor);
    const res = await doFetch(`${base}/api/v1/logs?${q.toString()}`, { headers });
    if (!res.ok) throw await failure(res);
    const page = (await res.json()) as { items: DecisionRecord[]; nextCursor: string | null };
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null && out.length < limit);
  return out;
}

/** Reads the SSE stream until it ends or `signal` aborts; Last-Event-ID closes the gap after the page. */
async function follow(
  doFetch: typeof fetch,
  base: string,
  filters: URLSearchParams,
  headers: Record<string, string>,
  lastId: string | null,
  print: (r: DecisionRecord) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const q = new URLSearchParams(filters);
  q.delete('until');
  const res = await doFetch(`${base}/api/v1/logs/stream?${q.toString()}`, {
    headers: { ...headers, accept: 'text/event-stream', ...(lastId !== null ? { 'last-event-id': lastId } : {}) },
    signal,
  });
  if (!res.ok || res.body === null) throw await failure(res);
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) !== -1) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = event
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data !== '') print(JSON.parse(data) as DecisionRecord);
    }
  }
}

const COLUMNS: [string, number][] = [
  ['TIME', 20],
  ['DECISION', 8],
  ['REASON', 24],
  ['CLIENT', 15],
  ['HOST:PORT', 40],
  ['RULE', 30],
  ['BYTES UP/DOWN', 0],
];

const HEADER = COLUMNS.map(([name, w]) => name.padEnd(w))
  .join(' ')
  .trimEnd();

export function formatBytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024) return `${n}B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** One table row; a would-block in report mode shows as `allowed` with `report:<reason>`. */
export function formatRow(r: DecisionRecord): string {
  const time = r.time.replace(/\.[0-9]+Z$/, 'Z');
  const reason = r.reason === null ? '-' : r.report ? `report:${r.reason}` : r.reason;
  const host =
    r.host === null ? '-' : r.port === null ? r.host : `${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}`;
  const bytes =
    r.bytesUp === null && r.bytesDown === null ? '-' : `${formatBytes(r.bytesUp)}/${formatBytes(r.bytesDown)}`;
  const cells = [time, r.decision, reason, r.client ?? '-', host, r.rule ?? '-', bytes];
  return cells
    .map((c, i) => c.padEnd((COLUMNS[i] as [string, number])[1]))
    .join(' ')
    .trimEnd();
}
