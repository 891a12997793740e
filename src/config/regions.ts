// Which Azure region names a config may use: from the loaded service-tag data when there is some,
// else the built-in list generated from the real files. Unknown names get a "did you mean".
import { BUILTIN_REGIONS } from './azure-regions.js';
import { SERVICE_TAG_CLOUD, type CloudName } from './cloud.js';
import { closest } from './suggest.js';

export interface RegionCatalog {
  /** Lower-case spelling (ARM name, or the service-tag file's own spelling) -> ARM region name. */
  readonly names: ReadonlyMap<string, string>;
  /** Where the list comes from, for messages: "built-in list" or "service-tag data change 375". */
  readonly from: string;
}

export function builtinRegions(cloud: CloudName): RegionCatalog {
  return { names: new Map(BUILTIN_REGIONS[SERVICE_TAG_CLOUD[cloud]] ?? []), from: 'built-in list' };
}

export type RegionCheck = { ok: true; region: string } | { ok: false; problem: string };

/** The ARM name for a configured region, or the problem (`westeurop`: unknown Azure region; did you mean ...). */
export function checkRegion(catalog: RegionCatalog | null, raw: string): RegionCheck {
  const region = raw.toLowerCase();
  if (catalog === null || catalog.names.size === 0) return { ok: true, region };
  const arm = catalog.names.get(region);
  if (arm !== undefined) return { ok: true, region: arm };
  const hit = closest(region, new Set(catalog.names.values()));
  const hint = hit === null ? '' : `; did you mean \`${hit}\`?`;
  return { ok: false, problem: `\`${raw}\`: unknown Azure region (${catalog.from})${hint}` };
}
