// The dashboard's "Would this be allowed?" box with proxy.clients set and the client field left
// empty: the page sends no client, and the answer is about the host, marked as not client-checked.
// With a client outside proxy.clients the answer is client_not_allowed. Real Chromium, real gateway.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDepsFromGateway } from '../../src/admin/from-gateway.js';
import { startAdmin, type RunningAdmin } from '../../src/admin/start.js';
import { CHROMIUM, ensureUiBuilt } from '../helpers/dashboard.js';
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'check-box-test-token-0123456789';
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium)(
  `check box without a client${haveChromium ? '' : ' (skipped: no /usr/bin/chromium)'}`,
  { timeout: 120_000 },
  () => {
    let gw: TestGateway;
    let admin: RunningAdmin;
    let browser: Browser;
    let page: Page;
    const bodies: string[] = [];

    beforeAll(async () => {
      ensureUiBuilt();
      gw = await startGateway(
        testConfig({
          proxy: { listen: '127.0.0.1:0', clients: ['10.0.0.0/8'] },
          admin: { listen: null, token: TOKEN },
        }),
      );
      admin = (await startAdmin(adminDepsFromGateway(gw.gateway), '127.0.0.1:0')) as RunningAdmin;
      const base = `http://127.0.0.1:${admin.address.port}`;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      const context = await browser.newContext();
      await context.route('**/*', (route) => {
        const req = route.request();
        if (req.url().endsWith('/api/v1/check')) bodies.push(req.postData() ?? '');
        return req.url().startsWith(`${base}/`) ? route.continue() : route.abort();
      });
      page = await context.newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`${base}/ui#/policy`);
      await page.getByLabel('admin token').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('form', { name: 'check' }).waitFor();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await admin?.app.close();
      await gw?.stop();
    });

    it('answers allowed for the host with an empty client field, and says the client was not checked', async () => {
      const form = page.getByRole('form', { name: 'check' });
      await form.locator('input[name="host"]').fill('myregistry.azurecr.io');
      await form.getByRole('button', { name: 'Check' }).click();
      await page.locator('.verdict[data-decision="allowed"] .rule', { hasText: 'registry:myregistry:login' }).waitFor();
      expect(await page.locator('.verdict pre').textContent()).toContain('"clientChecked": false');
      expect(JSON.parse(bodies.at(-1) ?? '{}')).not.toHaveProperty('client');
    });

    it('answers client_not_allowed for a client outside proxy.clients', async () => {
      const form = page.getByRole('form', { name: 'check' });
      await form.locator('input[name="client"]').fill('192.0.2.1');
      await form.getByRole('button', { name: 'Check' }).click();
      await page.locator('.verdict[data-decision="blocked"] .reason', { hasText: 'client_not_allowed' }).waitFor();
      expect(JSON.parse(bodies.at(-1) ?? '{}')).toMatchObject({ client: '192.0.2.1' });
    });
  },
);
