// Host rules compiled once per config: which names are allowed, under which rule id, needing which
// service tags. Matching is a Map lookup per shape; no rule list is scanned per connection.
import type { LoadedConfig } from '../config/load.js';
import { CLOUDS } from '../config/cloud.js';
import { allowKey } from '../config/client-groups.js';
import { mcrRegistry } from '../config/mcr.js';
import type { ResolvedRegistry } from '../config/registries.js';
import type { TagSelector } from '../service-tags/types.js';

type RuleKind = 'login' | 'geo' | 'data' | 'blob' | 'blob-learned' | 'mcr-login' | 'mcr-data' | 'allow';

export interface HostRule {
  /** Rule id (docs/interface.md); for a data endpoint matched by any region, `<region>` is filled at match time. */
  readonly id: string;
  readonly kind: RuleKind;
  /** Human pattern: `myregistry.azurecr.io`, `*.blob.core.windows.net`, `myregistry.*.data.azurecr.io`. */
  readonly pattern: string;
  /** Service tags whose ranges the destination must fall in (empty: no tag check, e.g. allow rules). */
  readonly tags: readonly TagSelector[];
  /** What a client group must name to use the rule: `registry:<name>`, `mcr` or `allow:<pattern>`. */
  readonly grants: readonly string[];
  /**
   * The registry whose API this host serves (login, geo and data endpoints; MCR's login host as
   * registry `mcr`), with its settings (inspect, pullOnly, repositories, cache): what a later stage
   * needs is carried, never parsed from the id.
   */
  readonly registry: ResolvedRegistry | null;
}

export interface HostMatch {
  readonly rule: HostRule;
  /** The rule id, specialised (data endpoint region) where the rule is a template. */
  readonly id: string;
}

export interface CompiledRules {
  readonly list: readonly HostRule[];
  match(host: string): HostMatch | null;
  /**
   * The `registry:<name>:blob-learned` rule of a registry with blobStorage: learned, when `host` is a
   * storage host of the cloud (<account>.blob...); null otherwise. Matched only through a learned entry.
   */
  learnedRule(registry: string, host: string): HostRule | null;
  /** <account>.blob.<cloud suffix>: one label before the cloud's blob suffix. */
  isStorageHost(host: string): boolean;
  /** Whether any registry learns blob hosts (no lookup is made otherwise). */
  readonly learns: boolean;
}

const ACR = 'AzureContainerRegistry';
const STORAGE = 'Storage';

function scoped(base: string, regions: readonly string[]): TagSelector {
  return regions.length > 0 ? { base, regions } : { base };
}

