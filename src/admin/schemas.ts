// TypeBox schemas of the admin API: Fastify validates requests with them (a bad parameter gets a 400
// naming it), serialises answers with them, and @fastify/swagger turns them into the OpenAPI document.
import { Type, type TSchema } from '@sinclair/typebox';
import { REASON_CODES, type Reason } from '../policy/reasons.js';

/** A string enum as plain JSON Schema `enum`, so a bad value reads "must be one of ..." and not an anyOf. */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string; default?: T[number] } = {},
) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ErrorAnswer = Type.Object(
  {
    error: Type.String({ description: 'a stable code: bad_request, unauthorized, not_found, config_invalid, ...' }),
    message: Type.String(),
    problems: Type.Optional(Type.Array(Type.String())),
  },
  { description: 'every error answer' },
);

export const DecisionRecordSchema = Type.Object(
  {
    time: Type.String({ description: 'ISO time the request arrived' }),
    id: Type.String({ description: 'ULID; ascends with the order records were written' }),
    mode: StringEnum(['connect', 'transparent', 'http', 'check'] as const),
    client: Nullable(Type.String()),
    user: Type.Optional(Nullable(Type.String({ description: 'the proxy user; null without proxy authentication' }))),
    host: Nullable(Type.String()),
    port: Nullable(Type.Integer()),
    sni: Nullable(Type.String()),
    ip: Nullable(Type.String()),
    decision: StringEnum(['allowed', 'blocked'] as const),
    reason: Nullable(StringEnum(REASON_CODES as readonly Reason[])),
    rule: Nullable(Type.String()),
    tag: Nullable(Type.String()),
    report: Type.Optional(Type.Literal(true)),
    tagsUnenforced: Type.Optional(Type.Literal(true)),
    clientChecked: Type.Optional(
      Type.Literal(false, { description: 'check records that named no client: proxy.clients and groups not applied' }),
    ),
    detail: Type.Optional(Type.String()),
    bytesUp: Nullable(Type.Integer()),
    bytesDown: Nullable(Type.Integer()),
    durationMs: Nullable(Type.Integer()),
    instance: Type.Optional(Type.String({ description: 'the replica that made the record' })),
    kind: Type.Optional(Type.String({ description: 'decision (default) or request (an inspected request)' })),
    via: Type.Optional(Type.String()),
    tunnel: Type.Optional(Type.String({ description: 'request records: the decision id of their tunnel' })),
    method: Type.Optional(Type.String()),
    path: Type.Optional(Type.String()),
    repository: Type.Optional(Nullable(Type.String())),
    reference: Type.Optional(Nullable(Type.String())),
    digest: Type.Optional(Nullable(Type.String())),
    status: Type.Optional(Nullable(Type.Integer())),
    cache: Type.Optional(
      Type.Union([Type.Literal('hit'), Type.Literal('miss'), Type.Literal('bypass')], {
        description: 'request records of a registry with cache: true',
      }),
    ),
  },
  { description: 'a decision record, or with kind "request" an inspected request' },
);

const time = (what: string) =>
  Type.String({
    minLength: 1,
    maxLength: 64,
    description: `${what}: an ISO time (2026-11-28T21:00:00Z) or a duration back from now (15m, 2h, 7d)`,
  });

/** Filters shared by logs, logs.ndjson, logs/stream and stats. */
export const filterProperties = {
  decision: Type.Optional(StringEnum(['allowed', 'blocked'] as const)),
  reason: Type.Optional(StringEnum(REASON_CODES as readonly Reason[], { description: 'a reason code' })),
  host: Type.Optional(
    Type.String({ minLength: 1, maxLength: 300, description: 'exact host, or *.suffix for any name under suffix' }),
  ),
  client: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'client address or CIDR' })),
  rule: Type.Optional(
    Type.String({ minLength: 1, maxLength: 300, description: 'rule id, e.g. registry:myregistry:login' }),
  ),
  mode: Type.Optional(StringEnum(['connect', 'transparent', 'http'] as const)),
  since: Type.Optional(time('records that arrived at or after this')),
  until: Type.Optional(time('records that arrived at or before this')),
  kind: Type.Optional(StringEnum(['decision', 'request'] as const)),
  repository: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'request records' })),
  digest: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'request records' })),
  user: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'proxy user' })),
  instance: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'replica name' })),
};

