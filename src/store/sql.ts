// Turns a LogFilter into a SQL WHERE clause with numbered parameters: one builder for the
// embedded (PGlite) and PostgreSQL back ends, which speak the same SQL.
import type { LogFilter } from '../audit/query.js';

export interface Where {
  sql: string;
  params: unknown[];
}

/** LIKE pattern for "ends with `suffix`", with LIKE's own wildcards escaped. */
function endsWithPattern(suffix: string): string {
  return `%${suffix.replace(/[\\%_]/g, (c) => `\\${c}`)}`;
}

export function whereOf(filter: LogFilter, params: unknown[] = []): Where {
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
  for (const [column, value] of eq) if (value !== null) terms.push(`${column} = ${p(value)}`);
  if (filter.host !== null) {
    terms.push(filter.hostSuffix ? `host LIKE ${p(endsWithPattern(filter.host))}` : `host = ${p(filter.host)}`);
  }
  if (filter.clientCidr !== null) {
    terms.push(filter.client !== null ? `client = ${p(filter.client)}` : `client_ip <<= ${p(filter.clientCidr)}::inet`);
  }
  if (filter.since !== null) terms.push(`time >= ${p(new Date(filter.since))}`);
  if (filter.until !== null) terms.push(`time <= ${p(new Date(filter.until))}`);
  return { sql: terms.length === 0 ? 'TRUE' : terms.join(' AND '), params };
}
