// GET /api/v1/policy (the effective rules) and POST /api/v1/check (the record a request would get,
// decided by the same policy engine as the proxy, with DNS only when asked for).
import { makeRecord } from '../audit/recorder.js';
import { chain, checkRequest, checkSni, evaluate, type Decision } from '../policy/decide.js';
import { parseIp } from '../net/address.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import { chooseDestination } from '../proxy/destination.js';
import { sendError } from './answers.js';
import type { AdminApp } from './app-types.js';
import type { AdminDeps } from './deps.js';
import { CheckBody, DecisionRecordSchema, ErrorAnswer, PolicySchema } from './schemas.js';

function describePolicy(policy: PolicySnapshot, deps: Pick<AdminDeps, 'config'>) {
  const config = deps.config().config;
  return {
    configVersion: policy.configVersion,
    mode: policy.mode,
    enforce: policy.enforceTags,
    ports: [...policy.ports],
    clients: [...config.proxy.clients],
    allowPrivate: [...config.network.allowPrivate],
    serviceTags: policy.tags === null ? null : { changeNumber: policy.tags.changeNumber, cloud: policy.tags.cloud },
    clientGroups: config.clientGroups.map((g, i) => ({
      name: g.name,
      cidrs: [...g.cidrs],
      users: [...g.users],
      rules: [...(policy.groups?.list[i]?.rules ?? [])].map((r) => r.id),
    })),
    rules: policy.rules.list.map((rule) => {
      const bound = policy.tags?.forRule(rule);
      return {
        id: rule.id,
        kind: rule.kind,
        pattern: rule.pattern,
        tags: rule.tags.map((t) =>
          t.regions && t.regions.length > 0 ? { base: t.base, regions: [...t.regions] } : { base: t.base },
        ),
        resolvedTags: bound?.tags.map((t) => t.name) ?? [],
        missingTags: [...(bound?.missing ?? [])],
      };
    }),
  };
}

interface CheckInput {
  host: string;
  port?: number;
  sni?: string | null;
  ip?: string;
  client?: string;
  user?: string;
  resolve?: boolean;
}

/** The decision and the address it was made for; DNS through `resolve` only when asked and no ip is given. */
async function decide(
  policy: PolicySnapshot,
  input: CheckInput,
  deps: AdminDeps,
): Promise<{ decision: Decision; host: string | null; ip: string | null }> {
  const port = input.port ?? 443;
  if (input.resolve !== true || input.ip !== undefined) {
    const { decision, host } = evaluate(policy, {
      client: input.client ?? null,
      user: input.user ?? null,
      host: input.host,
      port,
      sni: input.sni,
      ip: input.ip ?? null,
    });
    return { decision, host, ip: input.ip ?? null };
  }
  const req = checkRequest(policy, {
    client: input.client ?? null,
    user: input.user ?? null,
    host: input.host,
    port,
    checkClient: input.client !== undefined,
  });
  if (!req.decision.allowed || req.host === null) return { decision: req.decision, host: req.host, ip: null };
  // Like the proxy: resolve, then the first address the policy accepts (or the first refusal).
  const dest = await chooseDestination(
    policy,
    { resolve: (h) => (deps.resolve as NonNullable<AdminDeps['resolve']>)(h) },
    req.host,
    req.match,
  );
  let decision = chain(req.decision, dest.decision);
  if (decision.allowed && input.sni !== undefined)
    decision = chain(decision, checkSni(policy, req.host, input.sni, decision.rule));
  return { decision, host: req.host, ip: dest.ip };
}

export function registerPolicyRoutes(app: AdminApp, deps: AdminDeps): void {
  app.get(
    '/api/v1/policy',
    {
      schema: {
        summary:
          'The effective rules: id, pattern, service tags (selectors and the tags they select), mode, config version',
        tags: ['policy'],
        response: { 200: PolicySchema, 401: ErrorAnswer },
      },
    },
    async () => describePolicy(deps.policy(), deps),
  );

  app.post(
    '/api/v1/check',
    {
      schema: {
        summary: 'The decision record a request would get; nothing is connected, logged or counted',
        description:
          'Without ip and resolve, only the checks before DNS (and SNI when given) run. With "resolve": true the host is resolved like the proxy does.',
        tags: ['policy'],
        body: CheckBody,
        response: { 200: DecisionRecordSchema, 400: ErrorAnswer, 401: ErrorAnswer, 501: ErrorAnswer },
      },
    },
    async (req, reply) => {
      const body = req.body;
      for (const key of ['ip', 'client'] as const) {
        const value = body[key];
        if (value !== undefined && parseIp(value) === null)
          return sendError(reply, 'bad_request', `body.${key}: "${value.slice(0, 64)}" is not an IP address`);
      }
      if (body.resolve === true && body.ip === undefined && deps.resolve === undefined) {
        return sendError(reply, 'resolve_unavailable', 'this gateway offers no DNS to the admin API; give ip instead');
      }
      const { decision, host, ip } = await decide(deps.policy(), body, deps);
      const record = makeRecord({
        mode: 'check',
        client: body.client ?? null,
        user: body.user ?? null,
        host: host ?? body.host,
        port: body.port ?? 443,
        sni: body.sni ?? null,
        ip,
        decision,
      });
      // A question about the host alone: say so, rather than judge a missing client as a stranger.
      if (body.client === undefined) record.clientChecked = false;
      return record;
    },
  );
}
