// The one config schema: TypeBox gives both the runtime check (through Ajv) and the TypeScript type.
import { Type, type Static } from '@sinclair/typebox';

const HostPort = Type.String({
  pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
  description: 'address:port, e.g. 0.0.0.0:3128 or [::]:3128',
  explain: 'is not address:port, e.g. 0.0.0.0:3128 or [::]:3128',
});

const Cidr = Type.String({ minLength: 1, description: 'an address or CIDR, e.g. 10.0.0.0/8' });

/** ACR registry names: 5-50 alphanumerics, matched case-insensitively. */
const REGISTRY_NAME_PATTERN = '^[A-Za-z0-9]{5,50}$';
const Region = Type.String({
  pattern: '^[A-Za-z0-9]{2,40}$',
  description: 'Azure region name, e.g. eastus',
  explain: 'is not an Azure region name: letters and digits, e.g. westeurope',
});

/** true: *.blob.<cloud suffix>; learned: only storage hosts an inspected registry redirected a client to. */
const BlobStorage = Type.Union([Type.Boolean(), Type.Literal('learned')]);

/** Per-registry inspection keys (TLS inspection of the registry's own API; see docs/inspection.md). */
const InspectKeys = {
  inspect: Type.Optional(Type.Boolean()),
  pullOnly: Type.Optional(Type.Boolean()),
  repositories: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1 })),
  /** Serve layers from cache.dir after the registry authorizes each request (docs/cache.md); needs inspect. */
  cache: Type.Optional(Type.Boolean()),
};

/** mcr: true | false, or the object form that also inspects (and caches) MCR's anonymous pulls. */
const McrSchema = Type.Union([Type.Boolean(), Type.Object(InspectKeys, { additionalProperties: false })], {
  default: true,
});

export const RegistryByName = Type.Object(
  {
    name: Type.String({ pattern: REGISTRY_NAME_PATTERN, explain: 'is not a valid ACR name: 5-50 letters and digits' }),
    regions: Type.Optional(Type.Array(Region, { uniqueItems: true })),
    dataEndpoints: Type.Optional(Type.Boolean()),
    regionalEndpoints: Type.Optional(Type.Boolean()),
    blobStorage: Type.Optional(BlobStorage),
    ...InspectKeys,
  },
  { additionalProperties: false },
);

const EndpointEntry = Type.Object(
  { region: Region, endpoint: Type.String({ minLength: 1 }) },
  { additionalProperties: true },
);

/** The JSON `az acr show-endpoints` prints, given inline. */
export const RegistryFromEndpoints = Type.Object(
  {
    loginServer: Type.String({ minLength: 1 }),
    dataEndpoints: Type.Optional(Type.Array(EndpointEntry)),
    regionalEndpoints: Type.Optional(Type.Array(EndpointEntry)),
    blobStorage: Type.Optional(BlobStorage),
    ...InspectKeys,
  },
  { additionalProperties: true },
);

/** A path to a file holding `az acr show-endpoints` output. */
export const RegistryFromFile = Type.Object(
  { endpointsFile: Type.String({ minLength: 1 }), blobStorage: Type.Optional(BlobStorage), ...InspectKeys },
  { additionalProperties: false },
);

const RegistryEntry = Type.Union([RegistryByName, RegistryFromEndpoints, RegistryFromFile]);

