// The lines a starting gateway prints so that the operator knows, without reading the config, what
// it allows and whether service-tag ranges are being checked right now.
import { CLOUDS } from './config/cloud.js';
import type { LoadedConfig } from './config/load.js';

/** One line: which registries (and MCR, and allow entries) tunnels may reach. */
export function allowLine(loaded: LoadedConfig): string {
  const { config, registries, skippedRegistries } = loaded;
  const suffix = CLOUDS[config.cloud];
  const parts: string[] = [];
  if (registries.length > 0)
    parts.push(
      `registr${registries.length === 1 ? 'y' : 'ies'} ${registries.map((r) => `${r.name}.${suffix.acr}`).join(', ')}`,
    );
  if (config.mcr) parts.push(`MCR (${suffix.mcr})`);
  if (config.allow.length > 0)
    parts.push(`${config.allow.length} allow entr${config.allow.length === 1 ? 'y' : 'ies'}`);
  const unset = skippedRegistries.map((s) => s.variable);
  const note = unset.length > 0 ? ` (${unset.join(', ')} not set: no registry from it)` : '';
  if (registries.length === 0 && config.mcr && config.allow.length === 0)
    return `allowing only MCR (${suffix.mcr})${note}`;
  return `allowing ${parts.join(' and ')}${note}`;
}

/** Exactly one line on service-tag ranges: enforced, not enforced until data arrives, or blocking until it does. */
export function tagsLine(loaded: LoadedConfig, haveData: boolean): string {
  const { enforce } = loaded.config.serviceTags;
  if (loaded.parent !== null)
    return `service-tag ranges are not checked: tunnels go through the parent proxy ${loaded.parent.label}`;
  if (enforce === false) return 'service-tag ranges are not enforced (serviceTags.enforce: false)';
  if (haveData) return 'service-tag ranges are enforced';
  if (enforce === 'when-available') return 'service-tag ranges are not enforced until data arrives';
  return 'blocking everything that needs service tags until data arrives';
}
