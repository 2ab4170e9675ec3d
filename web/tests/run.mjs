#!/usr/bin/env node
// Streamlet's browser suite: a real streamlet-server on 127.0.0.1 (free port,
// temporary data dir, --web-root = the built bundle) and Debian's Chromium
// driven by playwright-core, through the web app like a person would.
//
//   node web/tests/run.mjs --server build/server/streamlet-server \
//        --web-root build/web-dist --screenshots build/web-screenshots
//   (or --base-url http://127.0.0.1:8080 --admin-key sk_... to use a running server)
//
// Exit codes: 0 all passed, 1 a check failed, 77 skipped (CTest SKIP_RETURN_CODE):
// only when Chromium is missing. Every check runs and either passes or fails:
// there is no "not tested".
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, truncateSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { edgeSteps } from './edges.mjs';
import { shareSteps } from './share.mjs';
import { captionSteps } from './captions_steps.mjs';
import { accountSteps } from './account.mjs';
import { playerSteps } from './player_steps.mjs';
import { analyticsSteps } from './analytics.mjs';
import { liveSteps } from './live.mjs';
import { emailSteps } from './email.mjs';
import { socialSteps } from './social.mjs';

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const CHROMIUM = process.env.STREAMLET_CHROMIUM || '/usr/bin/chromium';
const shotsDir = path.resolve(args.screenshots || path.join(process.cwd(), 'web-screenshots'));
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (argv[i + 1] && !argv[i + 1].startsWith('--')) out[key] = argv[++i];
    else out[key] = true;
  }
  return out;
}
function log(...a) {
  console.log(...a);
}
function skip(why) {
  log(`web: SKIPPED: ${why}`);
  removeWork();
  process.exit(SKIP);
}
function die(why) {
  log(`web: FAILED: ${why}`);
  if (server) server.kill('SIGKILL');
  removeWork();
  process.exit(1);
}
function removeWork() {
  try {
    if (!args.keep) rmSync(work, { recursive: true, force: true });
  } catch {} // not created yet
}

// ---- preconditions ------------------------------------------------------------
if (!existsSync(CHROMIUM)) {
  skip(`${CHROMIUM} is missing, so there is no browser to drive. Install Debian's chromium ` +
       `(sudo apt-get install -y chromium, or scripts/install-deps.sh chromium) and run the tests again.`);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  die(`playwright-core is not installed in ${path.join(here, '..', 'node_modules')}: run \`npm ci\` in web/ (the CMake build does it).`);
}
if (spawnSync('ffmpeg', ['-version']).status !== 0) die('ffmpeg is missing; it generates the test clip (scripts/install-deps.sh installs it).');
if (!args.baseUrl) {
  if (!args.server || !existsSync(args.server)) die(`--server must name the streamlet-server binary (got ${args.server || 'nothing'}).`);
  if (!args.webRoot || !existsSync(path.join(args.webRoot, 'index.html'))) die(`--web-root must be the built bundle (no index.html in ${args.webRoot || 'nothing'}); build the \`web\` target.`);
}