/** A client group: who (by address and/or proxy user) may use which of the configured rules. */
const ClientGroupSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
      description: 'shown in refusals',
      explain: 'is not a group name: up to 64 letters, digits, _ . -, starting with a letter or digit',
    }),
    cidrs: Type.Array(Cidr, { default: [] }),
    users: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { default: [], uniqueItems: true }),
    registries: Type.Array(Type.String({ minLength: 1 }), { default: [], uniqueItems: true }),
    mcr: Type.Boolean({ default: false }),
    allow: Type.Array(Type.String({ minLength: 1 }), { default: [], uniqueItems: true }),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    proxy: Type.Object(
      {
        listen: Type.String({ ...HostPort, default: '0.0.0.0:3128' }),
        transparentListen: Type.Union([HostPort, Type.Null()], { default: null }),
        transparentUpstreamPort: Type.Integer({
          minimum: 1,
          maximum: 65535,
          default: 443,
          description:
            'destination port for connections on transparentListen (the original port is not visible after a redirect)',
        }),
        ports: Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
          minItems: 1,
          uniqueItems: true,
          default: [443],
        }),
        clients: Type.Array(Cidr, { default: [] }),
        connectTimeoutMs: Type.Integer({ minimum: 1, maximum: 600_000, default: 10_000 }),
        clientHelloTimeoutMs: Type.Integer({ minimum: 1, maximum: 600_000, default: 10_000 }),
        idleTimeoutMs: Type.Integer({ minimum: 1, maximum: 86_400_000, default: 300_000 }),
        maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20_000 }),
        drainTimeoutMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000 }),
        maxClientHelloBytes: Type.Integer({ minimum: 512, maximum: 1_048_576, default: 65_536 }),
        parent: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description:
            'parent proxy (http://host:port) that allowed tunnels are handed to with CONNECT; it resolves the names, so the address checks do not apply',
        }),
        parentCredentialsFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: 'file holding user:password for the parent proxy (sent as Proxy-Authorization: Basic)',
        }),
        allowEch: Type.Boolean({
          default: false,
          description:
            'let ClientHellos with Encrypted Client Hello through (their inner server name cannot be checked)',
        }),
        allowPlainHttp: Type.Boolean({
          default: false,
          description: 'forward absolute-form http:// requests (plain_http_not_allowed otherwise)',
        }),
        maxHeaderBytes: Type.Integer({ minimum: 256, maximum: 1_048_576, default: 16_384 }),
        headersTimeoutMs: Type.Integer({ minimum: 1, maximum: 600_000, default: 10_000 }),
        proxyProtocol: Type.Object(
          { trusted: Type.Array(Cidr, { default: [] }) },
          { additionalProperties: false, default: {} },
        ),
        auth: Type.Object(
          { usersFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }) },
          { additionalProperties: false, default: {} },
        ),
        limits: Type.Object(
          {
            perClientConnections: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
            perClientRate: Type.Number({ minimum: 0, maximum: 1_000_000, default: 0 }),
            maxTunnelSeconds: Type.Integer({ minimum: 0, maximum: 31_536_000, default: 0 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    cloud: Type.Union(
      [Type.Literal('AzureCloud'), Type.Literal('AzureUSGovernment'), Type.Literal('AzureChinaCloud')],
      {
        default: 'AzureCloud',
      },
    ),
    registries: Type.Array(RegistryEntry, { default: [] }),
    mcr: McrSchema,
    allow: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    clientGroups: Type.Array(ClientGroupSchema, { default: [] }),
    mode: Type.Union([Type.Literal('enforce'), Type.Literal('report')], { default: 'enforce' }),
    serviceTags: Type.Object(
      {
        enforce: Type.Union([Type.Literal(true), Type.Literal(false), Type.Literal('when-available')], {
          default: true,
        }),
        source: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: 'https://www.microsoft.com/en-us/download/details.aspx?id=56519',
        }),
        refreshHours: Type.Number({ exclusiveMinimum: 0, maximum: 8760, default: 24 }),
        maxAgeDays: Type.Number({ exclusiveMinimum: 0, maximum: 3650, default: 30 }),
        cacheFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: './data/service-tags.json' }),
        fetchTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 60_000 }),
        maxBytes: Type.Integer({ minimum: 1024, maximum: 1_073_741_824, default: 64 * 1024 * 1024 }),
        proxy: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description:
            "forward proxy (http://host:port) for the service-tag download only; null = HTTPS_PROXY/NO_PROXY of the gateway's environment, if set",
        }),
        enforceWithParent: Type.Union([Type.Boolean(), Type.Null()], {
          default: null,
          description:
            'with proxy.parent, enforce: true must be confirmed with false here: the parent resolves names, so ranges cannot be checked',
        }),
        userAgent: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: "User-Agent of the gateway's own downloads; null = acr-egress/<version>",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    dns: Type.Object(
      {
        overrides: Type.Record(Type.String(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), {
          default: {},
        }),
        servers: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description: 'resolver addresses (ip or ip:port); empty = the system resolver configuration',
        }),
        timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5_000 }),
        cacheSize: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
        minTtlSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 5 }),
        maxTtlSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 300 }),
      },
      { additionalProperties: false, default: {} },
    ),
    network: Type.Object(
      { allowPrivate: Type.Array(Cidr, { default: [] }) },
      { additionalProperties: false, default: {} },
    ),
    admin: Type.Object(
      {
        listen: Type.Union([HostPort, Type.Null()], { default: '127.0.0.1:9128' }),
        token: Type.Union([Type.String(), Type.Null()], { default: null }),
        tokenFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
        tokens: Type.Array(
          Type.Object(
            { name: Type.String({ minLength: 1 }), token: Type.String({ minLength: 16 }) },
            { additionalProperties: false },
          ),
          { default: [] },
        ),
        metricsAuth: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    inspect: Type.Object(
      {
        caCertFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
        caKeyFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
        upstreamCaFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: "extra roots for verifying inspected registries' certificates; null = system roots only",
        }),
        learnedTtlSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 600 }),
        learnedMax: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
        leafValidityHours: Type.Integer({ minimum: 1, maximum: 8760, default: 24 }),
        leafCacheSize: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    cache: Type.Object(
      {
        dir: Type.String({ minLength: 1, default: './data/cache', description: 'folder of cached layers' }),
        maxBytes: Type.Integer({
          minimum: 1024 * 1024,
          default: 20 * 1024 * 1024 * 1024,
          description: 'eviction starts above this size and stops at 90% of it',
        }),
        minBlobBytes: Type.Integer({
          minimum: 0,
          default: 1024 * 1024,
          description: 'smaller blobs pass through: a hit would save less than the request costs',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
        file: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
        recent: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 50_000 }),
        failClosed: Type.Boolean({
          default: false,
          description: 'refuse new tunnels (503 audit_unavailable) while the audit log cannot be written',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        store: Type.Union([Type.Literal('memory'), Type.Literal('embedded'), Type.Literal('postgres')], {
          default: 'embedded',
          description: 'where records are kept for the admin API besides the audit log',
        }),
        url: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: 'PostgreSQL URL for store: postgres (use ${VAR}; never inline credentials)',
        }),
        urlFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: 'file holding the PostgreSQL URL (a mounted Secret)',
        }),
        dir: Type.String({
          minLength: 1,
          default: './data/store',
          description: 'directory of the embedded store, relative to the config file',
        }),
        retentionDays: Type.Integer({ minimum: 1, maximum: 3650, default: 14 }),
        instance: Type.Union([Type.String({ minLength: 1, maxLength: 253 }), Type.Null()], {
          default: null,
          description: 'this replica in records; null = $POD_NAME, else the host name',
        }),
        flushMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
        batchSize: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
        queueMax: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

/** The config after defaults are applied and validated (what the code reads). */
export type Config = Static<typeof ConfigSchema>;
export type RegistryEntryConfig = Static<typeof RegistryEntry>;
export type ClientGroupConfig = Static<typeof ClientGroupSchema>;
export type McrConfig = Static<typeof McrSchema>;
