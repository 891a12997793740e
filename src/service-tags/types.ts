// Shapes of Microsoft's "Azure IP Ranges and Service Tags" JSON and of the index built from it.

import type { RegionCatalog } from '../config/regions.js';

interface ServiceTagProperties {
  changeNumber: number;
  region: string;
  regionId?: number;
  platform?: string;
  systemService: string;
  addressPrefixes: string[];
  networkFeatures?: string[] | null;
}

export interface ServiceTagValue {
  name: string;
  id: string;
  properties: ServiceTagProperties;
}

export interface ServiceTagsFile {
  changeNumber: number;
  cloud: string;
  values: ServiceTagValue[];
}

/** Which tags a rule needs: a base tag name, optionally scoped to regions. */
export interface TagSelector {
  /** e.g. AzureContainerRegistry, Storage, MicrosoftContainerRegistry, AzureFrontDoor.FirstParty */
  readonly base: string;
  /** Lower-case Azure region names; empty or absent = the base (global) tag itself. */
  readonly regions?: readonly string[];
}

/** The tags one rule needs (computed by the policy from the config and handed to the manager). */
export interface RuleTagNeed {
  readonly rule: string;
  readonly selectors: readonly TagSelector[];
}

/** A config's needs: the policy's compileRules, passed in so that service-tags never imports the policy. */
export type TagNeeds = (loaded: import('../config/load.js').LoadedConfig) => readonly RuleTagNeed[];

/** A compiled set of address ranges (one or more tags), answering membership by binary search. */
export interface AddressRangeSet {
  /** True when the (already canonical) IPv4 or IPv6 address string lies inside the set. */
  has(ip: string): boolean;
  readonly prefixCount: number;
}

/** The index over one loaded service-tag file. Built once per file; immutable. */
export interface ServiceTagIndex {
  readonly changeNumber: number;
  readonly cloud: string;
  /** Number of values (tags) and prefixes in the file. */
  readonly tagCount: number;
  readonly prefixCount: number;
  /** Tag names selected by a selector (in file order); empty when none match. */
  select(selector: TagSelector): string[];
  /** The range set of one tag by exact name, or undefined. */
  rangesOf(tagName: string): AddressRangeSet | undefined;
  /** Every tag whose ranges contain ip (for `tags lookup`). */
  tagsContaining(ip: string): string[];
  /** The region names this file knows (config validation: unknown region, did you mean). */
  regionCatalog(): RegionCatalog;
  /** The raw value of one tag (for counts, diffs). */
  value(tagName: string): ServiceTagValue | undefined;
}

/** What the admin API and `tags show` report about the service-tag data in use. */
export interface TagsStatus {
  /** null when no data is loaded. */
  changeNumber: number | null;
  cloud: string | null;
  /** Where the data in use came from (URL, file path, or the cache file). */
  source: string | null;
  /** ISO time the data in use dates from: its publication date where known (see ageFrom), or null. */
  loadedAt: string | null;
  /** ISO publication date of the data in use (from the file name, or the cache file dated with it); null when unknown. */
  publishedAt: string | null;
  /** What the age is measured from: 'file name', 'file time', 'download time', 'injected'. */
  ageFrom: string | null;
  /** ISO time of the last successful refresh (download or file read). */
  lastSuccessAt: string | null;
  nextRefreshAt: string | null;
  /** Message of the last failed refresh, cleared by a success. */
  lastError: string | null;
  lastErrorAt: string | null;
  /** True when the data in use is older than serviceTags.maxAgeDays (or none is loaded). */
  stale: boolean;
  /** Age of the data in use in seconds, from its publication date where known (loadedAt), or null. */
  ageSeconds: number | null;
  /** Prefix counts of the tags the configured rules use. */
  tags: Record<string, number>;
  /** Tags a rule needs that the data lacks: that rule is blocked (or unchecked with when-available). */
  missing: Array<{ rule: string; tag: string }>;
  /** Failed refreshes (or unusable local files) since start, and in a row now (drives the back-off). */
  failures: number;
  consecutiveFailures: number;
}