// ---- results -------------------------------------------------------------------
const results = [];
let failures = 0;
let page;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    const note = await fn();
    results.push(['ok', name]);
    log(`ok   ${name}${note ? ` (${note})` : ''} [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
    return true;
  } catch (err) {
    failures++;
    results.push(['FAIL', name]);
    log(`FAIL ${name}: ${err && err.message ? err.message.split('\n').slice(0, 6).join('\n     ') : err}`);
    if (page) await shot(`failure-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`).catch(() => {});
    return false;
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
async function shot(name, size) {
  if (size) await page.setViewportSize(size);
  const file = path.join(shotsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (size) await page.setViewportSize(DESKTOP);
  return file;
}
async function poll(what, fn, timeoutMs = 30000, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e.fatal) throw e;
      last = e.message;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last: ${JSON.stringify(last).slice(0, 300)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---- the server ------------------------------------------------------------------
const work = mkdtempSync(path.join(tmpdir(), 'streamlet-web-test-'));
let server = null;
let serverLog = path.join(work, 'server.log');
let base = args.baseUrl;
let browser = null;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Picks the server's spelling of each option from its --help, so the runner
// keeps working while the option names settle.
const serverLacks = [];
const MAX_UPLOAD = 64 * 1000 * 1000;
function serverArgs(port, dataDir) {
  const help = spawnSync(args.server, ['--help'], { encoding: 'utf8', timeout: 10000 });
  const text = `${help.stdout || ''}${help.stderr || ''}`;
  const has = (flag) => new RegExp(`(^|[\\s,])${flag.replace(/-/g, '\\-')}(?![\\w-])`, 'm').test(text);
  const out = [];
  if (has('--listen') && !has('--port')) out.push('--listen', `127.0.0.1:${port}`);
  else {
    const host = ['--host', '--bind', '--address'].find(has);
    if (host) out.push(host, '127.0.0.1');
    out.push('--port', String(port));
  }
  const data = ['--data-dir', '--data', '--root', '--storage', '--dir'].find(has) || '--data-dir';
  out.push(data, dataDir);
  if (has('--web-root')) out.push('--web-root', path.resolve(args.webRoot));
  else {
    serverLacks.push('--web-root');
    log(`note: ${args.server} --help has no --web-root option; starting it without one`);
  }
  if (has('--api-key')) out.push('--api-key', 'sk_browser_suite_admin_key_0123456789');
  // Small segments give the 8 s clip several, so switching happens mid-stream.
  if (has('--segment-seconds')) out.push('--segment-seconds', '2');
  // A low limit lets the suite check the "too large" message without a huge file.
  if (has('--max-upload-size')) out.push('--max-upload-size', String(MAX_UPLOAD));
  // The suite signs up more people than the default 10 an hour from one address allows (the
  // limit itself is checked by the platform's API tests).
  if (has('--registrations-per-hour')) out.push('--registrations-per-hour', '100');
  return out;
}

async function startServer() {
  const port = await freePort();
  const dataDir = path.join(work, 'data');
  mkdirSync(dataDir);
  const argv = serverArgs(port, dataDir);
  log(`server: ${args.server} ${argv.join(' ')}`);
  const fd = openSync(serverLog, 'a');
  server = spawn(args.server, argv, { stdio: ['ignore', fd, fd] });
  let exited = null;
  server.on('exit', (code, signal) => {
    exited = { code, signal };
    if (!shuttingDown) log(`server exited early (code ${code}, signal ${signal}); log: ${serverLog}\n${tail(serverLog)}`);
    server = null;
  });
  base = `http://127.0.0.1:${port}`;
  await poll('the server to answer /healthz', async () => {
    if (exited) throw Object.assign(new Error('the server exited'), { fatal: true });
    return (await fetch(`${base}/healthz`)).ok;
  }, 30000, 200).catch((e) => {
    if (exited) log(`the server exited with code ${exited.code}, signal ${exited.signal}`);
    die(`${e.message}\n--- server log ---\n${tail(serverLog)}`);
  });
}
// Another server for one step that needs other options (its own data dir and log).
async function startExtraServer(name, extra) {
  const port = await freePort();
  const dataDir = path.join(work, `data-${name}`);
  mkdirSync(dataDir);
  const argv = [...serverArgs(port, dataDir), ...extra];
  const logFile = path.join(work, `server-${name}.log`);
  const proc = spawn(args.server, argv, { stdio: ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')] });
  const url = `http://127.0.0.1:${port}`;
  await poll(`the ${name} server to answer /healthz`, async () => (await fetch(`${url}/healthz`)).ok, 30000, 200)
    .catch((e) => { proc.kill('SIGKILL'); throw new Error(`${e.message}\n${tail(logFile)}`); });
  return {
    base: url,
    stop: () => new Promise((r) => {
      if (proc.exitCode !== null) return r();
      const t = setTimeout(() => (proc.kill('SIGKILL'), r()), 5000);
      proc.once('exit', () => (clearTimeout(t), r()));
      proc.kill('SIGTERM');
    }),
  };
}
function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
let shuttingDown = false;
async function cleanup() {
  shuttingDown = true;
  if (browser) await browser.close().catch(() => {});
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => (server?.kill('SIGKILL'), r()), 5000);
      server?.once('exit', () => (clearTimeout(t), r()));
    });
  }
  if (!args.keep) rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));

