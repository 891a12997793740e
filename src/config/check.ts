// The one way a config file becomes the running config, shared by `serve`, reload and `config
// validate` so that they never disagree: every problem at once, then the regions checked against
// the service-tag data the gateway starts with (the built-in list when there is none).
import { isAcrEgressError } from '../errors.js';
import { buildConfig, readConfigDocument, type LoadedConfig } from './load.js';
import type { RegionCatalog } from './regions.js';

export interface KnowsRegions {
  regionCatalog(): RegionCatalog;
}

/**
 * Reads file; `tagsFor` loads the service-tag data for the config (start) or answers the data in use
 * (reload). Throws CONFIG_INVALID / CONFIG_UNREADABLE.
 */
export async function loadConfigChecked<T extends KnowsRegions>(
  file: string,
  env: NodeJS.ProcessEnv,
  tagsFor: (loaded: LoadedConfig) => Promise<T | null>,
): Promise<{ loaded: LoadedConfig; tags: T | null }> {
  const { value, unset } = readConfigDocument(file, env);
  let first: LoadedConfig;
  try {
    // Regions wait for the data; but a config refused anyway reports its regions too (built-in list).
    first = buildConfig(value, file, unset, { regions: null });
  } catch (err) {
    if (!isAcrEgressError(err, 'CONFIG_INVALID')) throw err;
    buildConfig(value, file, unset, { regions: 'builtin' });
    throw err;
  }
  const tags = await tagsFor(first);
  const loaded = buildConfig(value, file, unset, { regions: tags === null ? 'builtin' : tags.regionCatalog() });
  return { loaded, tags };
}
