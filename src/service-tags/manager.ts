// Keeps the service-tag data in use current: loads the last good copy at start, refreshes from the
// source on a jittered schedule with back-off, validates before swapping and never lets a bad source
// change (or empty) what is allowed. Swaps are reported through onUpdate.

import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { AcrEgressError, isAcrEgressError } from '../errors.js';
import { storeCache } from './cache.js';
import { diffUsedTags, type UsedTagChange } from './changes.js';
import { downloadForConfig } from './download.js';
import { describeRefreshFailure } from './failure-words.js';
import type { FetchLike } from './fetch.js';
import { jitter, nextDelay, RefreshTimer } from './schedule.js';
import { classifySource, readSourceFile, type DateFrom, type Obtained } from './source.js';
import type { ServiceTagIndex, ServiceTagsFile, TagNeeds, TagsStatus } from './types.js';
import { missingTags, usedTagCounts, validateServiceTags } from './validate.js';

export interface ServiceTagManagerOptions {
  config: LoadedConfig;
  /** The tags each rule of a config needs (the policy's rules; see policy/tag-needs.ts). */
  needs: TagNeeds;
  log: Logger;
  /** Called after each swap with the new data; not called by loadInitial, reconfigure or use. */
  onUpdate?: (index: ServiceTagIndex, file: ServiceTagsFile) => void;
  fetchImpl?: FetchLike;
  /** Where HTTPS_PROXY/NO_PROXY come from when serviceTags.proxy is not set (default process.env). */
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** 0..1, for the jitter; injectable so schedule tests are deterministic. */
  random?: () => number;
}

/**
 * Where a fleet keeps its last good data (store/tag-share.ts for PostgreSQL): saved after a refresh
 * that brought new data, loaded by a replica that starts without a cache.
 */
export interface TagShare {
  load(): Promise<{ body: Buffer; dataTime: number } | null>;
  save(data: { body: Buffer; dataTime: number; changeNumber: number; sha256: string }): Promise<void>;
}

export type RefreshResult =
  | { ok: true; changed: boolean; changes: UsedTagChange[]; status: TagsStatus; cacheError?: string }
  | { ok: false; error: string; status: TagsStatus };

interface Attempt {
  changed: boolean;
  changes: UsedTagChange[];
  /** The data is in use but the cache file could not be written (`tags update` fails on it). */
  cacheError?: string;
}

interface InUse {
  index: ServiceTagIndex;
  origin: string;
  /** See Obtained.dataTime: the publication date where known; the age is measured from it. */
  dataTime: number;
  dateFrom: DateFrom | 'injected';
  /** sha256 of the bytes, to tell a re-download of the same file; null when unknown. */
  hash: string | null;
}

/** What a reload will switch the tags to; see prepare(). */
export interface PreparedTags {
  /** The data the policy will be compiled against once committed. */
  index(): ServiceTagIndex | null;
  commit(): void;
}

type LocalRead = { path: string; isCache: boolean } & ({ data: InUse } | { err: unknown });

interface Initial {
  tried: string[];
  reads: LocalRead[];
  config: LoadedConfig;
  /** loadCache: no "no data available" warning. */
  quiet: boolean;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

export class ServiceTagManager {
  #config: LoadedConfig;
  readonly #needs: TagNeeds;
  readonly #log: Logger;
  readonly #onUpdate: (index: ServiceTagIndex, file: ServiceTagsFile) => void;
  readonly #fetch: FetchLike | undefined;
  readonly #env: NodeJS.ProcessEnv;
  readonly #now: () => number;
  readonly #random: () => number;
  #data: InUse | null = null;
  #cacheHash: string | null = null;
  #lastSuccessAt: number | null = null;
  #lastError: string | null = null;
  #lastErrorAt: number | null = null;
  #failures = 0;
  #consecutive = 0;
  readonly #timer: RefreshTimer;
  #started = false;
  #inflight: Promise<RefreshResult> | null = null;
  #abort: AbortController | null = null;
  /** Bumped when the source or cloud changes, so a refresh begun before it is discarded. */
  #generation = 0;
  #share: TagShare | null = null;

  constructor(options: ServiceTagManagerOptions) {
    this.#config = options.config;
    this.#needs = options.needs;
    this.#log = options.log;
    this.#onUpdate = options.onUpdate ?? (() => undefined);
    this.#fetch = options.fetchImpl;
    this.#env = options.env ?? process.env;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#timer = new RefreshTimer(() => void this.refresh(), this.#now);
  }

