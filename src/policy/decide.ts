// The policy engine: pure functions from a compiled snapshot and request values to a decision.
//
// Checks run in this order, and the first failing check names the reason:
//   1. client address in proxy.clients                       client_not_allowed
//   2. client (address, user) matches a clientGroups entry   client_not_allowed (only when groups exist;
//      the first matching group in config order is the client's group)
//   3. host is a valid DNS name / not an IP literal          bad_request / ip_literal
//   4. port in proxy.ports                                   port_not_allowed
//   5. host matches a rule, or (blobStorage: learned) a
//      storage host a registry redirected this client to      host_not_allowed
//   6. the client's group may use that rule                  client_not_allowed (detail names the group)
//   (a dry run that names no client, `checkClient: false`, skips 1, and 2 and 6 unless it names a user;
//   the proxy always has a client)
//   -- the proxy resolves the host; for each address --
//   7. address not private/reserved (unless allowPrivate)    private_destination
//   8. address inside the rule's service-tag ranges          ip_not_in_service_tag / service_tags_unavailable
//   -- the proxy reads the TLS ClientHello --
//   9. SNI present and equal to the host                     sni_missing / sni_mismatch
// In report mode, a failing policy check is recorded with its reason and let through; failures
// that leave nothing to let through (bad_request, dns_failure, upstream_unreachable, ...) still block.
import { classifyAddress, parseIp, ADDRESS_CLASSES, type ParsedIp } from '../net/address.js';
import { normalizeHost } from '../net/host.js';
import type { ClientGroupPolicy } from './groups.js';
import type { Reason } from './reasons.js';
import type { HostMatch } from './rules.js';
import type { PolicySnapshot } from './snapshot.js';

export interface Decision {
  readonly allowed: boolean;
  /** The block reason; for an allowed decision in report mode, the reason it would have been blocked for. */
  readonly reason: Reason | null;
  /** True when allowed only because mode is report. */
  readonly report: boolean;
  readonly rule: string | null;
  readonly tag: string | null;
  readonly detail?: string;
  /** Allowed without a tag check because enforce is when-available and no tags are loaded. */
  readonly tagsUnenforced?: boolean;
}

/** Reasons that report mode may let through: a would-be block with a destination still to go to. */
const REPORTABLE: ReadonlySet<Reason> = new Set<Reason>([
  'client_not_allowed',
  'port_not_allowed',
  'ip_literal',
  'host_not_allowed',
  'sni_missing',
  'sni_mismatch',
  'not_tls',
  'client_hello_timeout',
  'private_destination',
  'ip_not_in_service_tag',
  'service_tags_unavailable',
  'push_not_allowed',
  'repository_not_allowed',
  'request_not_allowed',
]);

/** Every decision has the same seven fields, so the engine's objects keep one shape on the hot path. */
function decision(
  allowed: boolean,
  reason: Reason | null,
  report: boolean,
  rule: string | null,
  tag: string | null,
  detail: string | undefined,
  tagsUnenforced: boolean | undefined,
): Decision {
  return { allowed, reason, report, rule, tag, detail, tagsUnenforced };
}

const ALLOW_NO_RULE: Decision = Object.freeze(decision(true, null, false, null, null, undefined, undefined));

export function allow(rule: string | null, tag: string | null = null): Decision {
  return rule === null && tag === null ? ALLOW_NO_RULE : decision(true, null, false, rule, tag, undefined, undefined);
}

/** A block, or in report mode (for reportable reasons) an allow that remembers why it would block. */
export function block(
  policy: Pick<PolicySnapshot, 'mode'>,
  reason: Reason,
  detail: string,
  rule: string | null = null,
): Decision {
  const soften = policy.mode === 'report' && REPORTABLE.has(reason);
  return decision(soften, reason, soften, rule, null, detail, undefined);
}

/** A hard block that report mode does not soften. */
export function refuse(reason: Reason, detail: string, rule: string | null = null): Decision {
  return decision(false, reason, false, rule, null, detail, undefined);
}

