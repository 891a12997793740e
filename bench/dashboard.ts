// `npm run bench:ui`: builds the dashboard, serves it from a real gateway on loopback, and measures in
// headless Chromium what a first visit costs: bytes on the wire (compressed) and time until the first
// screen is usable. Writes the table into docs/benchmarks.md and, with --screenshots, the PNGs of the
// main views into docs/images/. Every request stays on 127.0.0.0/8.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makeRecord } from '../src/audit/recorder.js';
import type { Reason } from '../src/policy/reasons.js';
import { ADMIN_TOKEN, CHROMIUM, startDashboardRig, UI_DIR, type DashboardRig } from '../test/helpers/dashboard.js';

const ROOT = join(import.meta.dirname, '..');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
const IMAGES = join(ROOT, 'docs', 'images');
const START = '<!-- bench-ui:start -->';
const END = '<!-- bench-ui:end -->';
const RUNS = 7;

interface Visit {
  /** From navigation start until the view's first element is on screen. */
  usableMs: number;
  domContentLoadedMs: number;
  loadMs: number;
  /** Compressed bytes of the document and its assets (not API answers). */
  assetBytes: number;
  /** The same plus the API answers of the first screen. */
  totalBytes: number;
  requests: number;
}

// Runs in the page before its own scripts: notes when the first screen's element appears, so the
// figure is the page's own clock and not the harness polling for it.
const WATCH = `(() => {
  const t = sessionStorage.getItem('acr-egress.admin-token') ? 'table.records tbody tr' : 'input[name="token"]';
  const seen = () => { if (document.querySelector(t)) { window.__usable = performance.now(); obs.disconnect(); } };
  const obs = new MutationObserver(seen);
  document.addEventListener('DOMContentLoaded', () => { obs.observe(document.body, { childList: true, subtree: true }); seen(); });
})()`;

const MEASURE = `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const assets = res.filter((r) => r.name.includes('/ui/'));
  return {
    usableMs: window.__usable,
    domContentLoadedMs: nav.domContentLoadedEventEnd,
    loadMs: nav.loadEventEnd,
    assetBytes: nav.transferSize + assets.reduce((n, r) => n + r.transferSize, 0),
    totalBytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
    requests: 1 + res.length,
  };
})()`;

const withToken = (token: string): string =>
  `sessionStorage.setItem('acr-egress.admin-token', ${JSON.stringify(token)})`;

/** One cold visit (new context: empty cache and storage). With a token the live view is the first screen. */
async function visit(browser: Browser, base: string, token: boolean): Promise<Visit> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (token) await context.addInitScript(withToken(ADMIN_TOKEN));
  await context.addInitScript(WATCH);
  const page = await context.newPage();
  await page.goto(`${base}/ui`);
  await page.waitForSelector(token ? 'table.records tbody tr' : 'input[name="token"]');
  await page.waitForLoadState('load');
  await page.waitForFunction('window.__usable !== undefined');
  const v = await page.evaluate<Visit>(MEASURE);
  await context.close();
  return v;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** A detail like the gateway's own for each seeded reason, so the why column reads as it would. */
const DETAILS: Record<string, (host: string) => string> = {
  host_not_allowed: (host) => `no rule allows ${host}`,
  ip_not_in_service_tag: (host) => `${host} resolved to 52.168.10.7, outside AzureContainerRegistry.EastUS`,
  sni_mismatch: (host) => `TLS server name evil.example.net differs from ${host}`,
  dns_failure: (host) => `${host}: ENOTFOUND`,
  upstream_unreachable: (host) => `${host}:443 (20.62.128.1): connect ETIMEDOUT`,
};

/**
 * Records spread over the last hour, written into the gateway's store in time order (as a gateway that
 * ran for that hour would have), so the charts have a shape. Runs before any real tunnel.
 */
