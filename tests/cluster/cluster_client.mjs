// The client side of the multi-host test: the real tus-js-client and the real player (hls.js
// and dash.js in Chromium, through the web app), against the cluster's edge.
//   node cluster_client.mjs upload EDGE FILE TOKEN HALF_CMD   -> prints {"video":..., "url":...}
//   node cluster_client.mjs play EDGE VIDEO_ID TOKEN hls|dash  -> exits 0 once playback passed 3 s
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const [mode, edge, ...rest] = process.argv.slice(2);
const webModules = process.env.STREAMLET_WEB_MODULES;  // web/node_modules
const require = createRequire(path.join(webModules, 'x.js'));
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';  // the edge's certificate is made by the test

function die(msg) {
  console.error(`cluster_client: ${msg}`);
  process.exit(1);
}

async function upload(file, token, halfCmd) {
  const tus = require('tus-js-client');
  const data = readFileSync(file);
  let ranHalf = false;
  let videoId = '';
  await new Promise((resolve, reject) => {
    const up = new tus.Upload(data, {
      endpoint: `${edge}/v1/uploads`,
      // Browsers' chunks are often far below S3's 5 MiB part minimum: the tail object
      // has to carry them between PATCHes, on whichever API node takes the next one.
      chunkSize: 1024 * 1024,
      retryDelays: [0, 300, 1000, 2000, 4000, 8000],
      headers: { Authorization: `Bearer ${token}` },
      metadata: { filename: path.basename(file), visibility: 'public' },
      onAfterResponse: (req, res) => {
        const id = res.getHeader('Streamlet-Video-Id');
        if (id) videoId = id;
      },
      onProgress: (sent, total) => {
        if (!ranHalf && sent >= total / 2) {
          ranHalf = true;
          // Moves the upload to the other API node (the test kills the one it was on).
          execSync(halfCmd, { stdio: 'inherit' });
        }
      },
      onError: reject,
      onSuccess: resolve,
    });
    up.start();
    globalThis.upload = up;
  });
  if (!ranHalf) die('the upload finished before its half-way point was seen');
  console.log(JSON.stringify({ video: videoId, url: globalThis.upload.url }));
}

async function play(videoId, token, kind) {
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required', '--ignore-certificate-errors'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, baseURL: edge });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`/watch/${videoId}${kind === 'dash' ? '?player=dash' : ''}`);
    await page.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
    await page.getByRole('button', { name: 'Play' }).click();
    const deadline = Date.now() + 60000;
    for (;;) {
      const s = await page.evaluate(() => {
        const v = document.querySelector('figure.player video');
        const fig = document.querySelector('figure.player');
        return { t: v.currentTime, err: v.error && v.error.code, appErr: fig.dataset.error || null };
      });
      if (s.err || s.appErr) die(`${kind}: media error ${s.err} ${s.appErr}`);
      if (s.t > 3) break;
      if (Date.now() > deadline) die(`${kind}: playback did not pass 3 s (at ${s.t}); ${errors.join('; ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`${kind}: played past 3 s through the edge`);
  } finally {
    await browser.close();
  }
}

if (mode === 'upload') await upload(rest[0], rest[1], rest[2]);
else if (mode === 'play') await play(rest[0], rest[1], rest[2]);
else die(`unknown mode ${mode}`);