/** Compiles the config's registries, MCR and allow entries into host rules. */
export function compileRules(loaded: LoadedConfig): CompiledRules {
  const { config, registries } = loaded;
  const suffix = CLOUDS[config.cloud];
  const exact = new Map<string, HostRule>();
  const wildcard = new Map<string, HostRule>(); // key: suffix after the first label
  const anyRegionData = new Map<string, HostRule>(); // key: registry name, for <name>.<region>.data.<acr>
  const learned = new Map<string, HostRule>(); // key: registry name; never matched by name alone
  const list: HostRule[] = [];

  const add = (table: Map<string, HostRule>, key: string, rule: HostRule): void => {
    const existing = table.get(key);
    if (existing) {
      // Two registries share *.blob...: one rule whose tags are the union of both scopes, usable by a
      // group that names either. An allow entry for a host a registry already has only adds a grant.
      const merged: HostRule = {
        ...existing,
        tags: [...existing.tags, ...rule.tags],
        grants: [...existing.grants, ...rule.grants.filter((g) => !existing.grants.includes(g))],
      };
      table.set(key, merged);
      list[list.indexOf(existing)] = merged;
      return;
    }
    table.set(key, rule);
    list.push(rule);
  };

  for (const reg of registries) {
    const grants = [`registry:${reg.name}`];
    const login = `${reg.name}.${suffix.acr}`;
    add(exact, login, {
      id: `registry:${reg.name}:login`,
      kind: 'login',
      pattern: login,
      tags: [scoped(ACR, reg.regions)],
      grants,
      registry: reg,
    });
    for (const region of reg.regionalEndpoints) {
      const host = `${reg.name}.${region}.geo.${suffix.acr}`;
      add(exact, host, {
        id: `registry:${reg.name}:geo:${region}`,
        kind: 'geo',
        pattern: host,
        tags: [scoped(ACR, [region])],
        grants,
        registry: reg,
      });
    }
    for (const region of reg.dataEndpoints) {
      if (region === '*') {
        const pattern = `${reg.name}.*.data.${suffix.acr}`;
        add(anyRegionData, reg.name, {
          id: `registry:${reg.name}:data:*`,
          kind: 'data',
          pattern,
          tags: [{ base: ACR }, { base: STORAGE }],
          grants,
          registry: reg,
        });
        continue;
      }
      const host = `${reg.name}.${region}.data.${suffix.acr}`;
      add(exact, host, {
        id: `registry:${reg.name}:data:${region}`,
        kind: 'data',
        pattern: host,
        tags: [scoped(ACR, [region]), scoped(STORAGE, [region])],
        grants,
        registry: reg,
      });
    }
    if (reg.blobLearned) {
      const rule: HostRule = {
        id: `registry:${reg.name}:blob-learned`,
        kind: 'blob-learned',
        pattern: `*.${suffix.blob} (learned from redirects)`,
        tags: [scoped(STORAGE, reg.regions)],
        grants,
        registry: null,
      };
      learned.set(reg.name, rule);
      list.push(rule);
    }
    if (reg.blobStorage) {
      add(wildcard, suffix.blob, {
        id: `registry:${reg.name}:blob`,
        kind: 'blob',
        pattern: `*.${suffix.blob}`,
        tags: [scoped(STORAGE, reg.regions)],
        grants,
        registry: null,
      });
    }
  }
  const mcr = mcrRegistry(config.mcr);
  if (mcr !== null) {
    add(exact, suffix.mcr, {
      id: 'mcr:login',
      kind: 'mcr-login',
      pattern: suffix.mcr,
      tags: [{ base: 'MicrosoftContainerRegistry' }],
      grants: ['mcr'],
      registry: mcr,
    });
    add(wildcard, `data.${suffix.mcr}`, {
      id: 'mcr:data',
      kind: 'mcr-data',
      pattern: `*.data.${suffix.mcr}`,
      tags: [{ base: 'AzureFrontDoor.FirstParty' }],
      grants: ['mcr'],
      registry: null,
    });
  }
  for (const raw of config.allow) {
    const pattern = allowKey(raw);
    const rule: HostRule = {
      id: `allow:${pattern}`,
      kind: 'allow',
      pattern,
      tags: [],
      grants: [`allow:${pattern}`],
      registry: null,
    };
    if (pattern.startsWith('*.')) add(wildcard, pattern.slice(2), rule);
    else add(exact, pattern, rule);
  }

  const dataInfix = `.data.${suffix.acr}`;
  const blobSuffix = `.${suffix.blob}`;
  const isStorageHost = (host: string): boolean => {
    if (!host.endsWith(blobSuffix)) return false;
    const account = host.slice(0, -blobSuffix.length);
    return account.length > 0 && !account.includes('.');
  };
  return {
    list,
    learns: learned.size > 0,
    isStorageHost,
    learnedRule(registry: string, host: string): HostRule | null {
      const rule = learned.get(registry);
      return rule !== undefined && isStorageHost(host) ? rule : null;
    },
    match(host: string): HostMatch | null {
      const hit = exact.get(host);
      if (hit) return { rule: hit, id: hit.id };
      const dot = host.indexOf('.');
      if (dot <= 0) return null;
      const wild = wildcard.get(host.slice(dot + 1));
      if (wild) return { rule: wild, id: wild.id };
      if (anyRegionData.size > 0 && host.endsWith(dataInfix)) {
        // <name>.<region>.data.<acr>: exactly two labels before the infix.
        const head = host.slice(0, host.length - dataInfix.length);
        const sep = head.indexOf('.');
        if (sep > 0 && head.indexOf('.', sep + 1) === -1) {
          const rule = anyRegionData.get(head.slice(0, sep));
          const region = head.slice(sep + 1);
          // Regions unknown at load time: the rule keeps the global ACR and Storage tags.
          if (rule && region.length > 0) return { rule, id: `registry:${head.slice(0, sep)}:data:${region}` };
        }
      }
      return null;
    },
  };
}