// ---- run -----------------------------------------------------------------------------
try {
  await main();
} catch (err) {
  failures++;
  log(`FAIL (aborted): ${err.stack || err}`);
} finally {
  if (failures && server) log(`--- server log (last lines) ---\n${tail(serverLog)}`);
  await cleanup();
}
log(`\nweb: ${results.filter((r) => r[0] === 'ok').length} passed, ${failures} failed; screenshots in ${shotsDir}`);
process.exit(failures ? 1 : 0);

async function main() {
  if (!args.baseUrl) await startServer();
  log(`server: ${base}`);

  // The platform API has to be there (docs/api.md): a server without it is broken.
  const probe = await fetch(`${base}/v1/auth/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  if (probe.status === 404 || probe.status === 405) {
    die(`the server at ${base} has no platform API (POST /v1/auth/register answered ${probe.status})` +
        `${serverLacks.length ? ` and no ${serverLacks.join(', ')} option` : ''}.`);
  }
  const index = await fetch(`${base}/library`);
  const html = await index.text();
  if (!index.ok || !/\/assets\/app-\w+\.js/.test(html)) die(`${serverLacks.length ? `the server has no ${serverLacks.join(', ')} option. ` : ''}` +`GET /library should serve the web app's index.html from --web-root; got ${index.status} ${html.slice(0, 120)}`);

  mkdirSync(shotsDir, { recursive: true });
  const clip = path.join(work, 'clip.mp4');
  // 854x480, 8 s, with audio. The server's ladder drops rungs above the source
  // and its lowest default rung is 360p, so a 640x360 source would get a single
  // rendition; 480p gets two (480p + 360p), enough to test quality switching.
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=854x480:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '8', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '60',
    '-c:a', 'aac', '-b:a', '96k', '-shortest', clip], { encoding: 'utf8' });
  if (ff.status !== 0) die(`ffmpeg could not generate the clip: ${ff.stderr}`);
  const clip2 = path.join(work, 'second.mp4');
  const ff2 = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=48000', '-t', '4', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-shortest', clip2], { encoding: 'utf8' });
  if (ff2.status !== 0) die(`ffmpeg could not generate the second clip: ${ff2.stderr}`);
  const broken = path.join(work, 'broken.mp4');
  writeFileSync(broken, Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) % 251)));
  const notVideo = path.join(work, 'notes.txt');
  writeFileSync(notVideo, 'this is not a video\n');

  browser = await chromium.launchPersistentContext(path.join(work, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
    viewport: DESKTOP,
    baseURL: base,
  });
  page = browser.pages()[0] || (await browser.newPage());
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  const api = async (method, p, body, token = state.token) => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    return { status: res.status, json, text };
  };
  const state = { token: null, id: null, video: null };
  const username = `viewer_${Date.now().toString(36)}`;

  // -- sign in / register ------------------------------------------------------------
  await step('login page renders with labelled fields', async () => {
    await page.goto('/login');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Username').waitFor();
    await page.getByLabel('Password').waitFor();
    await shot('login-desktop');
    await shot('login-phone', PHONE);
  });
  await step('wrong password is refused in plain words', async () => {
    await page.getByLabel('Username').fill('nobody_here');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    assert(/wrong username or password/i.test(text), `alert said: ${text}`);
  });
  const registered = await step('register a new account', async () => {
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL('**/upload');
    state.token = await page.evaluate(() => localStorage.getItem('streamlet.token'));
    assert(state.token, 'no session token stored after registering');
    const me = await api('GET', '/v1/auth/me');
    assert(me.status === 200 && me.json.user.username === username, `GET /v1/auth/me: ${me.status} ${me.text}`);
  });
  if (!registered) return;

  // -- upload ------------------------------------------------------------------------
  await step('a file that is not a video is refused in plain words', async () => {
    await page.setInputFiles('#file-input', notVideo);
    const msg = page.locator('li.upload[data-file="notes.txt"] .row-message');
    await msg.waitFor();
    const text = await msg.innerText();
    assert(/not a video file/i.test(text), `message said: ${text}`);
  });
  const uploaded = await step('upload the clip (854x480, 8 s): progress, then live transcode progress, then ready', async () => {
    await page.getByLabel('Visibility of new uploads').selectOption('public');
    const seen = new Set();
    await page.exposeFunction('__seen', (t) => seen.add(t)).catch(() => {});
    await page.setInputFiles('#file-input', clip);
    const row = page.locator('li.upload[data-file="clip.mp4"]');
    await row.waitFor();
    await row.evaluate((el) => {
      new MutationObserver(() => window.__seen(el.querySelector('.stats')?.textContent || '')).observe(el, { subtree: true, childList: true, characterData: true });
    });
    await poll('the upload row to reach ready (or fail)', async () => {
      const status = await row.getAttribute('data-status');
      if (status === 'failed') throw Object.assign(new Error(`upload failed: ${await row.innerText()}`), { fatal: true });
      return status === 'ready';
    }, 300000, 500).catch(async (e) => {
      throw new Error(`${e.message}\nrow: ${await row.innerText().catch(() => '')}`);
    });
    state.id = await row.getAttribute('data-video-id');
    assert(state.id, 'the row carries no video id (is Streamlet-Video-Id exposed on the tus POST response?)');
    const texts = [...seen].join(' | ');
    assert(/Processing|Waiting|Uploaded/.test(texts), `no transcode status seen: ${texts}`);
    await row.getByRole('link', { name: /Watch/ }).waitFor();
    await shot('upload-desktop');
    await shot('upload-phone', PHONE);
    return `video ${state.id}; states seen: ${[...seen].filter(Boolean).slice(0, 6).join(' | ')}`;
  });
  if (!uploaded) return;
  await step('a file over the server limit is refused before sending, in plain words', async () => {
    const tusMax = Number((await fetch(`${base}/v1/uploads`, { method: 'OPTIONS', headers: { 'Tus-Resumable': '1.0.0' } })).headers.get('Tus-Max-Size'));
    assert(tusMax > 0, 'the server announces no Tus-Max-Size (OPTIONS /v1/uploads), so the app cannot refuse early');
    if (!args.baseUrl) assert(tusMax === MAX_UPLOAD, `Tus-Max-Size is ${tusMax}; the suite started the server with --max-upload-size ${MAX_UPLOAD}`);
    const huge = path.join(work, 'huge.mp4');
    writeFileSync(huge, '');
    truncateSync(huge, tusMax + 1); // sparse: costs no disk, whatever the limit
    let sent = 0;
    const count = (r) => r.url().includes('/v1/uploads') && ['POST', 'PATCH'].includes(r.method()) && sent++;
    page.on('request', count);
    try {
      await page.setInputFiles('#file-input', huge);
      const row = page.locator('li.upload[data-file="huge.mp4"]');
      const msg = row.locator('.row-message');
      await msg.waitFor();
      const text = await msg.innerText();
      assert(/too large/i.test(text), `message said: ${text}`);
      assert((await row.getAttribute('data-status')) === 'failed', `the row's status is ${await row.getAttribute('data-status')}`);
      assert(sent === 0, `${sent} upload request(s) went out for a file over the limit`);
      return text;
    } finally {
      page.off('request', count);
    }
  });
  await step('a file that cannot be decoded fails with the reason in plain words', async () => {
    await page.setInputFiles('#file-input', broken);
    const row = page.locator('li.upload[data-file="broken.mp4"]');
    await poll('the broken upload to fail', async () => (await row.getAttribute('data-status')) === 'failed', 120000, 500);
    const text = await row.locator('.row-message').innerText();
    assert(/failed|not|cannot|could not|invalid/i.test(text) && text.length > 20, `message said: ${text}`);
    return text;
  });
  await step('an interrupted upload resumes after the network returns and after a reload', async () => {
    // Network loss: every PATCH fails until the route is lifted; tus keeps the upload.
    await page.route('**/v1/uploads/**', (route) => (route.request().method() === 'PATCH' ? route.abort('internetdisconnected') : route.continue()));
    await page.setInputFiles('#file-input', clip2);
    const row = page.locator('li.upload[data-file="second.mp4"]');
    await poll('the row to report the connection trouble', async () => /Connection|retrying|could not be reached/i.test(await row.locator('.row-message').innerText()), 20000);
    // Reload mid-upload: the page lists the unfinished upload...
    await page.reload();
    await page.getByRole('heading', { name: 'Unfinished uploads' }).waitFor();
    assert((await page.locator('.pending').innerText()).includes('second.mp4'), 'second.mp4 is not listed as unfinished');
    await shot('upload-unfinished');
    // ...and picking the same file again continues the same tus upload.
    await page.unroute('**/v1/uploads/**');
    let posts = 0;
    page.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/v1/uploads') && posts++);
    await page.setInputFiles('#file-input', clip2);
    const again = page.locator('li.upload[data-file="second.mp4"]');
    await poll('the resumed upload to reach ready', async () => {
      const status = await again.getAttribute('data-status');
      if (status === 'failed') throw new Error(await again.innerText());
      return status === 'ready';
    }, 300000, 500);
    assert(posts === 0, `picking the file again created a new upload (${posts} POST) instead of resuming`);
    const text = await again.innerText();
    assert(/Resuming where the earlier upload stopped|Ready/.test(text), text);
    state.second = await again.getAttribute('data-video-id');
    return `video ${state.second}`;
  });
  state.video = (await api('GET', `/v1/videos/${state.id}`)).json;
  const renditions = state.video?.renditions || [];
  log(`     renditions: ${renditions.map((r) => `${r.id} ${r.width}x${r.height} ${r.bitrate}`).join(', ')}`);

  // -- library -----------------------------------------------------------------------
  await step('library lists the video with poster, title, duration, status and views', async () => {
    await page.goto('/library');
    const card = page.locator(`li.video[data-video-id="${state.id}"]`);
    await card.waitFor();
    const text = await card.innerText();
    assert(text.includes('clip'), `title missing: ${text}`);
    assert(/Ready/.test(text), `status missing: ${text}`);
    assert(/\d+ views?/.test(text), `views missing: ${text}`);
    assert(/0:0[7-9]/.test(text), `duration missing: ${text}`);
    // Every transcoded video has a poster (poster.jpg at the top rendition's size).
    assert(state.video.poster, `the API returned poster: ${JSON.stringify(state.video.poster)} for a ready video`);
    const img = card.locator('img');
    const src = await img.getAttribute('src');
    assert(src === state.video.poster, `the card's image is ${src}, the API's poster is ${state.video.poster}`);
    const size = await poll('the poster to load', () => img.evaluate((i) => i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.naturalHeight]), 10000);
    // The browser itself decodes it: an 854x480 source gives an 854x480 poster.
    assert(size[0] === 854 && size[1] === 480, `the poster decoded as ${size[0]}x${size[1]}, expected 854x480`);
    const res = await fetch(new URL(state.video.poster, base));
    assert(res.ok && /^image\/jpeg/.test(res.headers.get('content-type') || ''), `GET poster: ${res.status} ${res.headers.get('content-type')}`);
    return `poster ${size[0]}x${size[1]}`;
  });
  await step('library search finds the video and reports no match', async () => {
    const search = page.getByLabel('Search your videos');
    await search.fill('clip');
    await poll('search results', async () => (await page.locator('.summary').innerText()).includes('matching'), 10000);
    await page.locator(`li.video[data-video-id="${state.id}"]`).waitFor();
    await search.fill('zzqx-nothing-matches');
    await poll('the no-match message', async () => /No videos match/.test(await page.locator('.summary').innerText()), 10000);
    await search.fill('');
    await page.locator(`li.video[data-video-id="${state.id}"]`).waitFor();
  });
  await step('edit the title from the library', async () => {
    const card = page.locator(`li.video[data-video-id="${state.id}"]`);
    await card.getByRole('button', { name: /^Edit/ }).click();
    await card.getByLabel('Title').fill('Test pattern');
    await card.getByLabel('Description').fill('An 8 second lavfi clip.');
    await card.getByRole('button', { name: 'Save' }).click();
    await card.getByRole('link', { name: 'Test pattern' }).waitFor();
    const v = await api('GET', `/v1/videos/${state.id}`);
    assert(v.json.title === 'Test pattern', `API title is ${v.json.title}`);
    await shot('library-desktop');
    await shot('library-phone', PHONE);
  });

  // -- watch -----------------------------------------------------------------------
  const playPast = async (seconds) => {
    await page.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
    await page.getByRole('button', { name: 'Play' }).click();
    await poll(`playback to pass ${seconds} s`, async () => {
      const s = await page.evaluate(() => {
        const v = document.querySelector('figure.player video');
        const fig = document.querySelector('figure.player');
        return { t: v.currentTime, err: v.error && v.error.code, appErr: fig.dataset.error || null };
      });
      if (s.err || s.appErr) throw Object.assign(new Error(`media error ${s.err} ${s.appErr}`));
      return s.t > seconds;
    }, 60000, 250);
  };
  await step('watch page plays HLS past 3 s without a media error', async () => {
    await page.goto(`/watch/${state.id}`);
    await page.getByRole('heading', { name: 'Test pattern' }).waitFor();
    await playPast(3);
    const err = await page.evaluate(() => document.querySelector('figure.player video').error);
    assert(!err, `video.error = ${JSON.stringify(err)}`);
  });
  await step('the quality menu lists every rendition', async () => {
    assert(renditions.length >= 2, `the server produced ${renditions.length} rendition(s) for a 640x360 source; quality switching needs at least 2`);
    const labels = await page.getByLabel('Quality').evaluate((s) => [...s.options].map((o) => o.textContent));
    const listed = labels.slice(1);
    const expected = renditions.map((r) => r.id);
    assert(/^Auto/.test(labels[0]), `first option is ${labels[0]}`);
    for (const id of expected) assert(listed.includes(id), `menu ${JSON.stringify(listed)} lacks ${id}`);
    assert(listed.length === expected.length, `menu ${JSON.stringify(listed)} vs renditions ${JSON.stringify(expected)}`);
    return listed.join(', ');
  });
  await step('choosing each rendition switches to it; Auto switches back', async () => {
    const menu = page.getByLabel('Quality');
    const options = await menu.evaluate((s) => [...s.options].slice(1).map((o) => ({ value: o.value, label: o.textContent })));
    for (const o of options.reverse()) {
      const r = renditions.find((x) => x.id === o.label);
      await menu.selectOption(o.value);
      let last = null;
      await poll(`rendition ${o.label} to play`, async () => {
        const s = await page.evaluate(() => {
          const v = document.querySelector('figure.player video');
          const fig = document.querySelector('figure.player');
          if (v.paused && !v.ended) v.play();
          if (v.ended || v.currentTime > v.duration - 0.5) v.currentTime = 0;
          return { level: fig.dataset.level, auto: fig.dataset.auto, h: v.videoHeight, err: fig.dataset.error };
        });
        if (s.err) throw new Error(s.err);
        last = s;
        return s.level === o.label && s.auto === 'false' && (!r || s.h === r.height) && s;
      }, 30000).catch((e) => {
        throw new Error(`${e.message}; player state ${JSON.stringify(last)}`);
      });
    }
    await menu.selectOption('-1');
    await poll('Auto to be selected', async () => (await page.locator('figure.player').getAttribute('data-auto')) === 'true', 10000);
    return options.map((o) => o.label).join(' -> ') + ' -> Auto';
  });
  await step('storyboard previews appear on the seek bar', async () => {
    // Every transcoded video has scrub previews (storyboard.vtt and its sprite sheets).
    assert(state.video.storyboard, `the API returned storyboard: ${JSON.stringify(state.video.storyboard)} for a ready video`);
    await poll('the storyboard to load', async () => Number(await page.locator('figure.player').getAttribute('data-storyboard')) > 0, 10000);
    const seek = page.getByRole('slider', { name: 'Seek' });
    const box = await seek.boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    const preview = page.locator('.preview');
    await preview.waitFor({ state: 'visible' });
    const shown = await preview.evaluate((p) => {
      const f = p.querySelector('.frame');
      const cs = getComputedStyle(f);
      return { bg: cs.backgroundImage, pos: cs.backgroundPosition, w: f.offsetWidth, h: f.offsetHeight, at: p.querySelector('.at').textContent };
    });
    const bg = shown.bg;
    assert(/storyboard_\d+\.jpg/.test(bg), `preview background is ${bg}`);
    const ok = await page.evaluate(async (src) => (await fetch(src)).ok, bg.replace(/^url\("?|"?\)$/g, ''));
    assert(ok, `the storyboard image ${bg} did not load`);
    // The tile shown is the one the VTT (read here, not by the app's parser) gives for the time shown.
    const vtt = await (await fetch(new URL(state.video.storyboard, base))).text();
    const secs = (t) => t.split(':').map(Number).reduce((a, p) => a * 60 + p, 0);
    const cues = [...vtt.matchAll(/([\d:.]+) --> ([\d:.]+)[^\n]*\n(storyboard_\d+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)/g)]
      .map((m) => ({ start: secs(m[1]), end: secs(m[2]), sheet: m[3], x: +m[4], y: +m[5], w: +m[6], h: +m[7] }));
    assert(cues.length >= 3, `storyboard.vtt has ${cues.length} tile cues:\n${vtt.slice(0, 300)}`);
    const at = secs(shown.at); // whole seconds, as the preview label shows them
    const [px, py] = shown.pos.split(' ').map(parseFloat);
    const cue = cues.find((c) => c.start < at + 1 && c.end > at && bg.includes(c.sheet) && Math.abs(px) === c.x && Math.abs(py) === c.y && shown.w === c.w && shown.h === c.h);
    assert(cue, `the preview at ${shown.at} shows ${bg} at ${shown.pos} (${shown.w}x${shown.h}); no cue for that time has that tile`);
    await shot('watch-storyboard');
    await page.mouse.move(0, 0);
    return `${shown.at}: ${cue.sheet}#xywh=${cue.x},${cue.y},${cue.w},${cue.h}`;
  });
  await step('share link is the video page URL', async () => {
    const value = await page.getByLabel('Share link').inputValue();
    assert(value === `${base}${state.video.page}`, `share link is ${value}, page is ${state.video.page}`);
    await shot('watch-desktop');
    await shot('watch-phone', PHONE);
  });
  await step('a view is counted through the beacon', async () => {
    await page.goto('/library'); // leaving the page flushes the watch time
    const v = await poll('views >= 1', async () => {
      const r = await api('GET', `/v1/videos/${state.id}`);
      return r.json.views >= 1 && r.json;
    }, 15000, 500);
    const stats = await api('GET', `/v1/videos/${state.id}/stats`);
    return `views ${v.views}${stats.status === 200 ? `, watch_seconds ${stats.json.watch_seconds}` : ''}`;
  });
  await step('DASH playback (dash.js) plays too', async () => {
    if (!state.video.playback?.dash) throw new Error('the API returned no playback.dash');
    await page.goto(`/watch/${state.id}?player=dash`);
    await playPast(2);
    const labels = await page.getByLabel('Quality').evaluate((s) => [...s.options].slice(1).map((o) => o.textContent));
    assert(labels.length === renditions.length, `DASH menu ${JSON.stringify(labels)}`);
    await shot('watch-dash');
    return labels.join(', ');
  });

  await step('the home page lists the public video', async () => {
    await page.goto('/');
    await page.locator(`li.video[data-video-id="${state.id}"]`).waitFor();
    await shot('home-desktop');
    await shot('home-phone', PHONE);
  });

  // -- private ---------------------------------------------------------------------
  await step('make the video private from the library', async () => {
    await page.goto('/library');
    const card = page.locator(`li.video[data-video-id="${state.id}"]`);
    await card.getByLabel(/Visibility of/).selectOption('private');
    await poll('the API to report private', async () => (await api('GET', `/v1/videos/${state.id}`)).json.visibility === 'private', 10000);
    state.video = (await api('GET', `/v1/videos/${state.id}`)).json;
  });
  await step('the owner plays the private video through signed URLs', async () => {
    const hls = state.video.playback?.hls || '';
    assert(/[?&]sig=/.test(hls) && /[?&]exp=/.test(hls), `private playback URL is not signed: ${hls}`);
    await page.goto(`/watch/${state.id}`);
    await playPast(3);
    await shot('watch-private');
  });
  await step('the player works from the keyboard (Tab to the play button, Enter, End on the seek bar)', async () => {
    const paused = () => page.evaluate(() => document.querySelector('figure.player video').paused);
    const wasPaused = await paused();
    await page.locator('h1').first().focus();
    let reached = false;
    // From the title, Tab passes the rest of the page (share, tools, the like button and the
    // comment form) and wraps round through the header to the player.
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.closest('figure.player .bar') != null && /^(Play|Pause)$/.test(document.activeElement.getAttribute('aria-label') || ''));
    }
    assert(reached, 'Tab never reached the play/pause button');
    await page.keyboard.press('Enter');
    await poll('Enter to toggle playback', async () => (await paused()) !== wasPaused, 5000);
    await page.keyboard.press('Tab'); // the seek bar
    const label = await page.evaluate(() => document.activeElement.getAttribute('aria-label'));
    assert(label === 'Seek', `after the play button, focus is on ${label}`);
    const before = await page.evaluate(() => document.querySelector('figure.player video').currentTime);
    await page.keyboard.press('End');
    await poll('End on the seek bar to seek', async () => (await page.evaluate(() => document.querySelector('figure.player video').currentTime)) > before + 1, 5000);
  });
  await step("a private segment's bare URL (no signature) is refused with 403", async () => {
    const master = state.video.playback.hls;
    const abs = (u, b) => new URL(u, b).href;
    const masterUrl = abs(master, base);
    const masterText = await (await fetch(masterUrl)).text();
    const variant = masterText.split('\n').find((l) => l && !l.startsWith('#'));
    assert(variant, `no variant in master:\n${masterText}`);
    const mediaUrl = abs(variant.trim(), masterUrl);
    const mediaRes = await fetch(mediaUrl);
    assert(mediaRes.ok, `signed media playlist answered ${mediaRes.status}`);
    const mediaText = await mediaRes.text();
    const seg = mediaText.split('\n').find((l) => l && !l.startsWith('#'));
    assert(seg, `no segment in media playlist:\n${mediaText}`);
    const segUrl = new URL(seg.trim(), mediaUrl);
    const signed = await page.evaluate(async (u) => (await fetch(u, { cache: 'no-store' })).status, segUrl.href);
    assert(signed === 200 || signed === 206, `the signed segment answered ${signed}`);
    segUrl.search = '';
    // no-store: the browser may still cache this path from when the video was public.
    const bare = await page.evaluate(async (u) => (await fetch(u, { cache: 'no-store' })).status, segUrl.href);
    const bareServer = (await fetch(segUrl.href)).status;
    assert(bareServer === 403, `the server answered ${bareServer} to the bare ${segUrl.pathname}, expected 403`);
    assert(bare === 403, `GET ${segUrl.pathname} without the signature answered ${bare}, expected 403`);
    return `${segUrl.pathname}: signed ${signed}, bare ${bare}`;
  });
  await step('signed out, the private video is not found', async () => {
    const anon = await api('GET', `/v1/videos/${state.id}`, undefined, null);
    assert(anon.status === 404, `anonymous GET answered ${anon.status}`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.goto(`/watch/${state.id}`);
    await page.getByRole('heading', { name: 'Video not found' }).waitFor();
    await shot('watch-private-signed-out');
  });
  await step('sign in again and delete the video from the library', async () => {
    await page.goto('/login?next=/library');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL('**/library');
    const card = page.locator(`li.video[data-video-id="${state.id}"]`);
    await card.getByRole('button', { name: /^Delete/ }).click();
    await card.waitFor({ state: 'detached' });
    const gone = await api('GET', `/v1/videos/${state.id}`);
    assert(gone.status === 404, `after delete GET answered ${gone.status}`);
  });
  const ctx = { page, base, api, step, assert, poll, shot, PHONE, DESKTOP, work, state, username,
    adminKey: 'sk_browser_suite_admin_key_0123456789' };
  // Captions and upload details, signed in (web/tests/captions_steps.mjs).
  await captionSteps(ctx);
  await edgeSteps(ctx);
  await shareSteps(ctx);
  await playerSteps(ctx);
  await analyticsSteps(ctx);
  // Watching while processing, with HLS and DASH (web/tests/live.mjs).
  await liveSteps({ ...ctx, browser, startExtraServer, shotsDir });
  await accountSteps(ctx);
  await emailSteps(ctx);
  await socialSteps(ctx);
  const relevant = consoleErrors.filter((e) => !/favicon|403|Failed to load resource/.test(e));
  if (relevant.length) log(`note: browser console errors:\n  ${relevant.slice(0, 10).join('\n  ')}`);
}