  get index(): ServiceTagIndex | null {
    return this.#data?.index ?? null;
  }

  get config(): LoadedConfig {
    return this.#config;
  }

  lookup(ip: string): string[] {
    return this.#data?.index.tagsContaining(ip) ?? [];
  }

  /** The data to start with: the source when it is a local file, else (or if that fails) the cache. Never throws. */
  async loadInitial(): Promise<ServiceTagIndex | null> {
    this.#apply(await this.#readInitial(this.#config));
    return this.index;
  }

  /** Loads only the cache file (what `tags update` compares against). Never throws. */
  async loadCache(): Promise<ServiceTagIndex | null> {
    const cache = this.#config.config.serviceTags.cacheFile;
    if (cache === null) return null;
    const read = await this.#readLocal(cache, true, this.#config);
    this.#apply({ tried: [cache], reads: [read], config: this.#config, quiet: true });
    return 'data' in read ? this.index : null;
  }

  /** Reads what loadInitial would use for a config, touching nothing in use (a reload may still be refused). */
  async #readInitial(config: LoadedConfig): Promise<Initial> {
    const st = config.config.serviceTags;
    const src = classifySource(st.source);
    const paths = [src.kind === 'file' ? src.path : null, st.cacheFile].filter((p): p is string => p !== null);
    const reads: LocalRead[] = [];
    for (const path of [...new Set(paths)]) {
      const read = await this.#readLocal(path, path === st.cacheFile, config);
      reads.push(read);
      if ('data' in read) break;
    }
    return { tried: paths, reads, config, quiet: false };
  }

