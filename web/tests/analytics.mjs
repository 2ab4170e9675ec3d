// Browser checks of analytics (issue 13): views recorded through the beacon endpoint the
// player uses, then read back off the analytics page's chart, totals and table, for one video
// (reached from its library card and from its watch page) and for the whole library; another
// user is refused. Run by run.mjs with its page, server and helpers (ctx).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export async function analyticsSteps(ctx) {
  const { page, base, api, step, assert, poll, shot, PHONE, DESKTOP, work, username } = ctx;
  const today = new Date().toISOString().slice(0, 10);
  const b64 = (s) => Buffer.from(s).toString('base64');
  const a = {};

  const ready = await step('analytics: upload a 4 s clip and start a second video', async () => {
    // Signed in afresh as the suite's user, whatever the earlier steps left.
    await page.evaluate(() => { localStorage.removeItem('streamlet.token'); localStorage.removeItem('streamlet.user'); });
    await page.goto('/login?next=/library');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/library');
    a.token = await page.evaluate(() => localStorage.getItem('streamlet.token'));
    assert(a.token && (await api('GET', '/v1/auth/me', undefined, a.token)).status === 200, 'signing in gave no working session');
    const clip = path.join(work, 'analytics.mp4');
    const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
      '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '25', clip], { encoding: 'utf8' });
    assert(ff.status === 0, `ffmpeg: ${ff.stderr}`);
    const bytes = readFileSync(clip);
    const tus = { Authorization: `Bearer ${a.token}`, 'Tus-Resumable': '1.0.0' };
    const create = (length, title, visibility) => fetch(`${base}/v1/uploads`, { method: 'POST', headers: { ...tus, 'Upload-Length': String(length),
      'Upload-Metadata': `filename ${b64('analytics.mp4')},title ${b64(title)},visibility ${b64(visibility)}` } });
    const created = await create(bytes.length, 'Counted clip', 'public');
    assert(created.status === 201, `tus POST answered ${created.status}`);
    a.id = created.headers.get('Streamlet-Video-Id');
    const done = await fetch(new URL(created.headers.get('Location'), base), { method: 'PATCH',
      headers: { ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: bytes });
    assert(done.status === 204, `tus PATCH answered ${done.status}`);
    // A second video of the library, private and left unfinished (only its owner may watch it).
    const draft = await create(1000, 'Draft', 'private');
    assert(draft.status === 201, `tus POST answered ${draft.status}`);
    a.draft = draft.headers.get('Streamlet-Video-Id');
    await poll('the clip to be ready', async () => {
      const v = await api('GET', `/v1/videos/${a.id}`, undefined, a.token);
      if (v.json?.status === 'failed') throw Object.assign(new Error(v.text), { fatal: true });
      return v.json?.status === 'ready';
    }, 120000, 500);
  });
  if (!ready) return;

  await step('analytics: three viewers play the clip (the player\'s beacon), the owner the draft', async () => {
    // One real playback in the watch page: the player's first beacon counts the view.
    await page.goto(`/watch/${a.id}`);
    await page.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
    await page.evaluate(async () => {
      const v = document.querySelector('figure.player video');
      v.muted = true;
      const playing = new Promise((resolve) => v.addEventListener('playing', resolve, { once: true }));
      await v.play();
      await playing;
    });
    await poll('the first view', async () => (await api('GET', `/v1/videos/${a.id}/stats`, undefined, a.token)).json?.views === 1, 15000, 300);
    // Two more viewers, each with a viewer id of their own, through the same beacon the
    // player sends (navigator.sendBeacon of {viewer, seconds}).
    const sent = await page.evaluate((id) => ['analytics-viewer-2', 'analytics-viewer-3'].map((viewer) =>
      navigator.sendBeacon(`/v1/videos/${id}/views`, new Blob([JSON.stringify({ viewer, seconds: 2 })], { type: 'application/json' }))), a.id);
    assert(sent.every(Boolean), `sendBeacon refused: ${sent}`);
    // The private draft: only its owner can count, with their credentials (as the player
    // does for a private video).
    const own = await api('POST', `/v1/videos/${a.draft}/views`, { viewer: 'owner', seconds: 5 }, a.token);
    assert(own.status === 204, `draft beacon answered ${own.status} ${own.text}`);
    const stats = await poll('three views today', async () => {
      const r = await api('GET', `/v1/videos/${a.id}/stats`, undefined, a.token);
      return r.json?.views === 3 && r.json;
    }, 15000, 300);
    assert(stats.unique_viewers === 3, `unique viewers ${stats.unique_viewers}`);
    return `watch_seconds ${stats.watch_seconds}`;
  });

  // At phone size the chart is drawn again at the phone's width (its text stays legible).
  const phoneShot = async (name) => {
    await page.setViewportSize(PHONE);
    try {
      await poll('the chart redrawn at phone width', async () =>
        (await page.locator('.analytics-chart svg').getAttribute('viewBox')).split(' ')[2] < PHONE.width, 5000, 100);
      await shot(name);
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  };
  const bar = (day = today) => page.locator(`.analytics-chart rect[data-day="${day}"]`);
  const total = (metric) => page.locator(`.analytics-totals .total[data-metric="${metric}"] dd`).textContent();

  await step('analytics: the library card opens the video\'s chart; today\'s bar says 3 views', async () => {
    await page.goto('/library');
    const card = page.locator(`li.video[data-video-id="${a.id}"]`);
    await card.getByRole('link', { name: /^Analytics/ }).click();
    await page.waitForURL(`**/analytics/${a.id}`);
    await page.getByRole('heading', { name: 'Video analytics' }).waitFor();
    await bar().waitFor();
    assert((await bar().getAttribute('data-value')) === '3', `today's bar is ${await bar().getAttribute('data-value')}`);
    const tip = await bar().locator('title').textContent();
    assert(/: 3 views$/.test(tip), `today's tooltip is "${tip}"`);
    assert((await total('views')) === '3', `total views ${await total('views')}`);
    assert((await total('unique_viewers')) === '3', `unique viewers ${await total('unique_viewers')}`);
    // The default range: 28 days, the 27 before today at zero.
    const bars = page.locator('.analytics-chart rect.bar');
    assert((await bars.count()) === 28, `${await bars.count()} bars`);
    assert((await page.locator('.analytics-chart rect.bar.zero').count()) === 27, 'the days without views are not all zero');
    // Axis labels: the y axis tops at 4 (3 rounded up to even steps), today is labelled.
    const labels = await page.locator('.analytics-chart text.axis').allTextContents();
    assert(labels.includes('4') && labels.includes('0'), `y axis ${labels}`);
    // The accessible table says the same.
    const row = page.locator(`.analytics-table tr[data-day="${today}"] td`);
    const cells = await row.allTextContents();
    assert(cells[0] === '3' && cells[2] === '3', `table row ${cells}`);
    await shot('analytics-video-desktop');
    await phoneShot('analytics-video-phone');
  });

  await step('analytics: the range picker asks for 7 and 90 days; the metric switch redraws', async () => {
    const asked = [];
    const onRequest = (r) => r.url().includes('/stats?') && asked.push(new URL(r.url()).searchParams);
    page.on('request', onRequest);
    try {
      await page.getByLabel('Date range').selectOption('7');
      await poll('7 bars', async () => (await page.locator('.analytics-chart rect.bar').count()) === 7, 10000, 100);
      assert(new URL(page.url()).searchParams.get('days') === '7', `address ${page.url()}`);
      await page.getByLabel('Date range').selectOption('90');
      await poll('90 bars', async () => (await page.locator('.analytics-chart rect.bar').count()) === 90, 10000, 100);
    } finally {
      page.off('request', onRequest);
    }
    const last = asked.at(-1);
    assert(last?.get('to') === today, `to=${last?.get('to')}`);
    const days = (Date.parse(last.get('to')) - Date.parse(last.get('from'))) / 86400000 + 1;
    assert(days === 90, `from=${last.get('from')} is ${days} days`);
    await page.getByRole('button', { name: 'Watch time' }).click();
    const seconds = Number(await bar().getAttribute('data-value'));
    assert(seconds >= 4, `today's watch time bar is ${seconds}`);
    assert(/watched$/.test(await bar().locator('title').textContent()), 'watch-time tooltip');
    await page.getByRole('button', { name: 'Unique viewers' }).click();
    assert((await bar().getAttribute('data-value')) === '3', 'unique viewers bar');
    // A reload keeps the choice (it is in the address).
    await page.reload();
    await bar().waitFor();
    assert((await page.locator('.analytics-chart rect.bar').count()) === 90, 'range after reload');
    assert((await page.getByRole('button', { name: 'Unique viewers' }).getAttribute('aria-pressed')) === 'true', 'metric after reload');
  });

  await step('analytics: the library totals count both videos; the top list links each', async () => {
    await page.goto('/library');
    await page.locator('.page-head').getByRole('link', { name: 'Analytics' }).click();
    await page.waitForURL('**/analytics');
    await page.getByRole('heading', { name: 'Library analytics' }).waitFor();
    await bar().waitFor();
    // Earlier steps may have had this user's other videos watched: compare with the API.
    const lib = (await api('GET', `/v1/me/stats?from=${today}&to=${today}`, undefined, a.token)).json;
    assert(lib.views >= 4, `the API counts ${lib.views} views in the library today`);
    assert((await bar().getAttribute('data-value')) === String(lib.views), `today's library bar is ${await bar().getAttribute('data-value')}, the API says ${lib.views}`);
    assert((await total('views')) === String(lib.views), `library views ${await total('views')}`);
    // Four viewers of the library: the player's anonymous id, two more, the owner (signed in).
    assert(Number(await total('unique_viewers')) >= 4, `library unique viewers ${await total('unique_viewers')}`);
    const rows = page.locator('table.analytics-videos tbody tr');
    assert((await rows.count()) >= 2, `${await rows.count()} videos listed`);
    const clipRow = page.locator(`table.analytics-videos tr[data-video-id="${a.id}"]`);
    assert((await clipRow.locator('td').first().textContent()) === '3', 'clip views in the list');
    const draftRow = page.locator(`table.analytics-videos tr[data-video-id="${a.draft}"]`);
    assert((await draftRow.locator('td').first().textContent()) === '1', 'draft views in the list');
    await shot('analytics-library-desktop');
    await phoneShot('analytics-library-phone');
    await clipRow.getByRole('link').click();
    await page.waitForURL(`**/analytics/${a.id}`);
    await bar().waitFor();
  });

  await step('analytics: the owner finds it from the watch page; another user is told no', async () => {
    await page.goto(`/watch/${a.id}`);
    await page.getByRole('link', { name: 'Analytics' }).click();
    await page.waitForURL(`**/analytics/${a.id}`);
    await bar().waitFor();
    // Someone else, signed in in this page for a moment: the API says 403 (a public video
    // they may watch) and 404 (a private one they may not see); so does the page.
    const name = `other_${Date.now().toString(36)}`;
    const other = await api('POST', '/v1/auth/register', { username: name, password: 'correct horse battery' }, null);
    assert(other.status === 201, `register answered ${other.status}`);
    const saved = await page.evaluate(() => [localStorage.getItem('streamlet.token'), localStorage.getItem('streamlet.user')]);
    try {
      await page.evaluate(([t, u]) => { localStorage.setItem('streamlet.token', t); localStorage.setItem('streamlet.user', u); }, [other.json.token, JSON.stringify(other.json.user)]);
      const api403 = await api('GET', `/v1/videos/${a.id}/stats`, undefined, other.json.token);
      assert(api403.status === 403 && api403.json?.code === 'permission_denied', `API: ${api403.status} ${api403.text}`);
      await page.goto(`/analytics/${a.id}`);
      await page.getByRole('heading', { name: 'Not your video' }).waitFor();
      assert(!(await page.locator('.analytics-chart rect').count()), 'a chart for someone else');
      await page.goto(`/analytics/${a.draft}`);
      await page.getByRole('heading', { name: 'Video not found' }).waitFor();
      await page.goto('/analytics');
      await page.getByRole('heading', { name: 'Library analytics' }).waitFor();
      await page.locator('.analytics-totals .total[data-metric="views"] dd').waitFor();
      assert((await total('views')) === '0', 'another user sees views in their empty library');
    } finally {
      await page.evaluate(([t, u]) => { localStorage.setItem('streamlet.token', t); localStorage.setItem('streamlet.user', u); }, saved);
    }
  });
}
