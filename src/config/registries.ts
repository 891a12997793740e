// Turns the three ways of naming a registry (name + flags, `az acr show-endpoints` JSON inline or in a
// file) into one resolved shape the policy compiles.
import { readFileSync } from 'node:fs';
import { CLOUDS, type CloudName } from './cloud.js';
import { checkRegion, type RegionCatalog } from './regions.js';
import type { RegistryEntryConfig } from './schema.js';

export interface ResolvedRegistry {
  /** Lower-case registry name (login server's first label). */
  readonly name: string;
  /** Lower-case home + replica regions; empty = not scoped. */
  readonly regions: readonly string[];
  /** Regions with a dedicated data endpoint; `'*'` alone = any region (no regions known). */
  readonly dataEndpoints: readonly string[];
  /** Regions with a regional (geo) login server. */
  readonly regionalEndpoints: readonly string[];
  /** The *.blob.<cloud> wildcard rule (blobStorage: true). */
  readonly blobStorage: boolean;
  /** blobStorage: learned: storage hosts allowed per client after this registry redirected it there. */
  readonly blobLearned: boolean;
  /** TLS inspection of the registry's API (login, data and regional endpoints). */
  readonly inspect: boolean;
  readonly pullOnly: boolean;
  /** Repository patterns; null = any repository. */
  readonly repositories: readonly string[] | null;
  /** Layers served from cache.dir once the registry authorized the request (needs inspect). */
  readonly cache: boolean;
}

type InspectFields = Pick<
  ResolvedRegistry,
  'inspect' | 'pullOnly' | 'repositories' | 'blobStorage' | 'blobLearned' | 'cache'
>;

/** The inspection keys of an entry, and what blobStorage means once `learned` is split out. */
function inspectFields(
  entry: {
    inspect?: boolean;
    pullOnly?: boolean;
    repositories?: string[];
    blobStorage?: boolean | 'learned';
    cache?: boolean;
  },
  blobDefault: boolean,
): InspectFields {
  const blob = entry.blobStorage ?? blobDefault;
  return {
    inspect: entry.inspect ?? false,
    pullOnly: entry.pullOnly ?? false,
    repositories: entry.repositories ?? null,
    cache: entry.cache ?? false,
    blobStorage: blob === true,
    blobLearned: blob === 'learned',
  };
}

const NAME = /^[a-z0-9]{5,50}$/;

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

function fromEndpoints(
  doc: {
    loginServer: string;
    dataEndpoints?: { region: string; endpoint: string }[];
    regionalEndpoints?: { region: string; endpoint: string }[];
    blobStorage?: boolean | 'learned';
    inspect?: boolean;
    pullOnly?: boolean;
    repositories?: string[];
    cache?: boolean;
  },
  cloud: CloudName,
  path: string,
  problems: string[],
  catalog: RegionCatalog | null,
): ResolvedRegistry | null {
  const { acr, blob } = CLOUDS[cloud];
  const login = doc.loginServer.toLowerCase().replace(/\.$/, '');
  if (!login.endsWith(`.${acr}`) || !NAME.test(login.slice(0, -acr.length - 1))) {
    problems.push(
      `${path}.loginServer: "${doc.loginServer}" is not a login server of the form <name>.${acr} (cloud ${cloud})`,
    );
    return null;
  }
  const name = login.slice(0, -acr.length - 1);
  const regions: string[] = [];
  const data: string[] = [];
  const geo: string[] = [];
  let blobSeen = false;
  (doc.dataEndpoints ?? []).forEach((d, i) => {
    const region = d.region.toLowerCase();
    const known = checkRegion(catalog, d.region);
    if (!known.ok) {
      problems.push(`${path}.dataEndpoints[${i}].region: ${known.problem}`);
      return;
    }
    const endpoint = d.endpoint.toLowerCase();
    regions.push(region);
    if (endpoint === `*.${blob}`) blobSeen = true;
    else if (endpoint === `${name}.${region}.data.${acr}`) data.push(region);
    else
      problems.push(
        `${path}.dataEndpoints[${i}].endpoint: "${d.endpoint}" is neither ${name}.${region}.data.${acr} nor *.${blob}`,
      );
  });
  (doc.regionalEndpoints ?? []).forEach((d, i) => {
    const region = d.region.toLowerCase();
    const known = checkRegion(catalog, d.region);
    if (!known.ok) {
      problems.push(`${path}.regionalEndpoints[${i}].region: ${known.problem}`);
      return;
    }
    const endpoint = d.endpoint.toLowerCase();
    regions.push(region);
    if (endpoint === `${name}.${region}.geo.${acr}`) geo.push(region);
    else problems.push(`${path}.regionalEndpoints[${i}].endpoint: "${d.endpoint}" is not ${name}.${region}.geo.${acr}`);
  });
  return {
    name,
    regions: dedupe(regions),
    dataEndpoints: dedupe(data),
    regionalEndpoints: dedupe(geo),
    // show-endpoints lists *.blob... while dedicated data endpoints are off; blobStorage overrides either way.
    ...inspectFields(doc, blobSeen),
  };
}

