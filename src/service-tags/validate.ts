// Decides whether a service-tag file may replace the data in use: well-formed, for the configured
// cloud, holding every tag the rules need with prefixes, and not older than what is in use.

import { SERVICE_TAG_CLOUD, type CloudName } from '../config/cloud.js';
import type { LoadedConfig } from '../config/load.js';
import { AcrEgressError, isAcrEgressError } from '../errors.js';
import { compileRules } from '../policy/rules.js';
import { buildServiceTagIndex } from './index.js';
import { parseServiceTags } from './parse.js';
import type { ServiceTagIndex, ServiceTagsFile, TagSelector } from './types.js';

export interface ValidateOptions {
  /** Change number of the data in use; null when none is loaded. */
  current: number | null;
  /** Accept a lower change number (an operator rolling back on purpose). */
  force?: boolean;
  /** The file's URL or path, put in front of every refusal message. */
  origin?: string;
}

export interface ValidTags {
  file: ServiceTagsFile;
  index: ServiceTagIndex;
}

/** The tag selectors the configured rules need, each with the first rule that needs it. */
export function neededSelectors(loaded: LoadedConfig): Array<{ selector: TagSelector; rule: string }> {
  const seen = new Set<string>();
  const out: Array<{ selector: TagSelector; rule: string }> = [];
  for (const rule of compileRules(loaded).list) {
    for (const selector of rule.tags) {
      const key = `${selector.base}|${(selector.regions ?? []).join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ selector, rule: rule.id });
    }
  }
  return out;
}

/** Tag names the configured rules use in this index, sorted. */
export function usedTagNames(loaded: LoadedConfig, index: ServiceTagIndex): string[] {
  const names = new Set<string>();
  for (const { selector } of neededSelectors(loaded)) for (const name of index.select(selector)) names.add(name);
  return [...names].sort();
}

/** Prefix counts of the used tags (status, `tags show`, `tags update`). */
export function usedTagCounts(loaded: LoadedConfig, index: ServiceTagIndex): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of usedTagNames(loaded, index)) counts[name] = index.rangesOf(name)?.prefixCount ?? 0;
  return counts;
}

const describe = (s: TagSelector): string =>
  s.regions && s.regions.length > 0 ? `${s.base} in ${s.regions.join(', ')}` : s.base;

/** Parses, indexes and checks raw file bytes; throws an AcrEgressError naming the first refusal. */
export function validateServiceTags(raw: string | Buffer, loaded: LoadedConfig, options: ValidateOptions): ValidTags {
  if (options.origin === undefined) return check(raw, loaded, options);
  try {
    return check(raw, loaded, options);
  } catch (err) {
    if (!isAcrEgressError(err)) throw err;
    throw new AcrEgressError(err.code, `${options.origin}: ${err.message}`, { details: err.details, cause: err });
  }
}

function check(raw: string | Buffer, loaded: LoadedConfig, options: ValidateOptions): ValidTags {
  const file = parseServiceTags(raw);
  const expected = SERVICE_TAG_CLOUD[loaded.config.cloud as CloudName];
  if (file.cloud !== expected) {
    throw new AcrEgressError(
      'SERVICE_TAGS_WRONG_CLOUD',
      `service-tag file is for cloud "${file.cloud}", but cloud ${loaded.config.cloud} needs "${expected}"`,
    );
  }
  if (options.current !== null && file.changeNumber < options.current && options.force !== true) {
    throw new AcrEgressError(
      'SERVICE_TAGS_STALE_CHANGE',
      `service-tag change number ${file.changeNumber} is lower than ${options.current} in use (refused; force to roll back)`,
    );
  }
  const index = buildServiceTagIndex(file);
  const problems: string[] = [];
  for (const { selector, rule } of neededSelectors(loaded)) {
    const names = index.select(selector);
    if (names.length === 0) problems.push(`no tag ${describe(selector)} (needed by ${rule})`);
    for (const name of names) {
      if ((index.rangesOf(name)?.prefixCount ?? 0) === 0)
        problems.push(`tag ${name} has no prefixes (needed by ${rule})`);
    }
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new AcrEgressError(
      'SERVICE_TAGS_TAG_MISSING',
      `service-tag file change ${file.changeNumber}: ${problems[0]}${more}`,
      {
        details: problems,
      },
    );
  }
  return { file, index };
}