  async #readLocal(path: string, isCache: boolean, config: LoadedConfig): Promise<LocalRead> {
    try {
      const got = await readSourceFile(path);
      const valid = validateServiceTags(got.body, config, { current: null, origin: path });
      const hash = sha256(got.body);
      return {
        path,
        isCache,
        data: { index: valid.index, origin: path, dataTime: got.dataTime, dateFrom: got.dateFrom, hash },
      };
    } catch (err) {
      return { path, isCache, err };
    }
  }

  /** The fleet's shared copy (the PostgreSQL store); set once the store is open. */
  setShare(share: TagShare | null): void {
    this.#share = share;
  }

  /**
   * With no data yet: the fleet's last good data from the share, validated like a download and
   * written to the cache file. Null (and a log line) when there is none or it cannot be read. Never throws.
   */
  async loadShared(): Promise<ServiceTagIndex | null> {
    const share = this.#share;
    if (share === null || this.#data !== null) return this.index;
    const origin = 'the fleet store';
    try {
      const got = await share.load();
      if (got === null) {
        this.#log.info('no service-tag data in the fleet store yet');
        return null;
      }
      const valid = validateServiceTags(got.body, this.#config, { current: null, origin });
      const hash = sha256(got.body);
      this.#data = { index: valid.index, origin, dataTime: got.dataTime, dateFrom: 'file time', hash };
      const cache = this.#config.config.serviceTags.cacheFile;
      if (cache !== null) {
        await storeCache(cache, got.body, got.dataTime, false).then(
          () => (this.#cacheHash = hash),
          (err: unknown) => this.#log.warn({ err: String(err), path: cache }, 'service-tag cache not written'),
        );
      }
      this.#log.info(
        { changeNumber: valid.index.changeNumber, prefixes: valid.index.prefixCount, age: this.#ageSeconds() },
        'service tags loaded from the fleet store: ranges are enforced from the start',
      );
      this.#warnMissing();
      return this.index;
    } catch (err) {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'fleet store service tags not used');
      return null;
    }
  }

  #saveShared(body: Buffer, dataTime: number, changeNumber: number, hash: string): void {
    const share = this.#share;
    if (share === null) return;
    // Never waits and never fails the refresh: the data is in use here whatever the store does.
    share.save({ body, dataTime, changeNumber, sha256: hash }).then(
      () => this.#log.info({ changeNumber }, 'service tags shared with the fleet store'),
      (err: unknown) => this.#log.warn({ err: String(err) }, 'service tags not written to the fleet store'),
    );
  }

  /** Swaps in what #readInitial read, with the log lines and counters it earns. */
  #apply(initial: Initial): void {
    for (const read of initial.reads) {
      if ('data' in read) {
        this.#data = read.data;
        if (read.isCache) this.#cacheHash = read.data.hash;
        else this.#lastSuccessAt = this.#now();
        this.#log.info(
          {
            path: read.path,
            changeNumber: read.data.index.changeNumber,
            prefixes: read.data.index.prefixCount,
            age: this.#ageSeconds(),
          },
          'service tags loaded',
        );
        this.#warnMissing();
        return;
      }
      const missing = (read.err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT';
      // A cache that does not exist yet is normal on a first start; anything else is worth a look.
      if (read.isCache && missing) this.#log.info({ path: read.path }, 'no service-tag cache file yet');
      else this.#fail(read.err, `${read.isCache ? 'cache' : 'source'} ${read.path}`);
    }
    if (!initial.quiet)
      this.#log.warn(
        { enforce: initial.config.config.serviceTags.enforce, tried: initial.tried },
        'no service-tag data available',
      );
  }

  /** Data injected by the caller (tests, GatewayOptions.tags): trusted as is, not validated. */
  use(index: ServiceTagIndex | null, origin = 'injected'): void {
    this.#data = index === null ? null : { index, origin, dataTime: this.#now(), dateFrom: 'injected', hash: null };
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    if (classifySource(this.#config.config.serviceTags.source).kind === 'none') {
      this.#log.info('serviceTags.source is null: no scheduled refresh');
      return;
    }
    // Fresh data waits out the rest of its interval; missing or older data is refreshed now.
    const age = this.#data === null ? Infinity : this.#now() - this.#data.dataTime;
    this.#timer.arm(jitter(this.#intervalMs(), this.#random) - age);
  }

  stop(): void {
    this.#started = false;
    this.#timer.cancel();
    this.#abort?.abort();
  }

  /** Fetches, validates and, if it differs, swaps in the source's data. Never throws. */
  refresh(options: { force?: boolean } = {}): Promise<RefreshResult> {
    if (this.#inflight !== null && options.force !== true) return this.#inflight;
    const previous = this.#inflight ?? Promise.resolve();
    const run: Promise<RefreshResult> = previous.then(() => this.#refreshOnce(options.force === true));
    this.#inflight = run;
    // run never rejects (#refreshOnce catches), so this side chain needs no handler.
    void run.finally(() => {
      if (this.#inflight === run) this.#inflight = null;
    });
    return run;
  }

  async #refreshOnce(force: boolean): Promise<RefreshResult> {
    const generation = this.#generation;
    const abort = new AbortController();
    this.#abort = abort;
    let outcome: Attempt | { error: string };
    try {
      outcome = await this.#attempt(force, abort.signal, generation);
      this.#lastSuccessAt = this.#now();
      this.#lastError = null;
      this.#lastErrorAt = null;
      this.#consecutive = 0;
    } catch (err) {
      this.#failures++;
      this.#consecutive++;
      outcome = { error: this.#fail(err, this.#config.config.serviceTags.source ?? 'no source') };
    }
    if (this.#abort === abort) this.#abort = null;
    this.#warnIfStale();
    if (this.#started && generation === this.#generation)
      this.#timer.arm(nextDelay(this.#consecutive, this.#intervalMs(), this.#random));
    if ('error' in outcome) return { ok: false, error: outcome.error, status: this.status() };
    return { ok: true, ...outcome, status: this.status() };
  }

  /** One fetch-validate-swap; throws the reason when the data in use is kept. */
  async #attempt(force: boolean, signal: AbortSignal, generation: number): Promise<Attempt> {
    const config = this.#config;
    const st = config.config.serviceTags;
    const src = classifySource(st.source);
    if (src.kind === 'none')
      throw new AcrEgressError('SERVICE_TAGS_NO_SOURCE', 'serviceTags.source is null: nothing to refresh from');
    const got: Obtained =
      src.kind === 'file'
        ? await readSourceFile(src.path)
        : await downloadForConfig(src.url, config, {
            fetchImpl: this.#fetch,
            env: this.#env,
            log: this.#log,
            signal,
            now: this.#now,
          });
    const hash = sha256(got.body);
    const before = this.#data;
    const same = before !== null && before.hash === hash;
    const valid = same
      ? null
      : validateServiceTags(got.body, config, {
          current: before?.index.changeNumber ?? null,
          force,
          origin: got.origin,
        });
    const superseded = () => {
      if (generation === this.#generation) return;
      throw new AcrEgressError(
        'SERVICE_TAGS_FETCH_FAILED',
        'serviceTags.source or cloud changed during the refresh; result discarded',
      );
    };
    superseded();
    const cacheIsSource = src.kind === 'file' && st.cacheFile !== null && resolve(src.path) === resolve(st.cacheFile);
    const cacheError = await this.#updateCache(got, hash, cacheIsSource);
    superseded();
    if (cacheError !== undefined)
      this.#log.error({ err: cacheError }, 'service-tag cache not written; the data in memory is unaffected');
    if (valid === null) {
      this.#data = { ...before!, origin: got.origin, dataTime: got.dataTime, dateFrom: got.dateFrom };
      this.#log.info({ changeNumber: before!.index.changeNumber, source: got.origin }, 'service tags unchanged');
      return { changed: false, changes: [], ...(cacheError === undefined ? {} : { cacheError }) };
    }
    const changes = diffUsedTags(this.#needs(config), before?.index ?? null, valid.index);
    // The caller swaps first: if that throws, the data in use has not changed here either.
    // The change number cross-checks the date: a newer change published earlier is worth a look.
    if (before !== null && valid.index.changeNumber > before.index.changeNumber && got.dataTime < before.dataTime)
      this.#log.warn(
        {
          from: before.index.changeNumber,
          to: valid.index.changeNumber,
          publishedAt: iso(got.dataTime),
          before: iso(before.dataTime),
        },
        'service-tag change number went up but the publication date went back; the age uses the new date',
      );
    this.#onUpdate(valid.index, valid.file);
    this.#data = { index: valid.index, origin: got.origin, dataTime: got.dataTime, dateFrom: got.dateFrom, hash };
    this.#saveShared(got.body, got.dataTime, valid.index.changeNumber, hash);
    this.#log.info(
      {
        from: before?.index.changeNumber ?? null,
        to: valid.index.changeNumber,
        source: got.origin,
        page: got.page,
        prefixes: valid.index.prefixCount,
        usedTagChanges: Object.fromEntries(
          changes.map((c) => [c.tag, { added: c.added, removed: c.removed, status: c.status }]),
        ),
      },
      changes.length > 0 ? 'service tags updated: used tags changed' : 'service tags updated',
    );
    this.#warnMissing();
    return { changed: true, changes, ...(cacheError === undefined ? {} : { cacheError }) };
  }

  /** Brings the cache in line with the data just obtained; the error message when it cannot be written. */
  async #updateCache(got: Obtained, hash: string, cacheIsSource: boolean): Promise<string | undefined> {
    const cache = this.#config.config.serviceTags.cacheFile;
    if (cache === null || cacheIsSource) return undefined;
    try {
      await storeCache(cache, got.body, got.dataTime, this.#cacheHash === hash);
      this.#cacheHash = hash;
      return undefined;
    } catch (err) {
      this.#cacheHash = null;
      return (err as Error).message;
    }
  }

  #fail(err: unknown, where: string): string {
    const message = err instanceof Error ? err.message : String(err);
    this.#lastError = message;
    this.#lastErrorAt = this.#now();
    const code = isAcrEgressError(err) ? err.code : 'UNEXPECTED';
    const details = isAcrEgressError(err) ? err.details : [];
    const inUse = this.#data?.index.changeNumber ?? null;
    const words = describeRefreshFailure(code, message, inUse, this.#config.config.serviceTags.enforce);
    this.#log.warn({ code, failure: words.kind, source: where, err: message, details, inUse }, words.message);
    return message;
  }

  #warnIfStale(): void {
    const st = this.#config.config.serviceTags;
    if (st.enforce === false || !this.#stale()) return;
    if (this.#data === null) {
      this.#log.warn(
        { enforce: st.enforce },
        st.enforce === true
          ? 'NO SERVICE-TAG DATA: blocking everything that needs service tags until data arrives'
          : 'NO SERVICE-TAG DATA: service-tag ranges are not enforced until data arrives',
      );
      return;
    }
    this.#log.warn(
      {
        ageDays: Math.floor((this.#ageSeconds() ?? 0) / 86400),
        maxAgeDays: st.maxAgeDays,
        changeNumber: this.#data.index.changeNumber,
        source: this.#data.origin,
      },
      'SERVICE TAGS STALE: still enforcing the old ranges; fix the source or run `acr-egress tags update`',
    );
  }

  /** A new config: if the source or cloud changed, the data in use is re-read for it. Does not call onUpdate. */
  async reconfigure(config: LoadedConfig): Promise<void> {
    (await this.prepare(config)).commit();
  }

  /**
   * Reload, first half: reads what a new source or cloud needs without changing anything in use, so
   * a reload another component refuses leaves the tags as they were. commit() switches; it cannot fail.
   */
  async prepare(config: LoadedConfig): Promise<PreparedTags> {
    const a = this.#config.config.serviceTags;
    const b = config.config.serviceTags;
    const cloudChanged = this.#config.config.cloud !== config.config.cloud;
    if (!cloudChanged && a.source === b.source && a.cacheFile === b.cacheFile) {
      return {
        index: () => this.index,
        commit: () => {
          const hoursChanged = this.#config.config.serviceTags.refreshHours !== b.refreshHours;
          this.#config = config;
          if (this.#started && hoursChanged)
            this.#timer.arm(nextDelay(this.#consecutive, this.#intervalMs(), this.#random));
        },
      };
    }
    const initial = await this.#readInitial(config);
    const read = initial.reads.find((r): r is LocalRead & { data: InUse } => 'data' in r);
    // Same cloud: the old ranges are still right for it; keep enforcing them until the new source answers.
    const next = (): InUse | null => read?.data ?? (cloudChanged ? null : this.#data);
    return {
      index: () => next()?.index ?? null,
      commit: () => {
        this.#generation++;
        this.#abort?.abort();
        const kept = next();
        this.#config = config;
        this.#data = null;
        this.#cacheHash = null;
        // A new source numbers its changes its own way, so nothing is compared with the old data.
        this.#apply(initial);
        if (read === undefined) this.#data = kept;
        this.#log.info(
          { source: b.source, cloud: config.config.cloud, inUse: this.index?.changeNumber ?? null },
          'service-tag source reconfigured',
        );
        if (this.#started) this.#timer.arm(0);
      },
    };
  }

  /** Tags the rules need that the data in use lacks, each with its rule. */
  missing(): Array<{ rule: string; tag: string }> {
    return this.#data === null ? [] : missingTags(this.#needs(this.#config), this.#data.index);
  }

  /** One warning per rule the data cannot serve: that rule is blocked, the others keep their ranges. */
  #warnMissing(): void {
    for (const { rule, tag } of this.missing())
      this.#log.warn(
        { rule, tag, changeNumber: this.#data?.index.changeNumber, enforce: this.#config.config.serviceTags.enforce },
        'service-tag data lacks a tag this rule needs: the rule is blocked (unchecked with when-available); other rules keep their ranges',
      );
  }

  status(): TagsStatus {
    const d = this.#data;
    return {
      changeNumber: d?.index.changeNumber ?? null,
      cloud: d?.index.cloud ?? null,
      source: d?.origin ?? null,
      loadedAt: iso(d?.dataTime ?? null),
      publishedAt: d?.dateFrom === 'file name' ? iso(d.dataTime) : null,
      ageFrom: d?.dateFrom ?? null,
      lastSuccessAt: iso(this.#lastSuccessAt),
      nextRefreshAt: iso(this.#timer.dueAt),
      lastError: this.#lastError,
      lastErrorAt: iso(this.#lastErrorAt),
      stale: this.#stale(),
      ageSeconds: this.#ageSeconds(),
      tags: d === null ? {} : usedTagCounts(this.#needs(this.#config), d.index),
      missing: this.missing(),
      failures: this.#failures,
      consecutiveFailures: this.#consecutive,
    };
  }

  #ageSeconds(): number | null {
    return this.#data === null ? null : Math.max(0, Math.floor((this.#now() - this.#data.dataTime) / 1000));
  }

  #stale(): boolean {
    const age = this.#ageSeconds();
    return age === null || age > this.#config.config.serviceTags.maxAgeDays * 86400;
  }

  #intervalMs(): number {
    return this.#config.config.serviceTags.refreshHours * 3_600_000;
  }
}