export function resolveRegistries(
  entries: readonly RegistryEntryConfig[],
  cloud: CloudName,
  problems: string[],
  catalog: RegionCatalog | null = null,
  skip: ReadonlySet<number> = new Set(),
): ResolvedRegistry[] {
  const out: ResolvedRegistry[] = [];
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    if (skip.has(i)) return; // its shape is already reported
    const path = `registries[${i}]`;
    let resolved: ResolvedRegistry | null;
    if ('name' in entry) {
      // A known alias (the service-tag file's centralfrance) becomes the ARM name the endpoints use.
      const regions = dedupe(
        (entry.regions ?? []).flatMap((r, j) => {
          const known = checkRegion(catalog, r);
          if (known.ok) return [known.region];
          problems.push(`${path}.regions[${j}]: ${known.problem}`);
          return [];
        }),
      );
      const dataOn = entry.dataEndpoints ?? true;
      const geoOn = entry.regionalEndpoints ?? false;
      if (geoOn && regions.length === 0) {
        problems.push(
          `${path}.regionalEndpoints: needs ${path}.regions (the regional login servers are <name>.<region>.geo...)`,
        );
      }
      resolved = {
        name: entry.name.toLowerCase(),
        regions,
        dataEndpoints: dataOn ? (regions.length > 0 ? regions : ['*']) : [],
        regionalEndpoints: geoOn ? regions : [],
        ...inspectFields(entry, true),
      };
    } else if ('loginServer' in entry) {
      resolved = fromEndpoints(entry, cloud, path, problems, catalog);
    } else {
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(entry.endpointsFile, 'utf8'));
      } catch (err) {
        problems.push(`${path}.endpointsFile: cannot read "${entry.endpointsFile}": ${(err as Error).message}`);
        return;
      }
      const d = doc as { loginServer?: unknown };
      if (d === null || typeof d !== 'object' || typeof d.loginServer !== 'string') {
        problems.push(
          `${path}.endpointsFile: "${entry.endpointsFile}" is not az acr show-endpoints output (no loginServer)`,
        );
        return;
      }
      const { endpointsFile: _file, ...keys } = entry;
      const withOverride = { ...(doc as object), ...keys };
      resolved = fromEndpoints(
        withOverride as Parameters<typeof fromEndpoints>[0],
        cloud,
        `${path}.endpointsFile(${entry.endpointsFile})`,
        problems,
        catalog,
      );
    }
    if (!resolved) return;
    const earlier = seen.get(resolved.name);
    if (earlier !== undefined) {
      problems.push(`${path}: registry "${resolved.name}" is already configured at registries[${earlier}]`);
      return;
    }
    seen.set(resolved.name, i);
    out.push(Object.freeze(resolved));
  });
  return out;
}