const CURSOR_PATTERN = '^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$';
const cursor = Type.Optional(Type.String({ pattern: CURSOR_PATTERN, description: 'nextCursor of the previous page' }));

export const LogsQuery = Type.Object(
  { ...filterProperties, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })), cursor },
  { additionalProperties: false },
);

export const ExportQuery = Type.Object(
  {
    ...filterProperties,
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'default: every matching record' })),
    cursor,
  },
  { additionalProperties: false },
);

export const StreamQuery = Type.Object(filterProperties, { additionalProperties: false });

const Count0 = Type.Integer({ minimum: 0 });

const GapSchema = Type.Object(
  {
    from: Type.String(),
    to: Type.String(),
    dropped: Count0,
    instance: Type.Optional(Type.String()),
  },
  { description: 'records the store never got (queue bound exceeded); the audit log has them' },
);

export const LogPageSchema = Type.Object({
  items: Type.Array(DecisionRecordSchema),
  nextCursor: Nullable(Type.String({ description: 'pass as cursor for older records; null on the last page' })),
  gaps: Type.Optional(Type.Array(GapSchema, { description: 'periods this answer may be missing records from' })),
});

export const StoreStateSchema = Type.Object({
  backend: StringEnum(['memory', 'embedded', 'postgres'] as const),
  instance: Type.String(),
  healthy: Type.Boolean({ description: 'false while writes fail (records queue)' }),
  queued: Count0,
  written: Count0,
  dropped: Count0,
  queueMax: Count0,
  flushMs: Count0,
  retentionDays: Count0,
  lastError: Nullable(Type.String()),
  lastErrorAt: Nullable(Type.String()),
  lastWriteAt: Nullable(Type.String()),
  oldest: Nullable(Type.String()),
  newest: Nullable(Type.String()),
  records: Nullable(Type.Integer({ description: 'approximate for SQL back ends (planner estimate)' })),
  gaps: Type.Array(GapSchema),
});

export const PullsQuery = Type.Object(
  {
    ...filterProperties,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const PullsSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      repository: Nullable(Type.String()),
      reference: Nullable(Type.String()),
      digest: Nullable(Type.String()),
      client: Nullable(Type.String()),
      first: Type.String(),
      last: Type.String(),
      count: Count0,
    }),
  ),
});

export const StatsQuery = Type.Object(
  {
    ...filterProperties,
    top: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
    bucket: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,6}(m|h|d)$', description: 'add per-bucket counts, e.g. 5m, 1h, 1d' }),
    ),
  },
  { additionalProperties: false },
);

const Count = Type.Integer({ minimum: 0 });
export const StatsSchema = Type.Object({
  since: Nullable(Type.String()),
  until: Type.String(),
  records: Count,
  decisions: Type.Object({ allowed: Count, blocked: Count }),
  reportOnly: Type.Integer({ description: 'allowed only because mode is report' }),
  reasons: Type.Record(Type.String(), Count, {
    description: 'reason code -> records (blocked, and would-block in report mode)',
  }),
  bytes: Type.Object({ up: Count, down: Count }),
  topBlockedHosts: Type.Array(
    Type.Object({ host: Type.String(), count: Count, reasons: Type.Record(Type.String(), Count) }),
  ),
  topAllowedHosts: Type.Array(
    Type.Object({ host: Type.String(), count: Count, bytes: Count, bytesUp: Count, bytesDown: Count }),
  ),
  topClients: Type.Array(Type.Object({ client: Type.String(), count: Count, blocked: Count, bytes: Count })),
  buckets: Type.Optional(
    Type.Array(
      Type.Object({
        start: Type.String(),
        records: Count,
        allowed: Count,
        blocked: Count,
        reasons: Type.Record(Type.String(), Count),
        hosts: Type.Record(Type.String(), Count),
        clients: Type.Record(Type.String(), Count),
        rules: Type.Record(Type.String(), Count),
        instances: Type.Record(Type.String(), Count),
      }),
      { description: 'with bucket=: counts per bucket, oldest first; each dimension cut to its top values' },
    ),
  ),
  gaps: Type.Optional(Type.Array(GapSchema)),
});

