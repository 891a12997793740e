// The fixed reason codes a decision can carry (docs/interface.md), and how each is answered on the wire.

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

export const REASON_CODES = Object.keys(REASONS) as Reason[];

export function isReason(value: string): value is Reason {
  return Object.hasOwn(REASONS, value);
}
