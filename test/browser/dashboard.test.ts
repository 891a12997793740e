// The /ui dashboard in real headless Chromium against a real gateway on loopback with real tunnels:
// sign-in, the live view, filters, the check box, reload errors, escaping, CSP, and no outside requests.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, CHROMIUM, startDashboardRig, type DashboardRig } from '../helpers/dashboard.js';

const haveChromium = existsSync(CHROMIUM);
// How long a record may take to reach the live view: a functional bound of the issue, not a benchmark.
const LIVE_WITHIN_MS = 2000;

let rig: DashboardRig;
let browser: Browser;
let page: Page;
const requested: string[] = [];
const cspViolations: string[] = [];
const pageErrors: string[] = [];

// Run in the page (the tests are typed without the DOM): the words of the first rows' why, host and
// monospace cells that the layout broke across lines. A word broken in two has two line boxes.
const BROKEN_WORDS = `(() => {
  const out = [];
  for (const cell of document.querySelectorAll('table.records tbody tr:nth-child(-n+10) td:is(.why, .host, .mono)')) {
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node !== null; node = walk.nextNode()) {
      for (const m of (node.textContent ?? '').matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) out.push(m[0]);
      }
    }
  }
  return out;
})()`;

// Generous bounds: the machine running the suite may be busy; none of these is a timing assertion.
describe.skipIf(!haveChromium)(
  `dashboard in headless Chromium${haveChromium ? '' : ' (skipped: no /usr/bin/chromium)'}`,
  { timeout: 120_000 },
  () => {
    beforeAll(async () => {
      rig = await startDashboardRig();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      // Anything not for the gateway is recorded and refused, so a stray fetch cannot leave the machine.
      await context.route('**/*', (route) => {
        const url = route.request().url();
        requested.push(url);
        return url.startsWith(`${rig.base}/`) ? route.continue() : route.abort();
      });
      page = await context.newPage();
      page.setDefaultTimeout(30_000);
      page.on('console', (msg) => {
        if (/content security policy/i.test(msg.text())) cspViolations.push(msg.text());
      });
      page.on('pageerror', (err) => pageErrors.push(err.message));
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await rig?.stop();
    });

    it('serves the shell with a strict CSP and without a token shows no data, and a prompt rather than a 401', async () => {
      const response = await page.goto(`${rig.base}/ui`);
      expect(response?.status()).toBe(200);
      const csp = response?.headers()['content-security-policy'] ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      await page.getByRole('status').filter({ hasText: 'Paste an admin token to sign in.' }).waitFor();
      expect(await page.getByRole('alert').count()).toBe(0);
      expect(await page.locator('nav').count()).toBe(0);
      expect(await page.locator('table.records').count()).toBe(0);
      // The budget: the page and its assets under 200 KiB on the wire (brotli/gzip as sent).
      const bytes = await page.evaluate(() => {
        const perf = (
          globalThis as unknown as { performance: { getEntries(): { name: string; transferSize?: number }[] } }
        ).performance;
        return perf
          .getEntries()
          .filter((e) => e.name.includes('/ui'))
          .reduce((n, e) => n + (e.transferSize ?? 0), 0);
      });
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThan(200 * 1024);
      // The page's own fetch of the data, without a token: refused.
      const status = await page.evaluate(async () => (await fetch('/api/v1/logs')).status);
      expect(status).toBe(401);
    });

    it('refuses a wrong token with the API message and signs in with the right one', async () => {
      await page.getByLabel('admin token').fill('not-the-token-at-all-000');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('the bearer token is not valid').waitFor();
      await page.getByLabel('admin token').fill(ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('nav').waitFor();
      await page.getByText('stream: open').waitFor();
      expect(page.url()).not.toContain(ADMIN_TOKEN);
    });

    it('shows a tunnel made during the test in the live view within 2 s of its record', async () => {
      const rec = await rig.allowedTunnel();
      expect(rec.decision).toBe('allowed');
      const row = page.locator(`tr[data-id="${rec.id}"]`);
      await row.waitFor({ timeout: LIVE_WITHIN_MS });
      expect(await row.textContent()).toContain('myregistry.azurecr.io');
      await row.click();
      const detail = page.getByRole('complementary', { name: 'record' });
      expect(await detail.textContent()).toContain('registry:myregistry:login');
      expect(await detail.textContent()).toContain('AzureContainerRegistry');
    });

    it('narrows the list with the filters', async () => {
      const blocked = await rig.blockedConnect('evil.example.net');
      const allowed = await rig.allowedTunnel();
      await page.locator(`tr[data-id="${allowed.id}"]`).waitFor();
      await page.locator(`tr[data-id="${blocked.id}"]`).waitFor();
      const total = await page.locator('table.records tbody tr').count();
      await page.locator('select[name="decision"]').selectOption('blocked');
      await page.locator(`tr[data-id="${allowed.id}"]`).waitFor({ state: 'detached' });
      const blockedRows = await page.locator('table.records tbody tr').count();
      expect(blockedRows).toBeLessThan(total);
      expect(await page.locator('table.records tbody tr.allowed').count()).toBe(0);
      await page.locator('select[name="reason"]').selectOption('host_not_allowed');
      await page.locator('input[name="host"]').fill('evil.example');
      await page.locator(`tr[data-id="${blocked.id}"]`).waitFor();
      for (const text of await page.locator('table.records tbody tr').allTextContents())
        expect(text).toContain('evil.example');
      await page.locator('input[name="host"]').fill('nothing-matches.example');
      await page.getByText('No records match yet.').waitFor();
      await page.getByRole('button', { name: 'Clear' }).click();
      await page.locator(`tr[data-id="${allowed.id}"]`).waitFor();
    });

    it('shows a failure as failed, not blocked, and the decision filter tells failures from policy blocks', async () => {
      await page.getByRole('button', { name: 'Clear' }).click();
      const policy = await rig.blockedConnect('policy-block.example.net');
      const failure = rig.gw.gateway.recorder.record({
        mode: 'connect',
        client: '127.0.0.1',
        host: 'gone.azurecr.io',
        port: 443,
        decision: {
          allowed: false,
          reason: 'dns_failure',
          report: false,
          rule: 'registry:gone:login',
          tag: null,
          detail: 'gone.azurecr.io: ENOTFOUND',
        },
      });
      const failureRow = page.locator(`tr[data-id="${failure.id}"]`);
      const policyRow = page.locator(`tr[data-id="${policy.id}"]`);
      await failureRow.waitFor();
      await policyRow.waitFor();
      expect(await failureRow.locator('.badge').textContent()).toBe('failed');
      expect(await failureRow.locator('.badge').getAttribute('class')).toContain('warn');
      expect(await policyRow.locator('.badge').textContent()).toBe('blocked');
      // The why column carries the detail without a click.
      expect(await failureRow.locator('td.why').textContent()).toBe('gone.azurecr.io: ENOTFOUND');
      expect(await policyRow.locator('td.why').textContent()).toBe(policy.detail);

      // The reason list groups the failures apart from the policy reasons.
      const failures = await page.locator('select[name="reason"] optgroup[label="failures"] option').allTextContents();
      expect(failures).toEqual(expect.arrayContaining(['dns_failure', 'upstream_unreachable', 'upstream_tls_error']));
      expect(failures).not.toContain('host_not_allowed');
      await page.locator('select[name="decision"]').selectOption('failed');
      await policyRow.waitFor({ state: 'detached' });
      await failureRow.waitFor();
      for (const badge of await page.locator('table.records tbody .badge').allTextContents())
        expect(badge).toBe('failed');
      await page.locator('select[name="decision"]').selectOption('policy');
      await failureRow.waitFor({ state: 'detached' });
      await policyRow.waitFor();
      for (const badge of await page.locator('table.records tbody .badge').allTextContents())
        expect(badge).toBe('blocked');
      await page.locator('select[name="decision"]').selectOption('blocked');
      await failureRow.waitFor();
      await policyRow.waitFor();
      await page.getByRole('button', { name: 'Clear' }).click();
    });

    it('keeps every word of why, host and reason whole with the record drawer open', async () => {
      const rec = await rig.blockedConnect('a-rather-long-host-name-for-the-table.example.net');
      const row = page.locator(`tr[data-id="${rec.id}"]`);
      await row.waitFor();
      await row.click();
      await page.getByRole('complementary', { name: 'record' }).waitFor();
      // A word broken across lines has two boxes; every word of these cells must have one.
      const broken = await page.evaluate<string[]>(BROKEN_WORDS);
      expect(broken).toEqual([]);
      expect(await row.locator('td.why').textContent()).toBe(rec.detail);
      await page.getByRole('button', { name: 'Close' }).click();
    });

    it('shows markup in host, SNI and detail as text: a record a client made, and an injected one', async () => {
      // Through the proxy: a ClientHello whose server name is markup (printable ASCII, so the parser
      // takes it) is blocked with sni_mismatch, and the record carries it in sni and detail.
      const sni = '<img/src=x/onerror=window.__pwned=3>';
      const viaProxy = await rig.wrongSni(sni);
      expect(viaProxy).toMatchObject({ reason: 'sni_mismatch', sni });
      // Host names with markup cannot pass the proxy's CONNECT parser, so that record is written
      // through the gateway's own recorder (audit log, store, metrics, stream) as a proxy would.
      const host = '<img src=x onerror="window.__pwned=1">.example';
      const detail = '<script>window.__pwned=2</script><b id="injected">bold</b>';
      const injected = rig.gw.gateway.recorder.record({
        mode: 'connect',
        client: '127.0.0.1',
        host,
        port: 443,
        decision: { allowed: false, reason: 'host_not_allowed', report: false, rule: null, tag: null, detail },
      });
      const row = page.locator(`tr[data-id="${injected.id}"]`);
      await row.waitFor({ timeout: LIVE_WITHIN_MS });
      expect(await row.locator('td.host').textContent()).toBe(host);
      await row.click();
      const panel = page.getByRole('complementary', { name: 'record' });
      await panel.getByText(detail, { exact: true }).waitFor();

      await page.locator(`tr[data-id="${viaProxy.id}"]`).click();
      await panel.getByText(sni, { exact: true }).waitFor();
      await panel.getByText(viaProxy.detail as string, { exact: true }).waitFor();

      expect(await page.locator('main img').count()).toBe(0);
      expect(await page.locator('#injected').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    });

    it('answers the check box with allowed and the rule, and blocked with the reason', async () => {
      await page.goto(`${rig.base}/ui#/policy`);
      const form = page.getByRole('form', { name: 'check' });
      await form.locator('input[name="host"]').fill('myregistry.azurecr.io');
      await form.getByRole('button', { name: 'Check' }).click();
      await page.locator('.verdict[data-decision="allowed"] .rule', { hasText: 'registry:myregistry:login' }).waitFor();
      await form.locator('input[name="host"]').fill('evil.example.com');
      await form.getByRole('button', { name: 'Check' }).click();
      await page.locator('.verdict[data-decision="blocked"] .reason', { hasText: 'host_not_allowed' }).waitFor();
      await form.locator('input[name="host"]').fill('myregistry.azurecr.io');
      await form.locator('input[name="ip"]').fill('10.1.2.3');
      await form.getByRole('button', { name: 'Check' }).click();
      await page.locator('.verdict[data-decision="blocked"] .reason', { hasText: 'private_destination' }).waitFor();
      expect(await page.locator('.verdict pre').textContent()).toContain('"ip": "10.1.2.3"');
      // The rules are listed beside it.
      await page.getByRole('cell', { name: 'mcr:data' }).waitFor();
    });

    it('shows every problem of a refused reload, and then a good one', async () => {
      const good = readFileSync(rig.gw.configFile, 'utf8');
      const bad = JSON.parse(good) as Record<string, any>;
      bad.proxy.ports = ['https'];
      bad.mode = 'sometimes';
      writeFileSync(rig.gw.configFile, JSON.stringify(bad));
      try {
        await page.goto(`${rig.base}/ui#/reload`);
        await page.getByRole('button', { name: 'Reload now' }).click();
        const alert = page.getByRole('alert');
        await alert.waitFor();
        expect(await alert.textContent()).toContain('400 config_invalid');
        const problems = await alert.locator('.problems li').allTextContents();
        expect(problems.some((p) => p.includes('proxy.ports'))).toBe(true);
        expect(problems.some((p) => p.includes('mode'))).toBe(true);
      } finally {
        writeFileSync(rig.gw.configFile, good);
      }
      await page.getByRole('button', { name: 'Reload now' }).click();
      await page.getByRole('status').filter({ hasText: 'Reloaded' }).waitFor();
    });

    it('renders history with cursor paging, charts, service tags, health and pulls', async () => {
      await page.goto(`${rig.base}/ui#/history`);
      await page.locator('input[name="limit"]').fill('1');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText('1 records, more available').waitFor();
      await page.getByRole('button', { name: 'Older records' }).click();
      await page.getByText('2 records').waitFor();
      expect(await page.locator('table.records tbody tr').count()).toBe(2);

      await page.goto(`${rig.base}/ui#/charts`);
      await page.locator('.totals').waitFor();
      await page.locator('.uplot').first().waitFor();
      await page.getByText('myregistry', { exact: true }).waitFor();
      expect(await page.locator('.totals').textContent()).toMatch(/[1-9]/);
      // Every bucket of the range is on the axis, the empty ones as 0: 7 days of 6 h buckets, not
      // just the one bucket that holds this test's records.
      await page.getByLabel('range').selectOption('7d');
      const charts = page.locator('.chart[data-points]');
      await expect.poll(async () => charts.first().getAttribute('data-points')).toMatch(/^2[89]$/);
      const weekAgo = Date.now() / 1000 - 7 * 86400;
      for (const chart of await charts.all()) {
        expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(28);
        expect(Number(await chart.getAttribute('data-from'))).toBeGreaterThan(weekAgo - 6 * 3600);
        expect(Number(await chart.getAttribute('data-to'))).toBeLessThanOrEqual(Date.now() / 1000);
      }

      await page.goto(`${rig.base}/ui#/tags`);
      await page.getByText('fresh', { exact: true }).waitFor();
      await page.getByRole('cell', { name: 'registry:myregistry:login' }).waitFor();
      expect(await page.getByRole('cell', { name: 'registry:myregistry:login' }).count()).toBe(1);

      await page.goto(`${rig.base}/ui#/health`);
      await page.getByText('ready', { exact: true }).waitFor();
      // The decision store in words, not a dump of its keys.
      const store = page.locator('dd.store');
      await store.getByText(/^holds \d+ records from /).waitFor();
      expect(await store.textContent()).toContain('in memory');
      expect(await store.textContent()).not.toMatch(/backend:|queueMax|flushMs/);
      expect(await page.getByRole('status', { name: 'no service-tag data' }).count()).toBe(0);

      await page.goto(`${rig.base}/ui#/pulls`);
      await page.locator('section.card .empty').waitFor();
      expect(await page.locator('section.card .empty').textContent()).toContain(
        'only for registries with inspect: true',
      );
    });

    it('is usable at 420 px: no view scrolls the page sideways', async () => {
      await page.setViewportSize({ width: 420, height: 860 });
      try {
        for (const view of ['live', 'history', 'charts', 'health', 'pulls', 'tags', 'policy', 'reload']) {
          await page.goto(`${rig.base}/ui#/${view}`);
          await page.locator('section.card').first().waitFor();
          // Each view's data is on screen before it is measured: a late table must not widen the page.
          const ready: Record<string, string> = {
            live: 'table.records',
            charts: '.uplot',
            health: 'dd.store li',
            tags: 'table.records',
            policy: 'table.records',
          };
          if (ready[view] !== undefined) await page.locator(ready[view]).first().waitFor();
          const { scroll, client } = await page.evaluate<{ scroll: number; client: number }>(
            '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
          );
          expect(client).toBeGreaterThan(0);
          expect(scroll, view).toBeLessThanOrEqual(client);
        }
      } finally {
        await page.setViewportSize({ width: 1400, height: 900 });
      }
    });

    it('sent no request to any host but the gateway, broke no CSP rule and threw no error', () => {
      expect(requested.length).toBeGreaterThan(0);
      expect(requested.filter((u) => !u.startsWith(`${rig.base}/`))).toEqual([]);
      expect(cspViolations).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  },
);

describe.skipIf(!haveChromium)('dashboard of a gateway with no service-tag data', { timeout: 120_000 }, () => {
  let bare: DashboardRig;
  let bareBrowser: Browser;
  let p: Page;

  beforeAll(async () => {
    bare = await startDashboardRig({ tags: 'none' });
    bareBrowser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const context = await bareBrowser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.route('**/*', (route) =>
      route.request().url().startsWith(`${bare.base}/`) ? route.continue() : route.abort(),
    );
    p = await context.newPage();
    p.setDefaultTimeout(30_000);
    await p.goto(`${bare.base}/ui`);
    await p.getByLabel('admin token').fill(ADMIN_TOKEN);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator('nav').waitFor();
  }, 120_000);

  afterAll(async () => {
    await bareBrowser?.close();
    await bare?.stop();
  });

  it.each(['health', 'tags'])(
    '%s says there is no data, that ranges are NOT enforced, and how to fix it',
    async (view) => {
      await p.goto(`${bare.base}/ui#/${view}`);
      const notice = p.getByRole('status', { name: 'no service-tag data' });
      await notice.waitFor();
      const words = (await notice.textContent()) ?? '';
      expect(words).toContain('No service-tag data is loaded.');
      expect(words).toContain('Ranges are NOT enforced');
      expect(words).toContain('acr-egress tags update');
      await p.getByText('no data', { exact: true }).waitFor();
      expect(await p.locator('main').textContent()).not.toMatch(/change none|\bstale\b/);
    },
  );
});