/** Chains a later stage onto an earlier one: a block wins; otherwise what each stage found is kept. */
export function chain(earlier: Decision, later: Decision): Decision {
  if (!earlier.allowed) return earlier;
  const rule = later.rule ?? earlier.rule;
  if (!later.allowed)
    return rule === later.rule ? later : decision(false, later.reason, false, rule, null, later.detail, undefined);
  // The common case: a plain allow followed by a finding; nothing of the earlier one to carry.
  if (earlier === ALLOW_NO_RULE) return later;
  const report = earlier.report || later.report;
  return decision(
    true,
    earlier.report ? earlier.reason : later.reason,
    report,
    rule,
    later.tag ?? earlier.tag,
    earlier.report ? earlier.detail : (later.detail ?? earlier.detail),
    earlier.tagsUnenforced || later.tagsUnenforced ? true : undefined,
  );
}

/** Storage hosts learned from registry redirects, per client: a value the gateway owns and passes in. */
export interface LearnedLookup {
  /** The registry that redirected `client` to `host` and has not expired; null: none. */
  registryFor(client: string | null, host: string): string | null;
}

export interface RequestCheck {
  readonly decision: Decision;
  /** The normalised host, when it was a valid name. */
  readonly host: string | null;
  readonly match: HostMatch | null;
}

/** Who is asking: `client ${address}`, with the user when there is one. */
function who(client: string | null, user: string | null): string {
  return `client ${client ?? 'unknown'}${user === null ? '' : ` (user ${user})`}`;
}

/** Stages 1-6: everything that can be decided before DNS. */
export function checkRequest(
  policy: PolicySnapshot,
  req: { client: string | null; user?: string | null; host: string; port: number; checkClient?: boolean },
  learned: LearnedLookup | null = null,
): RequestCheck {
  let decision = allow(null);
  const checkClient = req.checkClient !== false;
  if (checkClient && policy.clients !== null) {
    const ip = req.client === null ? null : parseIp(req.client);
    if (ip === null || !policy.clients.contains(ip)) {
      decision = block(policy, 'client_not_allowed', `client ${req.client ?? 'unknown'} is not in proxy.clients`);
      if (!decision.allowed) return { decision, host: null, match: null };
    }
  }
  let group: ClientGroupPolicy | null = null;
  if ((checkClient || req.user != null) && policy.groups !== null) {
    group = policy.groups.groupFor(req.client, req.user ?? null);
    if (group === null) {
      const d = block(policy, 'client_not_allowed', `${who(req.client, req.user ?? null)} matches no client group`);
      decision = chain(decision, d);
      if (!decision.allowed) return { decision, host: null, match: null };
    }
  }
  const norm = normalizeHost(req.host);
  if (!norm.ok) {
    const d =
      norm.reason === 'ip_literal' ? block(policy, 'ip_literal', norm.detail) : refuse('bad_request', norm.detail);
    return { decision: chain(decision, d), host: null, match: null };
  }
  const host = norm.host;
  if (!policy.ports.has(req.port)) {
    decision = chain(decision, block(policy, 'port_not_allowed', `port ${req.port} is not in proxy.ports`));
    if (!decision.allowed) return { decision, host, match: null };
  }
  const match = policy.rules.match(host);
  if (match === null) {
    let detail = `no rule allows ${host}`;
    if (policy.rules.learns) {
      const registry = learned?.registryFor(req.client, host) ?? null;
      const rule = registry === null ? null : policy.rules.learnedRule(registry, host);
      if (rule !== null) {
        const learnedMatch = { rule, id: rule.id };
        if (group !== null && !group.rules.has(rule)) {
          const d = block(policy, 'client_not_allowed', `group ${group.name} may not use ${rule.id}`, rule.id);
          return { decision: chain(decision, d), host, match: learnedMatch };
        }
        return { decision: chain(decision, allow(rule.id)), host, match: learnedMatch };
      }
      if (policy.rules.isStorageHost(host))
        detail += `; no registry redirected client ${req.client ?? 'unknown'} there`;
    }
    return {
      decision: chain(decision, block(policy, 'host_not_allowed', detail)),
      host,
      match: null,
    };
  }
  if (group !== null && !group.rules.has(match.rule)) {
    const d = block(policy, 'client_not_allowed', `group ${group.name} may not use ${match.id}`, match.id);
    return { decision: chain(decision, d), host, match };
  }
  return { decision: chain(decision, allow(match.id)), host, match };
}

