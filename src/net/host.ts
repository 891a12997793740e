// Host-name normalisation, run before any rule match: one spelling per name (lower-case ASCII,
// IDN as punycode, no trailing dot), and every way of writing an IP address refused as such.
//
// Checks, in order; the first that fails gives the result:
//   1. empty, or too long to ever become a valid name                      bad_request
//   2. an IPv6 literal: bare, [bracketed], with a zone id (%25eth0)          ip_literal
//   3. %-escapes that a WHATWG URL parser decodes into an IP address         ip_literal
//   4. ASCII other than letters, digits, '-' and '.' (control bytes, space,
//      % @ \ / ? # [ ] :, underscore, ...)                                   bad_request
//   5. non-ASCII: UTS #46 mapping and punycode (tr46, as WHATWG URL)         bad_request when it fails
//   6. one trailing dot dropped; a last label that is a number makes the name
//      IPv4 to a WHATWG URL parser (127.1, 0x7f000001, 0177.0.0.1, foo.123)   ip_literal
//   7. DNS rules: name <= 253, labels 1..63, letters/digits/hyphens, no hyphen
//      at either end of a label, xn-- labels valid punycode                  bad_request
// Pure ASCII names skip 2, 3 and 5, so the common case is two passes over the string.
// UTS #46 comes from the pinned tr46 package, not node:url: Node's domainToASCII answers differently
// across versions (24 and 26 accept xn--zz, which 22 refuses; 22 differs from them on labels with
// Arabic-Indic digits), and validity must not depend on that.
import { toASCII } from 'tr46';
import { parseIp } from './address.js';

export type HostCheck =
  { ok: true; host: string } | { ok: false; reason: 'bad_request' | 'ip_literal'; detail: string };

const MAX_NAME = 253;
const MAX_LABEL = 63;
// UTS #46 drops only a few ignorable code points (soft hyphen, joiners), so input this long
// cannot map to a 253-character name; refusing it early bounds the work per connection.
const MAX_INPUT = 1024;

const LAST_LABEL_NUMBER = 'the last label is a number, so URL parsers read the name as an IPv4 address';

/**
 * UTS #46 with the options WHATWG URL's "domain to ASCII" uses (not strict): bidi and joiner rules
 * on, hyphen and STD3 rules off because step 7 checks those with clearer messages. '' on failure.
 */
function toAscii(name: string): string {
  return (
    toASCII(name, {
      checkBidi: true,
      checkJoiners: true,
      checkHyphens: false,
      useSTD3ASCIIRules: false,
      transitionalProcessing: false,
    }) ?? ''
  );
}

/** WHATWG URL's percent-decode then UTF-8 decode (bad sequences become U+FFFD, which UTS #46 refuses). */
function percentDecode(raw: string): string {
  const bytes = Buffer.from(raw, 'utf8');
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const hex = bytes[i] === 37 && i + 2 < bytes.length ? bytes.toString('latin1', i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else {
      out[n++] = bytes[i]!;
    }
  }
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(out.subarray(0, n));
}

function bad(detail: string): HostCheck {
  return { ok: false, reason: 'bad_request', detail };
}

