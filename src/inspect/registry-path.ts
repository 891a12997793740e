// Reads a request target inside an inspected tunnel as a Docker Registry HTTP API V2, ACR token or
// ACR /acr/v1 call. Pure. Anything a registry and this parser could read two ways is `ambiguous`:
// percent-escapes other than %3A, `.`/`..`/empty segments, repository names with a route keyword
// as a segment, repeated query keys. The query is read only for upload mounts and never kept.

export type RegistryRoute =
  | { kind: 'base' }
  | { kind: 'catalog'; api: 'v2' | 'acr' }
  | { kind: 'manifest'; repository: string; reference: string; byDigest: boolean }
  | { kind: 'blob'; repository: string; digest: string }
  | { kind: 'upload'; repository: string; session: string | null; mountFrom: string | null }
  | { kind: 'tags'; repository: string }
  | { kind: 'referrers'; repository: string; digest: string }
  | { kind: 'token'; endpoint: 'token' | 'exchange' }
  /** ACR's listing API: repository attributes, its tags or manifests (one or all). */
  | { kind: 'acr'; repository: string; resource: 'repository' | 'tags' | 'manifests' }
  | { kind: 'ambiguous'; detail: string }
  | { kind: 'unknown' };

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
/** Segments that are route keywords: a repository containing one could be read as another route. */
const KEYWORDS = new Set(['manifests', 'blobs', 'uploads', 'tags', 'referrers', '_manifests', '_tags', '_catalog']);
const MAX_NAME = 255;

function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

/** A repository name by the distribution grammar, with no keyword segment; else why not. */
function checkRepositoryName(name: string): string | null {
  if (name.length === 0) return 'an empty repository name';
  if (name.length > MAX_NAME) return `a repository name longer than ${MAX_NAME}`;
  for (const part of name.split('/')) {
    if (KEYWORDS.has(part)) return `repository "${name.slice(0, 100)}" has the route keyword "${part}" as a segment`;
    if (!COMPONENT.test(part)) return `"${name.slice(0, 100)}" is not a repository name`;
  }
  return null;
}

function ambiguous(detail: string): RegistryRoute {
  return { kind: 'ambiguous', detail };
}

