// One registry of the errors acr-egress raises: every error has a code, a message and,
// where it reaches a user, an exit code. Blocks are not errors: see src/policy/reasons.ts.

const ERROR_CODES = {
  CONFIG_INVALID: { exitCode: 2, message: 'configuration is invalid' },
  CONFIG_UNREADABLE: { exitCode: 2, message: 'configuration file cannot be read' },
  USAGE: { exitCode: 2, message: 'usage error' },
  SERVICE_TAGS_INVALID: { exitCode: 1, message: 'service-tag data is invalid' },
  SERVICE_TAGS_UNREADABLE: { exitCode: 1, message: 'service-tag data cannot be read' },
  SERVICE_TAGS_FETCH_FAILED: { exitCode: 1, message: 'service-tag download failed' },
  SERVICE_TAGS_STALE_CHANGE: { exitCode: 1, message: 'service-tag change number is lower than the one in use' },
  SERVICE_TAGS_WRONG_CLOUD: { exitCode: 1, message: 'service-tag file is for another cloud' },
  SERVICE_TAGS_TAG_MISSING: { exitCode: 1, message: 'a service tag the rules need is missing or empty' },
  SERVICE_TAGS_LINK_NOT_FOUND: { exitCode: 1, message: 'no service-tag file link on the download page' },
  SERVICE_TAGS_TOO_LARGE: { exitCode: 1, message: 'service-tag download exceeds serviceTags.maxBytes' },
  SERVICE_TAGS_REDIRECT_REFUSED: { exitCode: 1, message: 'service-tag download redirect refused' },
  SERVICE_TAGS_NO_SOURCE: { exitCode: 1, message: 'no service-tag source or cache file is configured' },
  SERVICE_TAGS_CACHE_WRITE_FAILED: { exitCode: 1, message: 'service-tag cache file cannot be written' },
  LISTEN_FAILED: { exitCode: 1, message: 'cannot listen' },
  ADMIN_UNSAFE_BIND: { exitCode: 2, message: 'admin API without a token may only listen on loopback' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AcrEgressError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly details: readonly string[];

  constructor(code: ErrorCode, message?: string, options?: { details?: readonly string[]; cause?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AcrEgressError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exitCode;
    this.details = options?.details ?? [];
  }
}

export function isAcrEgressError(err: unknown, code?: ErrorCode): err is AcrEgressError {
  return err instanceof AcrEgressError && (code === undefined || err.code === code);
}