/** Stages 5-6 for one resolved address. `ip` must be an IP address string. */
export function checkAddress(policy: PolicySnapshot, match: HostMatch | null, ip: string): Decision {
  const rule = match?.id ?? null;
  const parsed = parseIp(ip);
  if (parsed === null) return refuse('bad_request', `"${ip}" is not an IP address`, rule);
  const cls = classifyAddress(parsed);
  if (cls !== 'public' && !policy.allowPrivate.contains(parsed)) {
    return block(policy, 'private_destination', `${parsed.address} is ${ADDRESS_CLASSES[cls].text} (${cls})`, rule);
  }
  return checkTags(policy, match, parsed);
}

function checkTags(policy: PolicySnapshot, match: HostMatch | null, ip: ParsedIp): Decision {
  const rule = match?.id ?? null;
  if (policy.enforceTags === false || match === null || match.rule.tags.length === 0) return allow(rule);
  const binding = policy.tags;
  if (binding === null) {
    if (policy.enforceTags === 'when-available')
      return decision(true, null, false, rule, null, 'no service-tag data loaded; enforce is when-available', true);
    return block(
      policy,
      'service_tags_unavailable',
      'serviceTags.enforce is on and no service-tag data is loaded',
      rule,
    );
  }
  const bound = binding.forRule(match.rule);
  for (const t of bound.tags) {
    if (t.ranges.has(ip.address)) return allow(rule, t.name);
  }
  // The data lacks a tag this rule needs: only this rule degrades (blocked, or unchecked with
  // when-available); every other rule keeps checking its ranges.
  if (bound.missing.length > 0) {
    const lacks = `service-tag data (change ${binding.changeNumber}) has no ${bound.missing.join(', ')}`;
    if (policy.enforceTags === 'when-available')
      return decision(true, null, false, rule, null, `${lacks}; enforce is when-available`, true);
    return block(policy, 'service_tags_unavailable', `${lacks}, which rule ${rule} needs`, rule);
  }
  const names = bound.tags.map((t) => t.name);
  return block(
    policy,
    'ip_not_in_service_tag',
    `${ip.address} is in none of [${names.join(', ')}] (change ${binding.changeNumber})`,
    rule,
  );
}

/** Stage 7: the ClientHello's SNI against the CONNECT host (already normalised). */
export function checkSni(
  policy: PolicySnapshot,
  host: string,
  sni: string | null,
  rule: string | null,
  hasEch = false,
): Decision {
  if (sni === null || sni === '') return block(policy, 'sni_missing', 'the ClientHello has no server_name', rule);
  // With ECH the SNI seen here is only the outer name; the server name actually requested is encrypted.
  if (hasEch && !policy.allowEch)
    return block(
      policy,
      'sni_mismatch',
      'the ClientHello uses Encrypted Client Hello: the real server name cannot be checked',
      rule,
    );
  const norm = normalizeHost(sni);
  if (!norm.ok || norm.host !== host)
    return block(policy, 'sni_mismatch', `SNI "${sni}" is not the CONNECT host ${host}`, rule);
  return allow(rule);
}

export interface EvaluateInput {
  /** No client (undefined or null): a question about the host alone; the client checks do not run. */
  client?: string | null;
  user?: string | null;
  host: string;
  port?: number;
  sni?: string | null;
  ip?: string | null;
}

/** All stages for one request given as values (the `check` command and the admin dry-run). */
export function evaluate(policy: PolicySnapshot, input: EvaluateInput): { decision: Decision; host: string | null } {
  const client = input.client ?? null;
  const req = checkRequest(policy, {
    client,
    user: input.user ?? null,
    host: input.host,
    port: input.port ?? 443,
    checkClient: client !== null,
  });
  let decision = req.decision;
  if (!decision.allowed || req.host === null) return { decision, host: req.host };
  if (input.ip !== undefined && input.ip !== null) {
    decision = chain(decision, checkAddress(policy, req.match, input.ip));
    if (!decision.allowed) return { decision, host: req.host };
  }
  if (input.sni !== undefined) decision = chain(decision, checkSni(policy, req.host, input.sni, decision.rule));
  return { decision, host: req.host };
}
