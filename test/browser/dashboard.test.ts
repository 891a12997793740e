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

    it('serves the shell with a strict CSP and without a token shows no data, only the API 401', async () => {
      const response = await page.goto(`${rig.base}/ui`);
      expect(response?.status()).toBe(200);
      const csp = response?.headers()['content-security-policy'] ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      const alert = page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.textContent()).toContain('401 unauthorized');
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

      await page.goto(`${rig.base}/ui#/tags`);
      await page.getByText('fresh', { exact: true }).waitFor();
      await page.getByRole('cell', { name: 'registry:myregistry:login' }).waitFor();
      expect(await page.getByRole('cell', { name: 'registry:myregistry:login' }).count()).toBe(1);

      await page.goto(`${rig.base}/ui#/health`);
      await page.getByText('ready', { exact: true }).waitFor();

      await page.goto(`${rig.base}/ui#/pulls`);
      await page.locator('section.card .empty').waitFor();
    });

    it('sent no request to any host but the gateway, broke no CSP rule and threw no error', () => {
      expect(requested.length).toBeGreaterThan(0);
      expect(requested.filter((u) => !u.startsWith(`${rig.base}/`))).toEqual([]);
      expect(cspViolations).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  },
);
