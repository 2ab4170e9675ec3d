// Browser checks of the rough edges of issue 13, run by run.mjs after its main flow with its
// page, server and helpers (ctx). Each fix has a step that fails without it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export async function edgeSteps(ctx) {
  const { page, base, api, step, assert, poll, shot, PHONE, DESKTOP, work, state, username } = ctx;

  await step('an unknown address is an HTML 404 page; /upload/ is the upload page', async () => {
    const res = await page.goto('/no-such-page');
    assert(res.status() === 404 && /text\/html/.test(res.headers()['content-type'] || ''), `GET /no-such-page: ${res.status()} ${res.headers()['content-type']}`);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    await shot('not-found-desktop');
    await shot('not-found-phone', PHONE);
    const api404 = await fetch(`${base}/v1/no-such-thing`);
    assert(/application\/json/.test(api404.headers.get('content-type') || ''), `the API's 404 is ${api404.headers.get('content-type')}`);
    await page.goto('/upload/');
    await page.getByRole('heading', { name: 'Upload videos' }).waitFor();
    assert(new URL(page.url()).pathname === '/upload', `the address stayed ${page.url()}`);
  });

  const portrait = path.join(work, 'portrait.mp4');
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=360x640:rate=25',
    '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', portrait], { encoding: 'utf8' });
  const uploaded = ff.status === 0 && await step('upload a portrait clip (360x640)', async () => {
    await page.goto('/upload');
    await page.getByLabel('Visibility of new uploads').selectOption('public');
    await page.setInputFiles('#file-input', portrait);
    const row = page.locator('li.upload[data-file="portrait.mp4"]');
    await poll('the portrait upload to be ready', async () => {
      const s = await row.getAttribute('data-status');
      if (s === 'failed') throw Object.assign(new Error(await row.innerText()), { fatal: true });
      return s === 'ready';
    }, 180000, 500);
    state.portrait = await row.getAttribute('data-video-id');
  });
  if (uploaded) {
    await step('a portrait poster does not stretch the cards of its row', async () => {
      await page.goto('/');
      await page.locator(`li.video[data-video-id="${state.portrait}"] img`).waitFor();
      await poll('posters to load', () => page.evaluate(() => [...document.querySelectorAll('.grid img')].every((i) => i.complete)), 10000);
      const heights = await page.locator('.grid li.video').evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().height)));
      assert(heights.length >= 2, `the home page has ${heights.length} card(s)`);
      assert(Math.max(...heights) - Math.min(...heights) <= 2, `card heights ${JSON.stringify(heights)}`);
      await shot('home-portrait');
      return `heights ${heights.join(', ')}`;
    });
    await step('on a phone a portrait video plays wide and the time and user are shown', async () => {
      await page.setViewportSize(PHONE);
      try {
        await page.goto(`/watch/${state.portrait}`);
        await page.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
        await poll('the video size', () => page.evaluate(() => document.querySelector('figure.player video').videoWidth > 0), 20000);
        const shown = await page.evaluate(() => {
          const v = document.querySelector('figure.player video');
          const r = v.getBoundingClientRect();
          const width = Math.min(r.width, r.height * (v.videoWidth / v.videoHeight));
          const visible = (sel) => {
            const e = document.querySelector(sel);
            const b = e && e.getBoundingClientRect();
            return !!b && b.width > 0 && b.height > 0 && b.right <= innerWidth + 1 && getComputedStyle(e).display !== 'none';
          };
          return { width: Math.round(width), time: visible('.time'), who: visible('.who'), text: document.querySelector('.time')?.textContent };
        });
        assert(shown.width >= 300, `the portrait video plays ${shown.width} px wide on a 390 px phone`);
        assert(shown.time, `the current time and duration are hidden on a phone (${shown.text})`);
        assert(shown.who, 'the signed-in user is hidden on a phone');
        await shot('watch-portrait-phone');
        return `${shown.width} px wide, time "${shown.text}"`;
      } finally {
        await page.setViewportSize(DESKTOP);
      }
    });
  }

  await step('a viewer (not an admin) sees no "Play with DASH" developer switch', async () => {
    const id = state.portrait || state.second;
    await page.goto(`/watch/${id}`);
    await page.locator('.watch-info h1').waitFor();
    const n = await page.getByRole('link', { name: /Play with DASH/ }).count();
    assert(n === 0, 'the DASH switch is shown to a viewer');
  });

  await step('another user\'s private video: "Video not found" and no stray "false"', async () => {
    const res = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '10',
      Authorization: `Bearer ${ctx.adminKey}`, 'Upload-Metadata': `title ${btoa('secret')},visibility ${btoa('private')}` } });
    const id = res.headers.get('Streamlet-Video-Id');
    assert(res.status === 201 && id, `tus POST as admin: ${res.status}`);
    await page.goto(`/watch/${id}`);
    await page.getByRole('heading', { name: 'Video not found' }).waitFor();
    const text = await page.locator('main').innerText();
    assert(!/\bfalse\b/.test(text), `the page says: ${text}`);
    await shot('watch-not-found-signed-in');
  });

  if (state.portrait) await step('a blank title cannot be saved; the description has a counter', async () => {
    await page.goto('/library');
    const card = page.locator(`li.video[data-video-id="${state.portrait}"]`);
    await card.getByRole('button', { name: /^Edit/ }).click();
    await card.getByLabel('Title').fill('   ');
    await card.getByRole('button', { name: 'Save' }).click();
    await page.waitForTimeout(300);
    const v = await api('GET', `/v1/videos/${state.portrait}`);
    assert(v.json.title === 'portrait', `the title became ${JSON.stringify(v.json.title)}`);
    await card.getByLabel('Title').fill('Portrait');
    await card.getByLabel('Description').fill('x'.repeat(5001));
    const counter = await card.locator('.counter').innerText();
    assert(/5,001 \/ 5,000/.test(counter), `the counter says ${counter}`);
    assert(await card.locator('.counter.over').count() === 1, 'the counter is not marked over the limit');
    await shot('library-edit-counter');
    await card.getByRole('button', { name: 'Cancel' }).click();
  });

  await step('searching and paging make history entries; ?page=99 shows the last page', async () => {
    await page.goto('/library');
    await page.goto('/');
    await page.locator('.summary').filter({ hasText: /video/ }).waitFor();
    await page.getByLabel('Search videos').fill('portrait');
    await poll('the search in the address', async () => new URL(page.url()).searchParams.get('q') === 'portrait', 5000);
    await page.goBack();
    await poll('Back to return to the unsearched list', async () => new URL(page.url()).pathname === '/' && !new URL(page.url()).search, 5000);
    assert((await page.getByLabel('Search videos').inputValue()) === '', 'the search box still holds the search after Back');
    await page.goto('/?page=99');
    await poll('page 99 to become the last page', async () => !new URL(page.url()).searchParams.has('page'), 5000);
    const text = await page.locator('main').innerText();
    assert(!/Page 99/.test(text), `the page says: ${text.slice(0, 200)}`);
  });

  await step('the home page lists public videos only, not the viewer\'s own private ones', async () => {
    const mine = await api('GET', `/v1/videos/${state.second}`);
    if (mine.status === 200) await api('PATCH', `/v1/videos/${state.second}`, { visibility: 'private' });
    await page.goto('/');
    await page.locator('.summary').filter({ hasText: /video/ }).waitFor();
    const n = await page.locator(`li.video[data-video-id="${state.second}"]`).count();
    assert(n === 0, 'the viewer\'s own private video is on the home page');
  });

  await step('a stale "username is taken" goes away when the browser refuses the form itself', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.goto('/login?mode=register');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert(/taken/i.test(await alert.innerText()), await alert.innerText());
    await page.getByLabel('Username').fill('ab');
    await page.getByRole('button', { name: 'Create account' }).click();
    await poll('the stale message to go', async () => !(await alert.isVisible()), 3000);
    await shot('login-validation');
  });
}
