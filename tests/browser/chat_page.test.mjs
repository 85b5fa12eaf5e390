// The chat page in a real browser (Debian's Chromium, headless, driven by playwright-core):
// a visitor types a Japanese price question, sends it, and reads the streamed answer with the
// catalog price and a link to the series.
//
// Started by CTest with MANGAASSIST_BIN (the built binary) and MA_SOURCE_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const bin = process.env.MANGAASSIST_BIN;
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Starts the gateway on a free port; resolves with the port once it prints its address.
function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['serve', '--port', '0', '--config', `${process.env.MA_SOURCE_DIR}/tests/browser/browser.toml`],
                       { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/serving on http:\/\/localhost:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]) });
      }
    });
    proc.stderr.on('data', (d) => { out += d; });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

test('a visitor asks for a price and gets the catalog price with a link', async () => {
  const { proc, port } = await startServer();
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
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
    assert.equal(href, '/series/mg-0004');
    // The user's own message is on the page too, and nothing says "try again".
    assert.match(await page.locator('.msg.user').last().textContent(), /ONE PIECE/);
    assert.doesNotMatch(await page.content(), /try again/i);
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
  }
});