function ipLiteral(detail: string): HostCheck {
  return { ok: false, reason: 'ip_literal', detail };
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isLdh(c: number): boolean {
  return (c >= 97 && c <= 122) || isDigit(c) || c === 45;
}

/** WHATWG URL "ends in a number": the last label is all digits, or 0x followed by hex digits. */
function endsInNumber(host: string): boolean {
  const from = host.lastIndexOf('.') + 1;
  if (from === host.length) return false;
  let digits = true;
  for (let i = from; i < host.length && digits; i++) digits = isDigit(host.charCodeAt(i));
  if (digits) return true;
  if (host.charCodeAt(from) !== 48 || host.charCodeAt(from + 1) !== 120) return false;
  for (let i = from + 2; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (!isDigit(c) && !(c >= 97 && c <= 102)) return false;
  }
  return true;
}

function describe(c: number): string {
  if (c < 0x20 || c === 0x7f) return `control character 0x${c.toString(16).padStart(2, '0')} is not allowed`;
  if (c === 0x20) return 'a space is not allowed';
  if (c === 95) return 'underscore is not allowed: registry host names never contain one';
  return `"${String.fromCharCode(c)}" is not allowed: only letters, digits, hyphens and dots`;
}

/** Step 2 and 3: an IP address written so that a URL parser or resolver would still read it. */
function hiddenIp(raw: string): string | null {
  if (raw.includes(':') || raw.startsWith('[')) {
    const inner = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
    if (parseIp(inner) !== null)
      return inner.includes(':') ? 'an IPv6 address literal' : 'a bracketed IPv4 address literal';
    if (inner !== raw && isIpLiteral(inner)) return 'a bracketed IPv4 address literal';
  }
  if (raw.includes('%') && !/[/\\?#@:[\]]/.test(raw)) {
    // What a URL parser's host step sees: percent-decoded, then UTS #46. Anything else it refuses,
    // and step 4 refuses the '%'.
    const seen = toAscii(percentDecode(raw));
    const host = seen.endsWith('.') ? seen.slice(0, -1) : seen;
    if (host !== '' && endsInNumber(host)) return 'a %-encoded IP address';
  }
  return null;
}

/** Steps 6 and 7 on lower-case ASCII. */
function finish(name: string, checkPunycode: boolean): HostCheck {
  const host = name.endsWith('.') ? name.slice(0, -1) : name;
  if (host.length === 0) return bad('the host name is empty');
  if (endsInNumber(host)) return ipLiteral(LAST_LABEL_NUMBER);
  if (host.length > MAX_NAME) return bad(`the host name is longer than ${MAX_NAME} characters`);
  let start = 0;
  for (let i = 0; i <= host.length; i++) {
    const c = i === host.length ? 46 : host.charCodeAt(i);
    if (c !== 46) {
      // Only reachable after UTS #46 mapping, which turns e.g. a full-width '＿' into '_'.
      if (!isLdh(c)) return bad(describe(c));
      continue;
    }
    if (i === start) return bad('the host name has an empty label');
    if (i - start > MAX_LABEL) return bad(`a label is longer than ${MAX_LABEL} characters`);
    if (host.charCodeAt(start) === 45 || host.charCodeAt(i - 1) === 45)
      return bad('a label starts or ends with a hyphen');
    start = i + 1;
  }
  if (checkPunycode && host.includes('xn--') && toAscii(host) === '') return bad('an xn-- label is not valid punycode');
  return { ok: true, host };
}

/** The one spelling of a host name that rules are matched against, or why there is none. */
export function normalizeHost(raw: string): HostCheck {
  if (raw.length === 0) return bad('the host name is empty');
  if (raw.length > MAX_INPUT) return bad(`the host name is longer than ${MAX_INPUT} characters`);
  let firstBad = -1;
  let upper = false;
  let nonAscii = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (isLdh(c) || c === 46) continue;
    if (c >= 65 && c <= 90) upper = true;
    else if (c > 0x7f) nonAscii = true;
    else if (firstBad === -1) firstBad = i;
  }
  if (firstBad === -1 && !nonAscii) return finish(upper ? raw.toLowerCase() : raw, true);
  const hidden = hiddenIp(raw);
  if (hidden !== null) return ipLiteral(hidden);
  if (firstBad !== -1) return bad(describe(raw.charCodeAt(firstBad)));
  const ascii = toAscii(raw);
  if (ascii === '') return bad('not a valid internationalised domain name (UTS #46)');
  // finish() refuses a numeric last label (foo.１２３ maps to foo.123) as an IP literal.
  return finish(ascii, false);
}

/** True when normalizeHost refuses raw as an IP address in any spelling. */
export function isIpLiteral(raw: string): boolean {
  const check = normalizeHost(raw);
  return !check.ok && check.reason === 'ip_literal';
}
