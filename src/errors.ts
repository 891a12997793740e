// The one registry of what acr-egress answers when something is refused or fails, like fastify's
// lib/errors.js: exit codes, the errors it raises, the reason codes of blocks (with their HTTP
// status and registry error code), the admin API's error codes and the status lines. Everything
// else derives its answer from here; test/unit/errors.test.ts keeps it and the docs in step.

/** Process exit codes: 0 done, 1 a failure at run time, 2 the input (config, usage) is wrong. */
export const EXIT = { ok: 0, failure: 1, badInput: 2 } as const;

/** Errors raised (exceptions are for I/O failures and bugs; blocks are reasons, below). */
export const ERROR_CODES = {
  CONFIG_INVALID: { exitCode: EXIT.badInput, message: 'configuration is invalid' },
  CONFIG_UNREADABLE: { exitCode: EXIT.badInput, message: 'configuration file cannot be read' },
  USAGE: { exitCode: EXIT.badInput, message: 'usage error' },
  SERVICE_TAGS_INVALID: { exitCode: EXIT.failure, message: 'service-tag data is invalid' },
  SERVICE_TAGS_UNREADABLE: { exitCode: EXIT.failure, message: 'service-tag data cannot be read' },
  SERVICE_TAGS_FETCH_FAILED: { exitCode: EXIT.failure, message: 'service-tag download failed' },
  SERVICE_TAGS_STALE_CHANGE: {
    exitCode: EXIT.failure,
    message: 'service-tag change number is lower than the one in use',
  },
  SERVICE_TAGS_WRONG_CLOUD: { exitCode: EXIT.failure, message: 'service-tag file is for another cloud' },
  SERVICE_TAGS_TAG_MISSING: { exitCode: EXIT.failure, message: 'a service tag the rules need is missing or empty' },
  SERVICE_TAGS_LINK_NOT_FOUND: { exitCode: EXIT.failure, message: 'no service-tag file link on the download page' },
  SERVICE_TAGS_TOO_LARGE: { exitCode: EXIT.failure, message: 'service-tag download exceeds serviceTags.maxBytes' },
  SERVICE_TAGS_REDIRECT_REFUSED: { exitCode: EXIT.failure, message: 'service-tag download redirect refused' },
  SERVICE_TAGS_NO_SOURCE: { exitCode: EXIT.failure, message: 'no service-tag source or cache file is configured' },
  SERVICE_TAGS_CACHE_WRITE_FAILED: { exitCode: EXIT.failure, message: 'service-tag cache file cannot be written' },
  LISTEN_FAILED: { exitCode: EXIT.failure, message: 'cannot listen' },
  ADMIN_UNSAFE_BIND: { exitCode: EXIT.badInput, message: 'admin API without a token may only listen on loopback' },
  USER_NOT_FOUND: { exitCode: EXIT.failure, message: 'no such user in the users file' },
  STORE_UNAVAILABLE: { exitCode: EXIT.failure, message: 'the decision store cannot be opened' },
  CACHE_FILL_FAILED: { exitCode: EXIT.failure, message: 'a layer fill was discarded' },
  LOCATION_REFUSED: { exitCode: EXIT.failure, message: 'the redirect cannot be followed' },
  CACHE_UNAVAILABLE: { exitCode: EXIT.failure, message: 'the layer cache folder cannot be opened' },
  /** A check the loader made failed later (a file changed in between) or a value that cannot occur did. */
  INTERNAL: { exitCode: EXIT.failure, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The status lines the gateway writes itself (refusals and the CONNECT answer). */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'Connection Established',
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The fixed reason codes a decision can carry (docs/interface.md), and how each is answered on the wire. */
export const REASONS = {
  bad_request: { status: 400, text: 'the request or host name is malformed' },
  client_not_allowed: {
    status: 403,
    text: 'the client is not in proxy.clients, or its client group may not use this host',
  },
  port_not_allowed: { status: 403, text: 'the destination port is not in proxy.ports' },
  ip_literal: { status: 403, text: 'destinations must be host names, not IP addresses' },
  host_not_allowed: { status: 403, text: 'no rule allows this host' },
  sni_missing: { status: 403, text: 'the TLS ClientHello carries no server name' },
  sni_mismatch: { status: 403, text: 'the TLS server name differs from the CONNECT host' },
  not_tls: { status: 403, text: 'the tunnel did not start with a TLS ClientHello' },
  client_hello_timeout: { status: 403, text: 'no complete TLS ClientHello arrived in time' },
  dns_failure: { status: 502, text: 'the host name could not be resolved' },
  private_destination: { status: 403, text: 'the host resolves to a private or reserved address' },
  ip_not_in_service_tag: { status: 403, text: "the address is outside the rule's Azure service-tag ranges" },
  service_tags_unavailable: {
    status: 403,
    text: "service-tag enforcement is on and no service-tag data is loaded, or the data lacks this rule's tag",
  },
  upstream_unreachable: { status: 502, text: 'the destination could not be reached' },
  audit_unavailable: { status: 503, text: 'the audit log cannot be written and log.failClosed is true' },
  too_many_connections: { status: 503, text: 'the gateway or this client is at its connection limit' },
  plain_http_not_allowed: { status: 403, text: 'plain http:// requests are off (proxy.allowPlainHttp)' },
  rate_limited: { status: 429, text: 'this client opens tunnels faster than proxy.limits.perClientRate' },
  proxy_auth_required: { status: 407, text: 'valid Proxy-Authorization credentials are required' },
  // Inside an inspected tunnel (docs/inspection.md): answered in the registry's own error shape.
  push_not_allowed: { status: 403, text: 'the registry is pullOnly: uploads, manifest PUT and DELETE are refused' },
  repository_not_allowed: { status: 403, text: "the repository is not in the registry's repositories list" },
  request_not_allowed: { status: 403, text: 'the registry API request is not one the inspection rules know' },
  upstream_tls_error: { status: 502, text: "the registry's certificate or host name could not be verified" },
} as const;

export type Reason = keyof typeof REASONS;

/** The OCI distribution error code a refusal inside an inspected tunnel carries. */
export function registryErrorCode(reason: Reason): 'DENIED' | 'UNAVAILABLE' {
  return REASONS[reason].status === 403 ? 'DENIED' : 'UNAVAILABLE';
}

/** The admin API's error codes (`{"error": code, "message": ...}`) and their statuses. */
export const ADMIN_ERRORS = {
  bad_request: 400,
  config_invalid: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  resolve_unavailable: 501,
  unavailable: 503,
} as const;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

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
