// The chat page in a real browser (Debian's Chromium, headless, driven by playwright-core):
// a visitor types a Japanese price question, sends it, and reads the streamed answer with the
// catalog price and a link to the series, which opens the series page; and a streamed answer
// is shown as it streams, a retry or a fallback starting the shown text over.
//
// Started by CTest with MANGAASSIST_BIN (the built binary) and MA_SOURCE_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { startServer as start, launchBrowser } from './harness.mjs';

const startServer = (config = 'browser.toml', env = {}) => start(config, env);

test('a visitor asks for a price and gets the catalog price with a link', async () => {
  const { proc, port } = await startServer();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`http://localhost:${port}/`);
    await page.waitForFunction(() => document.getElementById('state').textContent === 'online');
    await page.fill('#text', 'ONE PIECEの105巻はいくら？');
    await page.click('#send');
    const bubble = page.locator('.msg.bot').last();
    await bubble.locator('.meta').waitFor({ timeout: 15000 });  // the final reply arrived
    const text = await bubble.textContent();
    assert.match(text, /528円/);
    assert.match(text, /primary · pricing/);
    const href = await bubble.locator('.actions a').first().getAttribute('href');
    assert.equal(href, '/series/mg-0004?lang=ja');
    // The user's own message is on the page too, and nothing says "try again".
    assert.match(await page.locator('.msg.user').last().textContent(), /ONE PIECE/);
    assert.doesNotMatch(await page.content(), /try again/i);
    // The link opens the series page, in Japanese, with the same live price (issue 22).
    await bubble.locator('.actions a').first().click();
    await page.waitForURL(/\/series\/mg-0004\?lang=ja$/);
    assert.equal(await page.getAttribute('html', 'lang'), 'ja');
    assert.match(await page.locator('#mg-0004-v105').textContent(), /528円/);
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
  }
});

// A signed-in visitor opens the chat with their token in the link (as the store links to it):
// the page hands it to the server once and drops it from the address bar; the server keeps
// it in an HttpOnly cookie the page cannot read; the chat knows the visitor, and the "your
// orders" link opens their orders without any token in it.
test('a signed-in visitor: the token leaves the URL for an HttpOnly cookie', async () => {
  const { proc, port } = await startServer();
  const browser = await launchBrowser();
  try {
    const token = execFileSync(process.env.MANGAASSIST_BIN,
      ['token', 'u-1001', '--config', `${process.env.MA_SOURCE_DIR}/tests/browser/browser.toml`])
      .toString().trim();
    const context = await browser.newContext();
    const page = await context.newPage();
    // In the fragment: never sent to a server, so in no access log either.
    await page.goto(`http://localhost:${port}/?lang=en#token=${encodeURIComponent(token)}`);
    await page.waitForFunction(() => document.getElementById('state').textContent === 'online');
    assert.equal(new URL(page.url()).search, '?lang=en');
    assert.equal(new URL(page.url()).hash, '', 'the token is gone from the URL');
    await page.locator('#who').waitFor();
    assert.match(await page.locator('#who').textContent(), /Signed in as Aiko/);
    const cookie = (await context.cookies()).find((c) => c.name === 'ma_user');
    assert.ok(cookie, 'the server set the sign-in cookie');
    assert.equal(cookie.httpOnly, true);
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /ma_user/);
    await page.fill('#text', 'Where is my order #12345?');
    await page.click('#send');
    const bubble = page.locator('.msg.bot').last();
    await bubble.locator('.meta').waitFor({ timeout: 15000 });
    assert.match(await bubble.textContent(), /Yamato/);
    const links = await bubble.locator('.actions a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    const orders = links.find((h) => h.startsWith('/orders'));
    assert.ok(orders, JSON.stringify(links));
    assert.doesNotMatch(orders, /token/);
    await bubble.locator(`.actions a[href="${orders}"]`).click();
    await page.waitForURL(/\/orders/);
    assert.match(await page.locator('main').textContent(), /12345/);
    assert.doesNotMatch(page.url(), /token/);
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
  }
});

// An OpenAI-compatible model endpoint played by the test: each call streams its script's
// chunks, one every kChunkGapMs (a model writing), then ends with [DONE], or breaks off --
// the stream cut short or an error event of a kind never seen; either way, having begun an
// answer, the lane is not retried: the next lane answers. No digits, no currency: the stream guard
// lets such text through at once.
const kChunkGapMs = 150;
const kScripts = {
  // The primary's first attempt breaks off after one sentence; the secondary streams in full.
  Frieren: (model, call) => (call === 1
    ? { chunks: ['DRAFT-ONE: an answer that will be cut short. '], end: 'truncate' }
    : { chunks: ['Frieren is a fantasy story about an elf mage. ',
                 'She travels on long after her party has grown old. ',
                 'It is calm, funny and often moving.'], end: 'done' }),
  // The primary fails mid-answer in a way not worth retrying; the secondary answers.
  Dandadan: (model) => (model === 'lane-primary'
    ? { chunks: ['DRAFT-PRIMARY: an answer that will not finish. '], end: 'error' }
    : { chunks: ['Dandadan mixes aliens, ghosts and a first romance. ',
                 'It moves fast and is very funny. ',
                 'Readers of action comedies tend to love it.'], end: 'done' }),
};

