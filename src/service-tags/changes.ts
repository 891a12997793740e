// What a swap changed in the tags the configured rules use: prefixes added and removed per tag,
// from diffServiceTags over just those tags (diffing all ~3,000 tags would cost far more).

import { diffServiceTags, type TagDiff } from './diff.js';
import type { RuleTagNeed, ServiceTagIndex, ServiceTagsFile } from './types.js';
import { usedTagNames } from './validate.js';

export interface UsedTagChange {
  tag: string;
  status: TagDiff['status'];
  added: number;
  removed: number;
}

function subset(index: ServiceTagIndex, names: readonly string[]): ServiceTagsFile {
  const values = names.flatMap((n) => {
    const v = index.value(n);
    return v === undefined ? [] : [v];
  });
  return { changeNumber: index.changeNumber, cloud: index.cloud, values };
}

/** Per used tag (under either index) whose prefixes differ; [] when there is no old index. */
export function diffUsedTags(
  needs: readonly RuleTagNeed[],
  before: ServiceTagIndex | null,
  after: ServiceTagIndex,
): UsedTagChange[] {
  if (before === null) return [];
  const names = [...new Set([...usedTagNames(needs, before), ...usedTagNames(needs, after)])].sort();
  return diffServiceTags(subset(before, names), subset(after, names)).map((d) => ({
    tag: d.name,
    status: d.status,
    added: d.added.length,
    removed: d.removed.length,
  }));
}
