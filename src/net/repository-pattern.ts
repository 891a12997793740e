// Repository patterns of `repositories:`: `*` matches within one path segment, `**` (a whole segment)
// one or more segments. Compiled once per config into one anchored regular expression.

export type PatternCompile = { ok: true; regex: RegExp } | { ok: false; problem: string };

const SEGMENT = /^[a-z0-9._*-]+$/;

function segmentSource(segment: string): string {
  if (segment === '**') return '[^/]+(?:/[^/]+)*';
  if (segment === '*') return '[^/]+';
  return segment
    .split('*')
    .map((part) => part.replace(/[.]/g, '\\.'))
    .join('[^/]*');
}

export function compileRepositoryPattern(pattern: string): PatternCompile {
  const segments = pattern.split('/');
  for (const segment of segments) {
    if (segment === '') return { ok: false, problem: `"${pattern}" has an empty path segment` };
    if (!SEGMENT.test(segment))
      return { ok: false, problem: `"${pattern}": segments are lower-case letters, digits, . _ - and *` };
    if (segment.includes('**') && segment !== '**')
      return { ok: false, problem: `"${pattern}": ** must be a whole path segment` };
    if (segment === '.' || segment === '..') return { ok: false, problem: `"${pattern}" has a . or .. segment` };
  }
  return { ok: true, regex: new RegExp(`^(?:${segments.map(segmentSource).join('/')})$`) };
}

/** One expression for the whole list; null when every pattern compiled, else the problems. */
export function compileRepositoryList(patterns: readonly string[]): { regex: RegExp } | { problems: string[] } {
  const problems: string[] = [];
  const sources: string[] = [];
  for (const p of patterns) {
    const c = compileRepositoryPattern(p);
    if (c.ok) sources.push(c.regex.source);
    else problems.push(c.problem);
  }
  return problems.length > 0 ? { problems } : { regex: new RegExp(sources.join('|')) };
}