function startModel() {
  const calls = [];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      const r = JSON.parse(body);
      const question = r.messages.filter((m) => m.role === 'user').at(-1).content;
      const key = Object.keys(kScripts).find((k) => question.includes(k));
      const call = calls.filter((c) => c.key === key).length + 1;
      calls.push({ key, model: r.model, call });
      const plan = kScripts[key](r.model, call);
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      for (const text of plan.chunks) {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: text } }] })}\n\n`);
        await sleep(kChunkGapMs);
      }
      if (plan.end === 'done') res.write('data: [DONE]\n\n');
      if (plan.end === 'error') {
        res.write(`data: ${JSON.stringify({ error: { code: 'MysteryFault', message: 'the model fell over' } })}\n\n`);
      }
      res.end();  // 'truncate': the stream ends without [DONE]
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, calls, port: server.address().port }));
  });
}

// Installed in the page before its own script: after the page has handled each WebSocket
// message, records the message and what the newest bot bubble shows at that moment (what a
// frame painted after that message would show). The page's own handler is left as it is.
function recordWhatThePageShows() {
  window.__frames = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    set onmessage(handler) {
      super.onmessage = (ev) => {
        handler.call(this, ev);
        const m = JSON.parse(ev.data);
        const bots = document.querySelectorAll('.msg.bot');
        const el = bots[bots.length - 1];
        window.__frames.push({
          type: m.type, request_id: m.request_id, tier: m.tier, attempt: m.attempt,
          text: m.text, reply: m.reply,
          shown: el ? el.textContent : null, final: !!(el && el.querySelector('.meta')),
        });
      };
    }
    get onmessage() { return super.onmessage; }
  };
}

// Sends `question` as a visitor does and returns, once the final reply is on the page, the
// streams the page showed for it (tier/attempt and their chunks) and the final reply.
async function askAndWatch(page, question, requestId) {
  await page.fill('#text', question);
  await page.click('#send');
  await page.waitForFunction(
    (rid) => window.__frames.some((f) => f.request_id === rid && f.type === 'reply'),
    requestId, { timeout: 30000 });
  const frames = (await page.evaluate(() => window.__frames)).filter((f) => f.request_id === requestId);
  const reply = frames.at(-1);
  assert.equal(reply.type, 'reply', 'the final reply is the last message for the request');
  const streams = [];
  let shownSoFar = '';
  for (const f of frames.slice(0, -1)) {
    assert.equal(f.type, 'chunk', JSON.stringify(f));
    const key = `${f.tier}/${f.attempt}`;
    if (streams.length === 0 || streams.at(-1).key !== key) {
      streams.push({ key, chunks: [] });
      shownSoFar = '';  // a new tier or attempt: the page starts over
    }
    streams.at(-1).chunks.push(f.text);
    shownSoFar += f.text;
    // While it streams, the bubble shows exactly this stream's text so far, and no final
    // reply yet.
    assert.equal(f.shown, shownSoFar, `after a ${key} chunk`);
    assert.equal(f.final, false);
  }
  return { streams, reply };
}

test('a streamed answer is shown as it streams; a fallback starts it over', async () => {
  const model = await startModel();
  const { proc, port } = await startServer('browser-openai.toml',
                                           { OPENAI_BASE_URL: `http://127.0.0.1:${model.port}/v1` });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.addInitScript(recordWhatThePageShows);
    await page.goto(`http://localhost:${port}/`);
    await page.waitForFunction(() => document.getElementById('state').textContent === 'online');

    // A stream cut half way: the first attempt's words appear, then vanish when the next lane
    // starts (not a retry of the lane that broke off: issue 20); its answer grows sentence by
    // sentence before the final reply.
    {
      const { streams, reply } = await askAndWatch(page, 'Tell me about Frieren', 'r1');
      assert.deepEqual(streams.map((s) => s.key), ['primary/1', 'secondary/2']);
      assert.match(streams[0].chunks.join(''), /DRAFT-ONE/);
      const answer = streams[1].chunks.join('');
      assert.ok(streams[1].chunks.length >= 2, 'the answer came in several chunks');
      // Partial text before the final: the bubble after the retry's first chunk shows the
      // start of the answer, and only that.
      assert.ok(streams[1].chunks[0].length > 0 && streams[1].chunks[0].length < answer.length);
      assert.ok(reply.reply.startsWith(streams[1].chunks[0]));
      // The final reply replaces it all: the retry's answer, nothing of the attempt cut short.
      assert.equal(reply.tier, 'secondary');
      assert.equal(reply.reply, answer);
      assert.ok(reply.final);
      assert.ok(reply.shown.startsWith(answer), reply.shown);
      assert.doesNotMatch(reply.shown, /DRAFT-ONE/);
      assert.match(reply.shown, /secondary · general/);
    }

    // A fallback: the primary's words appear, then vanish when the secondary starts.
    {
      const { streams, reply } = await askAndWatch(page, 'Tell me about Dandadan', 'r2');
      assert.deepEqual(streams.map((s) => s.key), ['primary/1', 'secondary/2']);
      assert.match(streams[0].chunks.join(''), /DRAFT-PRIMARY/);
      assert.ok(streams[1].chunks.length >= 2, 'the answer came in several chunks');
      assert.equal(reply.tier, 'secondary');
      assert.equal(reply.reply, streams[1].chunks.join(''));
      assert.doesNotMatch(reply.shown, /DRAFT-PRIMARY/);
      // What the user sees at the end is the same in the page itself.
      const bubble = page.locator('.msg.bot').last();
      assert.equal(await bubble.locator('.meta').count(), 1);
      assert.ok((await bubble.textContent()).startsWith(reply.reply));
    }
    assert.deepEqual(model.calls.map((c) => `${c.key}:${c.model}:${c.call}`),
                     ['Frieren:lane-primary:1', 'Frieren:lane-secondary:2',
                      'Dandadan:lane-primary:1', 'Dandadan:lane-secondary:2']);
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
    model.server.close();
  }
});
