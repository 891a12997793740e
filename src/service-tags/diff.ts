// What changed between two service-tag files, tag by tag, comparing normalised prefixes so
// that spelling differences ("2603:1000::/48" vs "2603:1000:0::/48") are not reported.

import { formatV4, formatV6, parsePrefix } from './range-set.js';
import type { ServiceTagsFile, ServiceTagValue } from './types.js';

export interface TagDiff {
  name: string;
  status: 'added' | 'removed' | 'changed';
  /** Normalised prefixes present in b and not in a, in b's order. */
  added: string[];
  /** Normalised prefixes present in a and not in b, in a's order. */
  removed: string[];
  changeNumberFrom?: number;
  changeNumberTo?: number;
}

/** Canonical spelling of a prefix: network address (host bits cleared), RFC 5952 for IPv6. */
export function normalizePrefix(text: string): string {
  const p = parsePrefix(text);
  if (p === null) return text;
  return `${p.v === 4 ? formatV4(p.start) : formatV6(p.start)}/${p.bits}`;
}

function prefixSet(v: ServiceTagValue | undefined): Set<string> {
  return new Set((v?.properties.addressPrefixes ?? []).map(normalizePrefix));
}

/** Tags whose prefix sets differ between a and b, sorted by name; unchanged tags are omitted. */
export function diffServiceTags(a: ServiceTagsFile, b: ServiceTagsFile): TagDiff[] {
  const before = new Map(a.values.map((v) => [v.name, v]));
  const after = new Map(b.values.map((v) => [v.name, v]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const diffs: TagDiff[] = [];
  for (const name of names) {
    const from = before.get(name);
    const to = after.get(name);
    const old = prefixSet(from);
    const now = prefixSet(to);
    const added = [...now].filter((p) => !old.has(p));
    const removed = [...old].filter((p) => !now.has(p));
    if (from && to && added.length === 0 && removed.length === 0) continue;
    const diff: TagDiff = { name, status: !from ? 'added' : !to ? 'removed' : 'changed', added, removed };
    if (from) diff.changeNumberFrom = from.properties.changeNumber;
    if (to) diff.changeNumberTo = to.properties.changeNumber;
    diffs.push(diff);
  }
  return diffs;
}
