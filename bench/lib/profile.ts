// Reads V8 .cpuprofile files (node --cpu-prof) and summarises self time: the top functions and a
// split by where the code lives (acr-egress, node_modules, Node core, GC, native), idle excluded.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { table } from './result.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Busy (non-idle) milliseconds sampled. */
  busyMs: number;
  /** Busy milliseconds left out as start-up (before the first accepted connection). */
  startupMs: number;
  top: { name: string; where: string; ms: number; share: number }[];
  byArea: { area: string; ms: number; share: number }[];
}

function area(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)' || url === '') return 'native / V8';
  if (url.startsWith('node:')) return 'Node core';
  if (url.includes('/node_modules/')) return 'node_modules';
  if (url.includes('/dist/')) return 'acr-egress';
  return 'other';
}

function shortUrl(url: string): string {
  const j = url.lastIndexOf('/node_modules/');
  if (j >= 0) return url.slice(j + '/node_modules/'.length);
  const i = url.lastIndexOf('/dist/');
  if (i >= 0) return url.slice(i + 1);
  return url;
}

/** Index of the first sample taken inside net's `onconnection`: where start-up ends and traffic begins. */
function firstConnectionSample(profile: CpuProfile, byId: Map<number, ProfileNode>): number {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inConnection = new Map<number, boolean>();
  const check = (id: number): boolean => {
    const known = inConnection.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    const up = parent.get(id);
    const hit = node?.callFrame.functionName === 'onconnection' || (up !== undefined && check(up));
    inConnection.set(id, hit);
    return hit;
  };
  const i = profile.samples.findIndex((id) => check(id));
  return i === -1 ? 0 : i;
}

export function summariseProfile(profile: CpuProfile, topN = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const from = firstConnectionSample(profile, byId);
  let startupUs = 0;
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    const us = profile.timeDeltas[i] ?? 0;
    if (i < from) {
      if (byId.get(id)?.callFrame.functionName !== '(idle)') startupUs += us;
      continue;
    }
    self.set(id, (self.get(id) ?? 0) + us);
  }
  const fns = new Map<string, { name: string; where: string; us: number; area: string }>();
  let busyUs = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busyUs += us;
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const entry = fns.get(key) ?? { name, where, us: 0, area: area(url, name) };
    entry.us += us;
    fns.set(key, entry);
  }
  const areas = new Map<string, number>();
  for (const f of fns.values()) areas.set(f.area, (areas.get(f.area) ?? 0) + f.us);
  const share = (us: number): number => (busyUs === 0 ? 0 : us / busyUs);
  return {
    busyMs: busyUs / 1000,
    startupMs: startupUs / 1000,
    top: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: share(f.us) })),
    byArea: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([a, us]) => ({ area: a, ms: us / 1000, share: share(us) })),
  };
}

/** Every .cpuprofile in dir, merged into one summary (a gateway writes one per process). */
export function summariseProfileDir(dir: string, topN = 15): ProfileSummary | null {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return null;
  }
  if (files.length === 0) return null;
  const profile = JSON.parse(readFileSync(join(dir, files[files.length - 1] as string), 'utf8')) as CpuProfile;
  return summariseProfile(profile, topN);
}

export function profileMarkdown(title: string, s: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  return [
    `**${title}** (${s.busyMs.toFixed(0)} ms busy CPU sampled while serving; ${s.startupMs.toFixed(0)} ms of start-up before the first connection left out)`,
    '',
    table(
      ['where the time went', 'self ms', 'share'],
      s.byArea.map((a) => [a.area, a.ms.toFixed(0), pct(a.share)]),
    ),
    '',
    table(
      ['function', 'location', 'self ms', 'share'],
      s.top.map((f) => [`\`${f.name}\``, f.where, f.ms.toFixed(0), pct(f.share)]),
    ),
  ].join('\n');
}