export const PolicySchema = Type.Object({
  configVersion: Type.String(),
  mode: StringEnum(['enforce', 'report'] as const),
  enforce: Type.Union([Type.Boolean(), Type.Literal('when-available')], { description: 'serviceTags.enforce' }),
  ports: Type.Array(Type.Integer()),
  clients: Type.Array(Type.String(), { description: 'proxy.clients; empty: anyone who can reach the proxy' }),
  allowPrivate: Type.Array(Type.String()),
  serviceTags: Nullable(Type.Object({ changeNumber: Type.Integer(), cloud: Type.String() })),
  clientGroups: Type.Array(
    Type.Object({
      name: Type.String(),
      cidrs: Type.Array(Type.String()),
      users: Type.Array(Type.String()),
      rules: Type.Array(Type.String(), { description: 'ids of the rules the group may use' }),
    }),
    { description: 'clientGroups in order (the first that matches a client applies); empty: no groups' },
  ),
  rules: Type.Array(
    Type.Object({
      id: Type.String(),
      kind: Type.String(),
      pattern: Type.String(),
      tags: Type.Array(Type.Object({ base: Type.String(), regions: Type.Optional(Type.Array(Type.String())) }), {
        description: 'service-tag selectors the rule needs',
      }),
      resolvedTags: Type.Array(Type.String(), { description: 'tag names those selectors select in the loaded data' }),
      missingTags: Type.Array(Type.String(), { description: 'selectors that select nothing in the loaded data' }),
    }),
  ),
});

export const CheckBody = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 300 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 443 })),
    sni: Type.Optional(
      Nullable(Type.String({ maxLength: 300, description: 'the ClientHello server name; null: none sent' })),
    ),
    ip: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'destination address to check' })),
    client: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'client address' })),
    user: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'proxy user, for client groups that match by user' }),
    ),
    resolve: Type.Optional(Type.Boolean({ description: 'without ip: resolve the host and check its addresses' })),
  },
  { additionalProperties: false },
);

export const TagsStatusSchema = Type.Object({
  changeNumber: Nullable(Type.Integer()),
  cloud: Nullable(Type.String()),
  source: Nullable(Type.String()),
  loadedAt: Nullable(Type.String()),
  publishedAt: Nullable(Type.String()),
  ageFrom: Nullable(Type.String()),
  lastSuccessAt: Nullable(Type.String()),
  nextRefreshAt: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
  lastErrorAt: Nullable(Type.String()),
  stale: Type.Boolean(),
  ageSeconds: Nullable(Type.Integer()),
  tags: Type.Record(Type.String(), Type.Integer(), { description: 'prefix count per tag the rules use' }),
  missing: Type.Array(Type.Object({ rule: Type.String(), tag: Type.String() }), {
    description: 'tags a rule needs that the data lacks: that rule is blocked (unchecked with when-available)',
  }),
  failures: Type.Integer(),
  consecutiveFailures: Type.Integer(),
});

export const LookupQuery = Type.Object(
  { ip: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const LookupSchema = Type.Object({
  ip: Type.String(),
  changeNumber: Nullable(Type.Integer()),
  tags: Type.Array(Type.String()),
});

export const ReloadSchema = Type.Object({ ok: Type.Literal(true), version: Type.String(), changed: Type.Boolean() });

export const ReadySchema = Type.Object({ status: Type.String(), reasons: Type.Array(Type.String()) });
