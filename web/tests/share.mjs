// Browser checks of sharing (issue 13): ?t= start times, the share box's "Start at", the embed
// page in another origin's iframe, channel pages and "by <user>" links, the unfurl tags. Run
// by run.mjs after the rough-edge steps, with its page, server and helpers (ctx).
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import path from 'node:path';

export async function shareSteps(ctx) {
  const { page, base, api, step, assert, poll, shot, work, state, username, adminKey } = ctx;

  // A 6 s clip, uploaded with tus by the admin as "Harbour <b>tour</b>", public.
  const clip = path.join(work, 'share.mp4');
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-t', '6', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '25', clip], { encoding: 'utf8' });
  const b64 = (s) => Buffer.from(s).toString('base64');
  const ready = ff.status === 0 && await step('upload a 6 s clip for sharing (tus, admin key)', async () => {
    const bytes = (await import('node:fs')).readFileSync(clip);
    const admin = { Authorization: `Bearer ${adminKey}`, 'Tus-Resumable': '1.0.0' };
    const created = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: { ...admin, 'Upload-Length': String(bytes.length),
      'Upload-Metadata': `filename ${b64('share.mp4')},title ${b64('Harbour <b>tour</b>')},visibility ${b64('public')}` } });
    assert(created.status === 201, `tus POST answered ${created.status}`);
    state.share = created.headers.get('Streamlet-Video-Id');
    const done = await fetch(new URL(created.headers.get('Location'), base), { method: 'PATCH',
      headers: { ...admin, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: bytes });
    assert(done.status === 204, `tus PATCH answered ${done.status}`);
    await poll('the clip to be ready', async () => {
      const v = await api('GET', `/v1/videos/${state.share}`, undefined, adminKey);
      if (v.json?.status === 'failed') throw Object.assign(new Error(v.text), { fatal: true });
      return v.json?.status === 'ready';
    }, 120000, 500);
    return `video ${state.share}`;
  });
  if (!ready) return;

  await step('the watch page unfurls: OpenGraph tags in the served HTML, escaped', async () => {
    const html = await (await fetch(`${base}/watch/${state.share}`)).text();
    const og = (name) => (new RegExp(`<meta property="${name}" content="([^"]*)">`).exec(html) || [])[1];
    assert(og('og:title') === 'Harbour &lt;b&gt;tour&lt;/b&gt;', `og:title is ${og('og:title')}`);
    assert(og('og:image') === `${base}/media/${state.share}/poster.jpg`, `og:image is ${og('og:image')}`);
    assert(og('og:video') === `${base}/embed/${state.share}`, `og:video is ${og('og:video')}`);
    assert(/type="application\/json\+oembed"/.test(html), 'no oEmbed discovery link');
    const oembed = await api('GET', `/oembed?url=${encodeURIComponent(`${base}/watch/${state.share}`)}&format=json`, undefined, '');
    assert(oembed.status === 200 && oembed.json.type === 'video', `oEmbed: ${oembed.status} ${oembed.text}`);
  });

  // Time of the first 'playing' event and where playback was then.
  const playFrom = (target) => target.evaluate(async () => {
    const v = document.querySelector('figure.player video');
    v.muted = true;
    const at = new Promise((resolve) => v.addEventListener('playing', () => resolve(v.currentTime), { once: true }));
    await v.play();
    return at;
  });

  await step('?t=3 starts playback at 3 s', async () => {
    await page.goto(`/watch/${state.share}?t=3`);
    await page.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
    const at = await playFrom(page);
    assert(at >= 2.9, `playback started at ${at} s`);
    await page.evaluate(() => document.querySelector('figure.player video').pause());
    return `started at ${at.toFixed(2)} s`;
  });

  await step('the share box copies a link at the current time (?t=N)', async () => {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const now = Math.floor(await page.evaluate(() => document.querySelector('figure.player video').currentTime));
    assert(now >= 3, `the player is at ${now} s`);
    await page.locator('#share-at').check();
    const label = await page.locator('.share-at').innerText();
    assert(label.includes(`0:0${now}`), `the box says "${label}" at ${now} s`);
    await page.getByRole('button', { name: 'Copy link' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert(copied === `${base}/watch/${state.share}?t=${now}`, `copied ${copied}`);
    await shot('share-at-time');
    await page.goto(copied);
    await page.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
    const at = await playFrom(page);
    assert(at >= now - 0.1, `the copied link started at ${at} s, not ${now}`);
    return copied;
  });

  // Another origin: "localhost" is not "127.0.0.1" to the browser.
  const other = createServer((req, res) => {
    const id = req.url.slice(1);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Someone's blog</title><h1>My blog</h1>
<iframe src="${base}/embed/${id}" width="640" height="480" allow="autoplay; fullscreen" title="video"></iframe>`);
  });
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  const blog = `http://localhost:${other.address().port}`;
  try {
    await step('the embed page plays in an iframe on another origin', async () => {
      await page.goto(`${blog}/${state.share}`);
      const frame = await poll('the embed frame', async () => page.frames().find((f) => f.url().includes('/embed/')), 10000);
      await frame.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
      assert(!(await frame.locator('header.top').isVisible()), 'the embed shows the site header');
      const title = await frame.locator('a.embed-title').innerText();
      assert(title === 'Harbour <b>tour</b>', `the embed's title is ${title}`);
      await playFrom(frame);
      await poll('the embedded video to advance', () => frame.evaluate(() => document.querySelector('video').currentTime > 0.5), 15000);
      await shot('embed-other-origin');
    });
    if (state.second) await step('a private video in an embed is unavailable', async () => {
      await page.goto(`${blog}/${state.second}`);
      const frame = await poll('the embed frame', async () => page.frames().find((f) => f.url().includes('/embed/')), 10000);
      await frame.getByText('This video is unavailable.').waitFor();
      assert(await frame.locator('video').count() === 0, 'a player was made for a private video');
    });
  } finally {
    other.close();
  }

  await step('"by <user>" links to the channel page, which lists only public videos', async () => {
    await page.goto('/');
    const owner = page.locator(`li.video[data-video-id="${state.share}"] a.channel`);
    await owner.waitFor();
    assert((await owner.getAttribute('href')) === '/u/admin', `the owner link is ${await owner.getAttribute('href')}`);
    await owner.click();
    await page.getByRole('heading', { name: 'admin' }).waitFor();
    await page.locator(`li.video[data-video-id="${state.share}"]`).waitFor();
    await shot('channel');
    // The viewer's channel: their public portrait clip, not their private second video.
    await page.goto(`/u/${encodeURIComponent(username)}`);
    await page.locator('.summary').filter({ hasText: /video/ }).waitFor();
    const ids = await page.locator('li.video').evaluateAll((els) => els.map((e) => e.dataset.videoId));
    if (state.second) assert(!ids.includes(state.second), 'the channel lists a private video');
    if (state.portrait) assert(ids.includes(state.portrait), `the channel lists ${ids} without the public ${state.portrait}`);
    assert(!ids.includes(state.share), 'the viewer\'s channel lists the admin\'s video');
    await page.goto('/u/nobody_at_all');
    await page.getByRole('heading', { name: 'User not found' }).waitFor();
    return `channel of ${username}: ${ids.length} video(s)`;
  });
}
