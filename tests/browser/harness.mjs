// What every browser test shares: the gateway started on a free port with a config from this
// folder, and Debian's Chromium, headless, driven by playwright-core.
//
// CTest passes MANGAASSIST_BIN (the built binary) and MA_SOURCE_DIR; CHROMIUM_PATH may name
// another Chromium.
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const bin = process.env.MANGAASSIST_BIN;
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Starts `mangaassist serve` with tests/browser/<config> and `env` over the test's own
// environment (a value of undefined removes the variable); resolves with the process and its
// port once it prints its address, rejects if it exits first or is silent for 60 s.
export function startServer(config, env = {}) {
  const merged = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['serve', '--port', '0', '--config',
                             `${process.env.MA_SOURCE_DIR}/tests/browser/${config}`],
                       { stdio: ['ignore', 'pipe', 'pipe'], env: merged });
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

export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
