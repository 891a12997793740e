// The words for a failed service-tag refresh: what failed (the download, reading a file, or the data
// itself was refused), what the gateway does now (keeps the data in use, or has none) and what to do.
import type { ErrorCode } from '../errors.js';

type FailureKind = 'download failed' | 'file unreadable' | 'data refused';

const DOWNLOAD: ReadonlySet<string> = new Set<ErrorCode>([
  'SERVICE_TAGS_FETCH_FAILED',
  'SERVICE_TAGS_TOO_LARGE',
  'SERVICE_TAGS_REDIRECT_REFUSED',
  'SERVICE_TAGS_LINK_NOT_FOUND',
]);

function failureKind(code: string): FailureKind {
  if (DOWNLOAD.has(code)) return 'download failed';
  if (code === 'SERVICE_TAGS_UNREADABLE') return 'file unreadable';
  return 'data refused';
}

export interface FailureWords {
  kind: FailureKind;
  /** What happened, the consequence and what to do, in one line. */
  message: string;
  /** What to do, on its own (also in message). */
  hint: string;
}

/**
 * code and message: the error's; inUse: the change number of the data in use (null: none);
 * enforce: serviceTags.enforce, which decides what "no data" means for traffic.
 */
export function describeRefreshFailure(
  code: string,
  message: string,
  inUse: number | null,
  enforce: boolean | 'when-available',
): FailureWords {
  const kind = failureKind(code);
  // "GET https://…: host name not resolved (…)": the URL is in the err field; the line keeps the cause.
  const cause = message.replace(/^(GET|HEAD) \S+: /, '');
  const now =
    inUse !== null
      ? `keeping the data in use (change ${inUse})`
      : enforce === true
        ? 'no data yet: every rule that needs service tags is BLOCKED'
        : 'no data yet: ranges are NOT enforced';
  const hint =
    kind === 'download failed'
      ? 'let this host resolve and reach the source over HTTPS (or set serviceTags.proxy), or point serviceTags.source at a downloaded ServiceTags_Public_<date>.json'
      : kind === 'file unreadable'
        ? 'check that the file exists and this user can read it'
        : 'check serviceTags.source and cloud; `acr-egress tags update --force` accepts a lower change number';
  return { kind, message: `service-tag ${kind} (${cause}); ${now}; ${hint}`, hint };
}
