// Turns a LogFilter into a SQL WHERE clause with numbered parameters: one builder for the
// PostgreSQL and embedded (SQLite) back ends, which differ only in how a client CIDR matches.
import type { LogFilter } from './query.js';
import { ipRange } from './ip-range.js';

/** postgres: client_ip is inet. sqlite: client_ip is the address's 16 bytes, a CIDR a range of them. */
export type Dialect = 'postgres' | 'sqlite';

export interface Where {
  sql: string;
  params: unknown[];
}

/** LIKE pattern for "ends with `suffix`", with LIKE's own wildcards escaped. */
function endsWithPattern(suffix: string): string {
  return `%${suffix.replace(/[\\%_]/g, (c) => `\\${c}`)}`;
}

export function whereOf(filter: LogFilter, params: unknown[] = [], dialect: Dialect = 'postgres'): Where {
  const terms: string[] = [];
  const p = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const eq: [string, string | null][] = [
    ['decision', filter.decision],
    ['reason', filter.reason],
    ['rule', filter.rule],
    ['mode', filter.mode],
    ['kind', filter.kind],
    ['repository', filter.repository],
    ['digest', filter.digest],
    ['usr', filter.user],
    ['instance', filter.instance],
  ];
  // SQLite's planner prefers an equality index even over a narrow time window (a day of a week):
  // with a window, the unary + leaves it the time index, and the equalities are checked per row.
  const col = dialect === 'sqlite' && filter.since !== null ? (c: string) => `+${c}` : (c: string) => c;
  for (const [column, value] of eq) if (value !== null) terms.push(`${col(column)} = ${p(value)}`);
  if (filter.host !== null) {
    terms.push(filter.hostSuffix ? `host LIKE ${p(endsWithPattern(filter.host))}` : `host = ${p(filter.host)}`);
  }
  if (filter.clientCidr !== null) {
    if (dialect === 'postgres') {
      if (filter.client !== null) terms.push(`client = ${p(filter.client)}`);
      else terms.push(`client_ip <<= ${p(filter.clientCidr)}::inet`);
    } else {
      // SQLite keeps one client index, (client_ip, id): one address is an equality on its bytes, so
      // the index also gives the page's id order; a wider CIDR is a range of it.
      const range = ipRange(filter.clientCidr);
      if (range === null) terms.push('FALSE');
      else if (Buffer.compare(range.low, range.high) === 0) terms.push(`client_ip = ${p(range.low)}`);
      else terms.push(`client_ip BETWEEN ${p(range.low)} AND ${p(range.high)}`);
    }
  }
  if (filter.since !== null) terms.push(`time >= ${p(new Date(filter.since))}`);
  if (filter.until !== null) terms.push(`time <= ${p(new Date(filter.until))}`);
  return { sql: terms.length === 0 ? 'TRUE' : terms.join(' AND '), params };
}
