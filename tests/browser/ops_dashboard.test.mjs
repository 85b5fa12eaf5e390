// The operations dashboard (/ops) in a real browser (Debian's Chromium, headless, driven by
// playwright-core), against the real server with simulated models: a wrong admin token is
// refused, the right one signs in; the charts fill from the traffic the test sends; the
// storm brake, the chaos panel, the price form and the pricing flush change what the server
// does (checked through the server's own API and pages, not the dashboard's word); the A/B
// table or its "no data" note renders. A screenshot of each state goes to MA_ARTIFACT_DIR.
//
// Started by CTest with MANGAASSIST_BIN (the built binary), MA_SOURCE_DIR and MA_ARTIFACT_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer as start, launchBrowser } from './harness.mjs';

const artifacts = process.env.MA_ARTIFACT_DIR || path.join(os.tmpdir(), 'mangaassist-browser-artifacts');
const kAdmin = 'ops-browser-test-admin-token';  // tests/browser/ops.toml
// The config's admin token, whatever the caller's environment.
const startServer = () => start('ops.toml', { MANGAASSIST_ADMIN_TOKEN: undefined });

test('the operations dashboard signs in, charts the traffic and drives the runbook switches', async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  const { proc, port } = await startServer();
  const base = `http://localhost:${port}`;
  const admin = { Authorization: `Bearer ${kAdmin}`, Accept: 'application/json' };
  const statusJson = async () => (await fetch(`${base}/status`, { headers: admin })).json();
  const chat = async (message) => {
    const r = await fetch(`${base}/v1/chat`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                               body: JSON.stringify({ message }) });
    assert.equal(r.status, 200, `chat: ${r.status}`);
    return r.json();
  };
  const browser = await launchBrowser();
  const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `ops-${name}.png`), fullPage: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // Anything the page's Content-Security-Policy blocks (an inline script or style, a
    // request elsewhere) shows up here: the dashboard and uPlot must need none.
    const cspViolations = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    await page.goto(`${base}/ops`);
    await page.locator('#login-form').waitFor();
    assert.equal(await page.locator('#dashboard').isVisible(), false);
    await shot(page, '1-login');

    // A wrong token: refused with a clear message, no dashboard, nothing kept.
    await page.fill('#login-token', 'not-the-admin-token');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => /Wrong admin token/.test(document.getElementById('login-error').textContent));
    assert.equal(await page.locator('#dashboard').isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await shot(page, '2-wrong-token');

    // The right one: the dashboard, the token kept in this tab's session.
    await page.fill('#login-token', kAdmin);
    await page.click('#login-form button[type=submit]');
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#login').isVisible(), false);
    assert.ok(await page.evaluate((t) => Object.values(sessionStorage).includes(t), kAdmin));
    await page.waitForFunction(() => /State: normal/.test(document.getElementById('ops-state').textContent));

    // Traffic, over HTTP: the tier chart shows replies per second from the counters' deltas.
    for (let i = 0; i < 6; i++) {
      const r = await chat(i % 2 ? 'ONE PIECEの105巻はいくら？' : `Recommend something like Frieren ${i}`);
      assert.equal(r.degraded, false);
    }
    await page.waitForFunction(() => Number(document.getElementById('chart-tiers').dataset.nonzero) > 0,
                               null, { timeout: 20000 });
    for (const id of ['chart-tiers', 'chart-errors', 'chart-breakers', 'chart-limiter', 'chart-retries',
                      'chart-budget', 'chart-ratelimit', 'chart-cache', 'chart-priceguard', 'chart-cost']) {
      assert.equal(await page.locator(`#${id} canvas`).count(), 1, `${id} has a canvas`);
      // A counter with labels has no series before its first event: the errors (checked
      // under chaos below).
      if (id !== 'chart-errors') {
        assert.ok(Number(await page.locator(`#${id}`).getAttribute('data-points')) > 0, `${id} has points`);
      }
    }
    assert.ok(Number(await page.locator('#chart-cost').getAttribute('data-nonzero')) > 0, 'the models cost money');
    assert.ok(await page.locator('#alarms li').count() > 0, 'the alarms are listed');
    await shot(page, '3-charts');

    // The storm brake: RETRY_MAX_ATTEMPTS 0 on the server, the label says so; a second click
    // restores the value before.
    const before = (await statusJson()).flags.RETRY_MAX_ATTEMPTS;
    assert.notEqual(before, 0);
    await page.click('#brake');
    await page.waitForFunction(() => document.getElementById('brake').getAttribute('aria-pressed') === 'true');
    assert.match(await page.locator('#brake').textContent(), /Storm brake ON \(RETRY_MAX_ATTEMPTS=0\)/);
    assert.equal((await statusJson()).flags.RETRY_MAX_ATTEMPTS, 0);
    await shot(page, '4-brake-on');
    await page.click('#brake');
    await page.waitForFunction(() => document.getElementById('brake').getAttribute('aria-pressed') === 'false');
    assert.match(await page.locator('#brake').textContent(), new RegExp(`RETRY_MAX_ATTEMPTS=${before}\\)`));
    assert.equal((await statusJson()).flags.RETRY_MAX_ATTEMPTS, before);

    // Chaos: an outage of every simulated model from the panel; a message is answered from
    // below the models.
    await page.selectOption('#chaos-model', 'all');
    await page.check('#chaos-outage');
    await page.fill('#chaos-duration', '120');
    await page.click('#chaos-apply');
    await page.waitForFunction(() => /chaos on all for 120 s/.test(document.getElementById('chaos-result').textContent));
    const degraded = await chat('進撃の巨人みたいなおすすめの漫画は？');
    assert.equal(degraded.degraded, true, JSON.stringify(degraded));
    assert.ok(!['primary', 'secondary'].includes(degraded.tier), degraded.tier);
    await page.waitForFunction(() => Number(document.getElementById('chart-errors').dataset.nonzero) > 0,
                               null, { timeout: 20000 });
    await shot(page, '5-chaos-outage');
    await page.click('#chaos-clear');
    await page.waitForFunction(() => /chaos cleared on all/.test(document.getElementById('chaos-result').textContent));

    // A price from the form, seen on the series page; a pricing flush answers.
    await page.fill('#price-product', 'mg-0004-v105');
    await page.fill('#price-yen', '640');
    await page.click('#price-apply');
    await page.waitForFunction(() => /price of mg-0004-v105: 640 yen/.test(document.getElementById('ops-log').textContent));
    const series = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await series.goto(`${base}/series/mg-0004?lang=ja`);
    assert.match(await series.locator('#mg-0004-v105').textContent(), /640円/);
    await series.screenshot({ path: path.join(artifacts, 'ops-6-series-price.png'), fullPage: true });
    await series.close();
    await page.click('#flush-pricing');
    await page.waitForFunction(() => /pricing cache flushed: \d+ entries removed/.test(document.getElementById('ops-log').textContent));

    // The A/B comparison: a row per version, or the note that there is no data yet.
    await page.waitForFunction(() => document.querySelector('#ab-table tr[data-version]') ||
                                     /No experiment data yet/.test(document.getElementById('ab-note').textContent));
    const ab = await fetch(`${base}/admin/ab`, { headers: admin });
    if (ab.status === 200) {
      for (const v of (await ab.json()).versions) {
        assert.equal(await page.locator(`#ab-table tr[data-version="${v.version}"] td`).count(), 9);
      }
    } else {
      assert.equal(ab.status, 404);
      assert.match(await page.locator('#ab-note').textContent(), /No experiment data yet/);
    }
    // The table's rendering of the documented shape (GET /admin/ab, docs/api.md), answered by
    // the test in place of the server: one row per version, the rates as percentages.
    await page.route('**/admin/ab', (route) => route.fulfill({
      status: 200, contentType: 'application/json',
      body: JSON.stringify({ split: { v2: 50, v3: 50 }, retry_window_s: 60, abandon_after_s: 600, versions: [
        { version: 'v2', users: 40, degraded_replies: 52, retried_within_60s: 13, retry_rate: 0.25, abandoned: 5,
          abandonment_rate: 0.125, left_question: 7, feedback: { helpful: 9, not_helpful: 3, understood: 11, not_understood: 2 } },
        { version: 'v3', users: 38, degraded_replies: 47, retried_within_60s: 4, retry_rate: 0.0851, abandoned: 2,
          abandonment_rate: 0.0526, left_question: 12, feedback: { helpful: 14, not_helpful: 1, understood: 15, not_understood: 0 } },
      ] }),
    }));
    await page.locator('#ab-table tr[data-version="v3"]').waitFor();
    const row = (v, col) => page.locator(`#ab-table tr[data-version="${v}"] [data-col="${col}"]`).textContent();
    assert.equal(await row('v2', 'users'), '40');
    assert.equal(await row('v2', 'retry_rate'), '25.0% (13)');
    assert.equal(await row('v3', 'abandonment_rate'), '5.3% (2)');
    assert.equal(await row('v3', 'helpful'), '14');
    assert.equal(await row('v3', 'not_understood'), '0');
    assert.equal(await page.locator('#ab-table tbody tr').count(), 2);
    await shot(page, '7-actions-and-ab');
    await page.unroute('**/admin/ab');

    // Readable at phone width: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 390 + 1);
    await shot(page, '8-phone');

    // Signing out forgets the token.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.click('#logout');
    await page.locator('#login-form').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);

    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
  }
});
