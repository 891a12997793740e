// Decides whether a service-tag file may replace the data in use: well-formed, for the configured
// cloud, and not older than what is in use. A file that lacks a tag some rule needs is still used:
// that rule alone is blocked (missingTags names it), every other rule keeps its ranges.

import { SERVICE_TAG_CLOUD } from '../config/cloud.js';
import type { LoadedConfig } from '../config/load.js';
import { AcrEgressError, isAcrEgressError } from '../errors.js';
import { buildServiceTagIndex } from './index.js';
import { parseServiceTags } from './parse.js';
import type { RuleTagNeed, ServiceTagIndex, ServiceTagsFile, TagSelector } from './types.js';

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

/** A tag one rule needs that the data does not have (or has with no prefixes). */
export interface MissingTag {
  readonly rule: string;
  /** `Base` or `Base.region` (the configured region, lower case). */
  readonly tag: string;
}

/**
 * What of selector the index lacks: the base tag, or each region with no regional tag (a rule scoped
 * to two regions lacks one when either has none), or a tag with no prefixes.
 */
export function selectorGaps(index: ServiceTagIndex, selector: TagSelector): string[] {
  const regions = selector.regions ?? [];
  const parts =
    regions.length === 0
      ? [{ tag: selector.base, sel: selector }]
      : regions.map((r) => ({ tag: `${selector.base}.${r}`, sel: { base: selector.base, regions: [r] } }));
  const gaps: string[] = [];
  for (const { tag, sel } of parts) {
    const names = index.select(sel);
    if (names.length === 0 || names.every((n) => (index.rangesOf(n)?.prefixCount ?? 0) === 0)) gaps.push(tag);
  }
  return gaps;
}

/** Every (rule, tag) the data lacks, in rule order. */
export function missingTags(needs: readonly RuleTagNeed[], index: ServiceTagIndex): MissingTag[] {
  const out: MissingTag[] = [];
  for (const { rule, selectors } of needs)
    for (const selector of selectors) for (const tag of selectorGaps(index, selector)) out.push({ rule, tag });
  return out;
}

/** Tag names the configured rules use in this index, sorted. */
export function usedTagNames(needs: readonly RuleTagNeed[], index: ServiceTagIndex): string[] {
  const names = new Set<string>();
  for (const { selectors } of needs)
    for (const selector of selectors) for (const name of index.select(selector)) names.add(name);
  return [...names].sort();
}

/** Prefix counts of the used tags (status, `tags show`, `tags update`). */
export function usedTagCounts(needs: readonly RuleTagNeed[], index: ServiceTagIndex): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of usedTagNames(needs, index)) counts[name] = index.rangesOf(name)?.prefixCount ?? 0;
  return counts;
}

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
  const expected = SERVICE_TAG_CLOUD[loaded.config.cloud];
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
  return { file, index };
}