function seed(rig: DashboardRig): void {
  let state = 42;
  const random = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const reasons: Reason[] = [
    'host_not_allowed',
    'host_not_allowed',
    'host_not_allowed',
    'ip_not_in_service_tag',
    'sni_mismatch',
    'dns_failure',
    'upstream_unreachable',
  ];
  const allowed = [
    ['myregistry.azurecr.io', 'registry:myregistry:login', 'AzureContainerRegistry.EastUS'],
    ['myregistry.eastus.data.azurecr.io', 'registry:myregistry:data:eastus', 'AzureContainerRegistry.EastUS'],
    ['mcr.microsoft.com', 'mcr:login', 'MicrosoftContainerRegistry'],
    ['eastus.data.mcr.microsoft.com', 'mcr:data', 'MicrosoftContainerRegistry'],
  ] as const;
  const now = Date.now();
  const times = Array.from({ length: 400 }, () => now - 3600_000 + Math.floor(random() * 3540_000)).sort(
    (a, b) => a - b,
  );
  const store = rig.gw.gateway.store;
  for (const at of times) {
    const minute = (at - (now - 3600_000)) / 60_000;
    // A burst from one misconfigured client between minutes 35 and 45.
    const burst = minute > 35 && minute < 45 && random() < 0.7;
    const client = burst ? '10.0.7.23' : `10.0.${Math.floor(random() * 3)}.${10 + Math.floor(random() * 20)}`;
    if (burst || random() < 0.2) {
      const reason = burst ? 'host_not_allowed' : pick(reasons);
      const [registryHost] = pick(allowed);
      const host =
        reason === 'host_not_allowed' ? pick(['telemetry.example.com', 'docker.io', 'ghcr.io']) : registryHost;
      const record = makeRecord(
        {
          mode: 'connect',
          client,
          host,
          port: 443,
          decision: {
            allowed: false,
            reason,
            report: false,
            rule: null,
            tag: null,
            detail: DETAILS[reason]?.(host) ?? reason,
          },
        },
        at,
      );
      store.add(record);
    } else {
      const [host, rule, tag] = pick(allowed);
      const record = makeRecord(
        {
          mode: 'connect',
          client,
          host,
          port: 443,
          sni: host,
          ip: tag.startsWith('Azure') ? '20.62.128.1' : '204.79.197.219',
          startedAt: at - Math.floor(random() * 30_000),
          bytesUp: 1_000 + Math.floor(random() * 20_000),
          bytesDown: Math.floor(random() * (host.includes('data') ? 80e6 : 50e3)),
          decision: { allowed: true, reason: null, report: false, rule, tag },
        },
        at,
      );
      store.add(record);
    }
  }
}