function decodePath(raw: string): string | { problem: string } {
  if (!raw.startsWith('/')) return { problem: 'the request target is not an origin-form path' };
  // %3A is how some clients send the colon of a digest; any other escape could hide a / or a ..
  const path = raw.replace(/%3a/gi, ':');
  if (path.includes('%')) return { problem: 'the path has percent-escapes' };
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
  if (/[\\\x00-\x20\x7f#]/.test(path)) return { problem: 'the path has a backslash, space or control character' };
  return path;
}

function withRepository(name: string, route: RegistryRoute): RegistryRoute {
  const problem = checkRepositoryName(name);
  return problem === null ? route : ambiguous(problem);
}

function parseV2(segs: readonly string[], query: string): RegistryRoute {
  // segs: the segments after /v2/, the last one possibly '' (trailing slash).
  const n = segs.length;
  if (n === 1 && segs[0] === '_catalog') return { kind: 'catalog', api: 'v2' };
  const last = segs[n - 1] as string;
  const prev = segs[n - 2];
  if (n >= 3 && segs[n - 3] === 'blobs' && prev === 'uploads') {
    const repository = segs.slice(0, n - 3).join('/');
    const session = last === '' ? null : last;
    if (session !== null && !/^[A-Za-z0-9._=-]{1,256}$/.test(session)) return ambiguous('a malformed upload id');
    let mountFrom: string | null = null;
    if (session === null && query !== '') {
      const params = new URLSearchParams(query);
      if (params.getAll('from').length > 1 || params.getAll('mount').length > 1)
        return ambiguous('mount or from is given twice');
      mountFrom = params.get('from');
      if (mountFrom !== null) {
        const problem = checkRepositoryName(mountFrom);
        if (problem !== null) return ambiguous(`from=: ${problem}`);
      }
    }
    return withRepository(repository, { kind: 'upload', repository, session, mountFrom });
  }
  if (last === '') return { kind: 'unknown' };
  if (n < 3) return { kind: 'unknown' };
  const repository = segs.slice(0, n - 2).join('/');
  switch (prev) {
    case 'manifests': {
      const byDigest = isDigest(last);
      if (!byDigest && !TAG.test(last)) return ambiguous(`"${last.slice(0, 100)}" is neither a tag nor a digest`);
      return withRepository(repository, { kind: 'manifest', repository, reference: last, byDigest });
    }
    case 'blobs':
      if (!isDigest(last)) return ambiguous(`"${last.slice(0, 100)}" is not a digest`);
      return withRepository(repository, { kind: 'blob', repository, digest: last });
    case 'referrers':
      if (!isDigest(last)) return ambiguous(`"${last.slice(0, 100)}" is not a digest`);
      return withRepository(repository, { kind: 'referrers', repository, digest: last });
    case 'tags':
      return last === 'list' ? withRepository(repository, { kind: 'tags', repository }) : { kind: 'unknown' };
    default:
      return { kind: 'unknown' };
  }
}

function parseAcr(segs: readonly string[]): RegistryRoute {
  // /acr/v1/_catalog, /acr/v1/<name>, /acr/v1/<name>/_tags[/<tag>], /acr/v1/<name>/_manifests[/<digest>]
  if (segs.length === 1 && segs[0] === '_catalog') return { kind: 'catalog', api: 'acr' };
  if (segs.includes('')) return { kind: 'unknown' };
  const tagsAt = segs.lastIndexOf('_tags');
  const manifestsAt = segs.lastIndexOf('_manifests');
  const at = Math.max(tagsAt, manifestsAt);
  if (at === -1) {
    const repository = segs.join('/');
    return withRepository(repository, { kind: 'acr', repository, resource: 'repository' });
  }
  const rest = segs.slice(at + 1);
  if (rest.length > 1) return { kind: 'unknown' };
  const repository = segs.slice(0, at).join('/');
  if (rest.length === 1) {
    const ref = rest[0] as string;
    const ok = at === tagsAt ? TAG.test(ref) : isDigest(ref);
    if (!ok) return ambiguous(`"${ref.slice(0, 100)}" is not a ${at === tagsAt ? 'tag' : 'digest'}`);
  }
  return withRepository(repository, { kind: 'acr', repository, resource: at === tagsAt ? 'tags' : 'manifests' });
}

/** Parses a request target (`/v2/...?...`). The query never leaves this function except as `from=`. */
export function parseRegistryPath(target: string): RegistryRoute {
  const q = target.indexOf('?');
  const decoded = decodePath(q === -1 ? target : target.slice(0, q));
  if (typeof decoded !== 'string') return ambiguous(decoded.problem);
  const query = q === -1 ? '' : target.slice(q + 1);
  if (decoded === '/v2' || decoded === '/v2/') return { kind: 'base' };
  if (decoded === '/oauth2/token') return { kind: 'token', endpoint: 'token' };
  if (decoded === '/oauth2/exchange') return { kind: 'token', endpoint: 'exchange' };
  const segs = decoded.split('/').slice(1);
  // Empty segments are only meaningful as the trailing slash of an upload start.
  const inner = segs.slice(0, -1);
  if (inner.includes('')) return ambiguous('the path has an empty segment (//)');
  if (segs.includes('.') || segs.includes('..')) return ambiguous('the path has a . or .. segment');
  if (segs[0] === 'v2') return parseV2(segs.slice(1), query);
  if (segs[0] === 'acr' && segs[1] === 'v1' && segs.length > 2) return parseAcr(segs.slice(2));
  return { kind: 'unknown' };
}

/** The path without its query string: what records keep. */
export function pathOnly(target: string): string {
  const q = target.indexOf('?');
  return (q === -1 ? target : target.slice(0, q)).slice(0, 1024);
}
