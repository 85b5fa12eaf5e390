// Seed incident 5 in a real browser (issue 22): an operator injects a model outage from the
// /ops dashboard while a visitor chats. Their question gets the calm notice (links that open
// pages, a countdown, never "try again") and their banner turns, pushed by the server; they
// leave the question; the operator ends the outage and the answer arrives by
// itself, once. Feedback on the notice shows in the dashboard's A/B comparison, and the storm
// brake pulled on the dashboard shows on /status.
//
// Started by CTest with MANGAASSIST_BIN, MA_SOURCE_DIR and MA_ARTIFACT_DIR (screenshots of
// every state, kept as test artifacts, never committed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, launchBrowser } from './harness.mjs';

const artifacts = process.env.MA_ARTIFACT_DIR || path.join(os.tmpdir(), 'mangaassist-browser-artifacts');
const adminToken = 'outage-test-admin-token-0123456789';

async function shot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}/outage-${name}.png`, fullPage: true });
}

test('an outage from the dashboard: calm notice, the question left and answered by itself', async () => {
  const { proc, port } = await startServer('outage.toml', { MANGAASSIST_ADMIN_TOKEN: adminToken });
  const base = `http://localhost:${port}`;
  const browser = await launchBrowser();
  try {
    // The operator signs in to the dashboard.
    const ops = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await ops.goto(`${base}/ops`);
    await ops.fill('#login-token', adminToken);
    await ops.click('#login-submit');
    await ops.locator('#dashboard').waitFor({ state: 'visible' });

    // A visitor, on a phone, in Japanese.
    const chat = await browser.newPage({ viewport: { width: 390, height: 844 }, locale: 'ja-JP' });
    await chat.goto(`${base}/?lang=ja`);
    await chat.waitForFunction(() => document.getElementById('state').textContent === 'オンライン');
    assert.equal(await chat.locator('#banner').isVisible(), false, 'no banner while all is well');
    await chat.fill('#text', 'ONE PIECEの105巻はいくら？');
    await chat.click('#send');
    const first = chat.locator('.msg.bot').last();
    await first.locator('.meta').waitFor();
    assert.match(await first.textContent(), /528円/);
    // Asked again while the answer is fresh: not sent; the page points at the answer.
    const asked = await chat.locator('.msg.user').count();
    await chat.fill('#text', 'ONE PIECEの105巻はいくら？');
    await chat.click('#send');
    await chat.locator('.msg.bot.repeat').waitFor();
    assert.equal(await chat.locator('.msg.user').count(), asked, 'not re-sent');
    await shot(chat, '1-normal');

    // The operator injects an outage of every model from the chaos panel.
    await ops.selectOption('#chaos-model', 'all');
    await ops.check('#chaos-outage');
    await ops.fill('#chaos-duration', '600');
    await ops.click('#chaos-apply');
    await ops.locator('#chaos-result').filter({ hasText: /outage yes/ }).waitFor();
    await shot(ops, '2-chaos-applied');

    // The visitor asks; the reply is the calm notice, and the banner turns (pushed over the
    // WebSocket: the page asks the server for nothing).
    // Only a model answers this (no cached or static answer): the notice is the degradation message.
    const question = 'マンガの歴史について面白い話を教えて';
    await chat.fill('#text', question);
    await chat.click('#send');
    const notice = chat.locator('.msg.bot').last();
    await notice.locator('.meta').waitFor({ timeout: 15000 });
    assert.ok(await notice.evaluate((el) => el.classList.contains('degraded')));
    await chat.locator('#banner.shown').waitFor({ timeout: 10000 });
    assert.match(await chat.locator('#banner').getAttribute('data-state'), /down|degraded/);
    // A countdown, on the notice and the send button; links as buttons; the offer to leave it.
    await notice.locator('.countdown').waitFor();
    assert.match(await notice.locator('.countdown').textContent(), /約\d+秒/);
    assert.match(await chat.locator('#send').textContent(), /あと\d+秒/);
    const links = await notice.locator('.actions a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.ok(links.length > 0, 'the notice has links');
    await notice.locator('button.leave').waitFor();
    // Nothing on the page invites a retry, in either language.
    const noRetry = async (page) => {
      const text = await page.locator('body').innerText();
      assert.doesNotMatch(text, /try again|retry|もう一度|再度お試し/i);
    };
    await noRetry(chat);
    await shot(chat, '3-degraded-notice');

    // Every link in the notice opens a page (with the visitor's language).
    for (const href of links) {
      const res = await chat.request.get(new URL(href, base).href, { headers: { Accept: 'text/html' } });
      assert.equal(res.status(), 200, href);
      assert.match(href, /lang=ja/, href);
    }

    // Nor while the notice's countdown runs: the send button waits.
    assert.equal(await chat.locator('#send').isDisabled(), true);

    // The visitor leaves the question; the notice says it will be answered here.
    await notice.locator('button.leave').click();
    await notice.locator('.left-note').waitFor();
    assert.match(await notice.locator('.left-note').textContent(), /復旧しだい/);
    // ... and says whether the notice was understood (the A/B comparison counts it).
    await notice.locator('button.fb-understood').click();
    await notice.locator('.thanks, .failed').waitFor();
    assert.match(await notice.locator('.thanks').textContent(), /ありがとう/);
    await shot(chat, '4-question-left');

    // The storm brake, pulled on the dashboard, shows on /status.
    const brakeLabel = await ops.locator('#brake').textContent();
    await ops.click('#brake');
    await ops.waitForFunction((l) => document.getElementById('brake').textContent !== l, brakeLabel);
    const brakeOn = await ops.request.get(`${base}/status`, {
      headers: { Authorization: `Bearer ${adminToken}`, Accept: 'application/json' } });
    assert.equal((await brakeOn.json()).flags.RETRY_MAX_ATTEMPTS, 0);
    await shot(ops, '5-brake-on');
    await ops.click('#brake');
    await ops.waitForFunction((l) => document.getElementById('brake').textContent === l, brakeLabel);
    const brakeOff = await ops.request.get(`${base}/status`, {
      headers: { Authorization: `Bearer ${adminToken}`, Accept: 'application/json' } });
    assert.ok((await brakeOff.json()).flags.RETRY_MAX_ATTEMPTS > 0, 'the brake released');

    // The operator ends the outage; the answer arrives by itself (the visitor does nothing),
    // exactly once, and the banner clears.
    await ops.click('#chaos-clear');
    const answer = chat.locator('.msg.bot.later');
    await answer.locator('.meta').waitFor({ timeout: 30000 });
    assert.match(await answer.locator('.asked').textContent(), /マンガの歴史/);
    assert.match(await answer.locator('.meta').textContent(), /^(primary|secondary) · /);
    assert.doesNotMatch(await answer.getAttribute('class'), /degraded/);
    await chat.locator('#banner').waitFor({ state: 'hidden', timeout: 30000 });
    await answer.locator('button.fb-helpful').click();
    await answer.locator('.thanks, .failed').waitFor();
    assert.equal(await answer.locator('.thanks').count(), 1, 'the feedback on the answer was taken');
    await noRetry(chat);
    await shot(chat, '6-answered-when-back');
    assert.equal(await chat.locator('.msg.bot.later').count(), 1, 'delivered once');

    // The dashboard's A/B comparison has the visitor's feedback.
    // (the dashboard polls every 2 s)
    await ops.waitForFunction(() => [...document.querySelectorAll('#ab-table tr[data-version] td[data-col=understood]')]
      .some((td) => Number(td.textContent) >= 1), null, { timeout: 15000 });
    const version = await notice.evaluate((el) => el.dataset.version || '');
    const rows = await ops.locator('#ab-table tr[data-version]').evaluateAll((trs) => trs.map((tr) => ({
      version: tr.dataset.version,
      understood: Number(tr.querySelector('td[data-col=understood]').textContent),
      left: Number(tr.querySelector('td[data-col=left_question]').textContent),
    })));
    const mine = rows.find((r) => r.understood >= 1);
    assert.ok(mine, JSON.stringify(rows));
    assert.equal(mine.left, 1, 'the question left counts for its version');
    if (version) assert.equal(mine.version, version);
    await shot(ops, '7-ab-comparison');
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
  }
});