async function screenshots(browser: Browser, rig: DashboardRig): Promise<string[]> {
  mkdirSync(IMAGES, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  await context.addInitScript(withToken(ADMIN_TOKEN));
  const page = await context.newPage();
  const shot = async (name: string, ready: (p: Page) => Promise<unknown>): Promise<void> => {
    await ready(page);
    await page.waitForTimeout(300); // let uPlot finish its first paint
    await page.screenshot({ path: join(IMAGES, `dashboard-${name}.png`) });
  };
  await page.goto(`${rig.base}/ui#/live`);
  await shot('live', async (p) => {
    await p.locator('table.records tbody tr').first().waitFor();
    await p.locator('select[name="decision"]').selectOption('blocked');
    await p.locator('table.records tbody tr').first().click();
  });
  await page.goto(`${rig.base}/ui#/charts`);
  await shot('charts', (p) => p.locator('.uplot').first().waitFor());
  await page.goto(`${rig.base}/ui#/policy`);
  await shot('policy', async (p) => {
    await p.locator('input[name="host"]').fill('myregistry.azurecr.io');
    await p.locator('input[name="ip"]').fill('10.1.2.3');
    await p.getByRole('button', { name: 'Check' }).click();
    await p.locator('.verdict').waitFor();
  });
  await page.goto(`${rig.base}/ui#/tags`);
  await shot('service-tags', (p) => p.getByText('fresh', { exact: true }).waitFor());
  await page.goto(`${rig.base}/ui#/health`);
  await shot('health', (p) => p.getByText('ready', { exact: true }).waitFor());
  // A phone: the live view at 420 px, its table scrolling in its own box.
  await page.setViewportSize({ width: 420, height: 800 });
  await page.goto(`${rig.base}/ui#/live`);
  await shot('live-narrow', (p) => p.locator('table.records tbody tr').first().waitFor());
  await context.close();
  return readdirSync(IMAGES)
    .filter((f) => f.startsWith('dashboard-'))
    .map((f) => `${f} ${Math.round(statSync(join(IMAGES, f)).size / 1024)} KiB`);
}

function builtSizes(): { raw: number; gzip: number; br: number } {
  const sum = { raw: 0, gzip: 0, br: 0 };
  for (const f of readdirSync(UI_DIR)) {
    const size = statSync(join(UI_DIR, f)).size;
    if (f.endsWith('.gz')) sum.gzip += size;
    else if (f.endsWith('.br')) sum.br += size;
    else sum.raw += size;
  }
  return sum;
}

function updateDoc(table: string): void {
  const current = readFileSync(DOC, 'utf8');
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  const block = `${START}\n${table}\n${END}`;
  const next =
    start !== -1 && end > start
      ? current.slice(0, start) + block + current.slice(end + END.length)
      : `${current.trimEnd()}\n\n## Dashboard (/ui)\n\n${block}\n`;
  writeFileSync(DOC, next);
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const rig = await startDashboardRig();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    seed(rig);
    await rig.allowedTunnel();
    await rig.blockedConnect('evil.example.net');
    const login: Visit[] = [];
    const live: Visit[] = [];
    // --screenshots-only: the PNGs without timing visits (a busy machine's figures belong nowhere).
    const shotsOnly = process.argv.includes('--screenshots-only');
    for (let i = 0; i < (shotsOnly ? 1 : RUNS); i++) {
      login.push(await visit(browser, rig.base, false));
      live.push(await visit(browser, rig.base, true));
    }
    const sizes = builtSizes();
    const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
    const row = (name: string, v: Visit[]): string =>
      `| ${name} | ${median(v.map((x) => x.usableMs)).toFixed(0)} ms | ${median(v.map((x) => x.domContentLoadedMs)).toFixed(0)} ms | ${median(v.map((x) => x.loadMs)).toFixed(0)} ms | ${kib(median(v.map((x) => x.assetBytes)))} | ${kib(median(v.map((x) => x.totalBytes)))} | ${median(v.map((x) => x.requests))} |`;
    const table = [
      `<!-- Generated by \`npm run bench:ui\` (bench/dashboard.ts): edits between these markers are overwritten. -->`,
      '',
      `Cold visits (new browser context: empty cache) of \`/ui\` served by a gateway on loopback, headless Chromium ${browser.version()}, median of ${RUNS}; ${new Date().toISOString().slice(0, 10)}, ${process.platform} ${process.arch}, Node ${process.version}.`,
      '',
      '| first screen | usable after | DOMContentLoaded | load | page transfer | with API answers | requests |',
      '|---|---|---|---|---|---|---|',
      row('login (no token)', login),
      row('live view (token in the tab)', live),
      '',
      `Built assets (dist/ui): ${kib(sizes.raw)} raw, ${kib(sizes.gzip)} gzip, ${kib(sizes.br)} brotli (Chromium asks for brotli). "Usable after" is from navigation start until the login box, or the first live record, is on screen.`,
    ].join('\n');
    if (!shotsOnly) {
      updateDoc(table);
      process.stdout.write(`${table}\n`);
    }
    if (shotsOnly || process.argv.includes('--screenshots'))
      process.stdout.write(`${(await screenshots(browser, rig)).join('\n')}\n`);
  } finally {
    await browser.close();
    await rig.stop();
  }
}

await main();
