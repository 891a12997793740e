// Reads a `Proxy-Authorization: Basic` header (RFC 7617), as Docker and skopeo send it when the
// proxy URL carries credentials. Anything else, or anything malformed, is no credentials at all.

/** Longer values are refused unread: a user name and password never need this much. */
const MAX_VALUE = 4096;
const SCHEME = /^basic +([A-Za-z0-9+/]+={0,2})$/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

/** The user and password, or null: not Basic, not strict base64, not UTF-8, no ':' or an empty user. */
export function parseProxyAuthorization(value: string | undefined): BasicCredentials | null {
  if (value === undefined || value.length > MAX_VALUE) return null;
  const m = SCHEME.exec(value.trim());
  if (m === null) return null;
  const token = m[1]!;
  const bytes = Buffer.from(token, 'base64');
  // Buffer.from ignores bad padding and trailing bits; re-encoding catches both.
  if (bytes.toString('base64') !== token) return null;
  let decoded: string;
  try {
    decoded = utf8.decode(bytes);
  } catch {
    return null;
  }
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  const user = decoded.slice(0, colon);
  // Control characters in a name could forge log lines; no legitimate client sends them.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(user)) return null;
  return { user, password: decoded.slice(colon + 1) };
}
