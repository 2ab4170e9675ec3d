// Browser checks of the player (issue 13): keyboard shortcuts page-wide and on the focused
// seek bar, the help overlay, speed and volume remembered, resume after a reload, chapters
// from the description, the same keys in the embed page. Run by run.mjs with its page,
// server and helpers (ctx); the clip is its own, uploaded with the admin key.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const DESCRIPTION = 'A 30 second test pattern in three parts.\n\n0:00 Intro\n0:10 Middle part\n0:20 The end\n\nThanks for watching.';

export async function playerSteps(ctx) {
  const { page, base, api, step, assert, poll, shot, work, state, adminKey, PHONE } = ctx;

  const clip = path.join(work, 'player.mp4');
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-t', '30', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '50', clip], { encoding: 'utf8' });
  const b64 = (s) => Buffer.from(s).toString('base64');
  const ready = await step('upload a 30 s clip with chapters in its description (tus, admin key)', async () => {
    assert(ff.status === 0, `ffmpeg could not generate the clip: ${ff.stderr}`);
    const bytes = readFileSync(clip);
    const admin = { Authorization: `Bearer ${adminKey}`, 'Tus-Resumable': '1.0.0' };
    const created = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: { ...admin, 'Upload-Length': String(bytes.length),
      'Upload-Metadata': `filename ${b64('player.mp4')},title ${b64('Player keys')},description ${b64(DESCRIPTION)},visibility ${b64('public')}` } });
    assert(created.status === 201, `tus POST answered ${created.status}`);
    state.player = created.headers.get('Streamlet-Video-Id');
    const done = await fetch(new URL(created.headers.get('Location'), base), { method: 'PATCH',
      headers: { ...admin, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: bytes });
    assert(done.status === 204, `tus PATCH answered ${done.status}`);
    await poll('the clip to be ready', async () => {
      const v = await api('GET', `/v1/videos/${state.player}`, undefined, adminKey);
      if (v.json?.status === 'failed') throw Object.assign(new Error(v.text), { fatal: true });
      return v.json?.status === 'ready';
    }, 120000, 500);
    // English captions for the "c" key.
    const cc = await fetch(`${base}/v1/videos/${state.player}/captions/en?label=English`, { method: 'PUT',
      headers: { Authorization: `Bearer ${adminKey}` }, body: 'WEBVTT\n\n00:00.000 --> 00:30.000\nPlayer keys captions\n' });
    assert(cc.status === 200, `PUT captions answered ${cc.status}: ${await cc.text()}`);
    const v = await api('GET', `/v1/videos/${state.player}`, undefined, adminKey);
    assert(v.json.description === DESCRIPTION, `the description came back as ${JSON.stringify(v.json.description)}`);
    return `video ${state.player}, ${v.json.duration_seconds} s`;
  });
  if (!ready) return;

  const watch = `/watch/${state.player}`;
  const fromStart = `${watch}?t=0`; // an explicit start wins over resume
  const player = (p = page) => p.evaluate(() => {
    const v = document.querySelector('figure.player video');
    return { t: v.currentTime, rate: v.playbackRate, volume: v.volume, muted: v.muted, paused: v.paused, ready: v.readyState };
  });
  // The player can seek once the media knows its duration.
  const open = async (url, p = page) => {
    await p.goto(url);
    await p.locator('figure.player[data-ready="true"]').waitFor({ timeout: 30000 });
    await poll('the video metadata', async () => (await player(p)).ready >= 1, 15000, 100);
  };
  const near = (a, b, tol = 0.3) => Math.abs(a - b) <= tol;
  const blur = (p = page) => p.evaluate(() => document.activeElement?.blur());
  // As a drag does: the value changes, then an input event.
  const setSlider = (name, value) => page.getByRole('slider', { name }).evaluate((el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);

  // A fresh start for every check that reads remembered settings (earlier steps leave theirs).
  await page.goto('/');
  await page.evaluate(() => { for (const k of ['streamlet.player', 'streamlet.resume', 'streamlet.captions']) localStorage.removeItem(k); });

  await step('ArrowRight on the focused seek bar moves 5 s per press, ArrowLeft back', async () => {
    await open(fromStart);
    const seek = page.getByRole('slider', { name: 'Seek' });
    await seek.focus();
    const t0 = (await player()).t;
    const seen = [];
    for (let i = 1; i <= 3; i++) {
      await page.keyboard.press('ArrowRight');
      seen.push((await player()).t);
      assert(near(seen[i - 1], t0 + 5 * i), `after ${i} ArrowRight press(es) on the seek bar the video is at ${seen.join(', ')} s, expected ${t0 + 5 * i}`);
    }
    await page.keyboard.press('ArrowLeft');
    const back = (await player()).t;
    assert(near(back, t0 + 10), `ArrowLeft took it to ${back} s, expected ${t0 + 10}`);
    const value = Number(await seek.inputValue());
    assert(near(value, back, 0.6), `the seek bar shows ${value} while the video is at ${back}`);
    return `${t0} -> ${seen.map((t) => t.toFixed(1)).join(' -> ')} -> ${back.toFixed(1)} s`;
  });

  await step('page-wide shortcuts: j/l, arrows, 0-9, </> speed, ArrowUp/Down volume, m mute, k and Space play', async () => {
    await open(fromStart);
    await blur();
    const press = async (key) => { await page.keyboard.press(key); return player(); };
    let s = await press('l');
    assert(near(s.t, 10), `l: at ${s.t} s, expected 10`);
    s = await press('l');
    s = await press('j');
    assert(near(s.t, 10), `l then j: at ${s.t} s, expected 10`);
    s = await press('ArrowRight');
    assert(near(s.t, 15), `ArrowRight: at ${s.t} s, expected 15`);
    s = await press('ArrowLeft');
    assert(near(s.t, 10), `ArrowLeft: at ${s.t} s, expected 10`);
    s = await press('5');
    assert(near(s.t, 15, 0.6), `5: at ${s.t} s, expected half of 30 s`);
    s = await press('0');
    assert(near(s.t, 0), `0: at ${s.t} s, expected 0`);
    s = await press('>');
    assert(s.rate === 1.25, `>: playbackRate ${s.rate}, expected 1.25`);
    s = await press('>');
    assert(s.rate === 1.5, `> twice: playbackRate ${s.rate}, expected 1.5`);
    s = await press('<');
    assert(s.rate === 1.25, `<: playbackRate ${s.rate}, expected 1.25`);
    await poll('the Speed menu to show 1.25', async () => (await page.getByLabel('Speed').inputValue()) === '1.25', 3000, 50);
    s = await press('ArrowDown');
    assert(near(s.volume, 0.95, 0.001), `ArrowDown: volume ${s.volume}, expected 0.95`);
    s = await press('ArrowDown');
    s = await press('ArrowUp');
    assert(near(s.volume, 0.95, 0.001), `ArrowDown, ArrowDown, ArrowUp: volume ${s.volume}, expected 0.95`);
    // The controls follow the element's events (volumechange), a moment later.
    await poll('the volume slider to show 0.95', async () => near(Number(await page.getByRole('slider', { name: 'Volume' }).inputValue()), 0.95, 0.001), 3000, 50);
    s = await press('m');
    assert(s.muted, 'm did not mute');
    await poll('the mute button to say Unmute', async () => (await page.getByRole('button', { name: 'Unmute', exact: true }).count()) === 1, 3000, 50);
    s = await press('m');
    assert(!s.muted, 'm again did not unmute');
    s = await press('k');
    await poll('k to start playback', async () => !(await player()).paused, 5000, 100);
    s = await press(' ');
    assert(s.paused, 'Space did not pause');
    // Page-wide arrows must not scroll the page, and the keys did not reach the page's own scroll.
    return `rate ${s.rate}, volume ${s.volume}`;
  });

  await step("'c' turns the captions on and off", async () => {
    const menu = page.getByLabel('Captions', { exact: true });
    const showing = () => page.evaluate(() => [...document.querySelector('figure.player video').textTracks]
      .filter((t) => t.mode === 'showing').map((t) => t.language).join(','));
    await poll('the captions to be off', async () => (await menu.inputValue()) === '' && (await showing()) === '', 5000, 100);
    await blur();
    await page.keyboard.press('c');
    await poll('c to show the English captions', async () => (await menu.inputValue()) === 'en' && (await showing()) === 'en', 10000, 100);
    await page.keyboard.press('c');
    await poll('c again to turn them off', async () => (await menu.inputValue()) === '' && (await showing()) === '', 5000, 100);
  });

  await step('speed, volume and mute are remembered after a reload; PiP shows only where the browser has it', async () => {
    // The previous step left 1.25x and 0.95; set others with the controls themselves.
    await page.getByLabel('Speed').selectOption('1.5');
    await setSlider('Volume', 0.4);
    await page.getByRole('button', { name: 'Mute', exact: true }).click();
    await open(watch);
    const s = await player();
    assert(s.rate === 1.5 && near(s.volume, 0.4, 0.001) && s.muted, `after a reload: rate ${s.rate}, volume ${s.volume}, muted ${s.muted}`);
    await poll('the Speed menu to show 1.5 after a reload', async () => (await page.getByLabel('Speed').inputValue()) === '1.5', 3000, 50);
    // Playing keeps the rate (loading a source resets playbackRate to the default one).
    await page.keyboard.press('k');
    await poll('playback at 1.5x', async () => { const p = await player(); return !p.paused && p.t > 0.2 && p.rate === 1.5; }, 10000, 100);
    await page.keyboard.press('k');
    const pip = await page.evaluate(() => ({ has: !!document.pictureInPictureEnabled, hidden: document.querySelector('button.pip').hidden }));
    assert(pip.hidden === !pip.has, `pictureInPictureEnabled is ${pip.has} but the PiP button is ${pip.hidden ? 'hidden' : 'shown'}`);
    await page.getByRole('button', { name: 'Unmute', exact: true }).click();
    await page.getByLabel('Speed').selectOption('1');
    await setSlider('Volume', 1);
    return `PiP ${pip.has ? 'available, button shown' : 'not available, button hidden'}`;
  });

  await step("'?' opens the shortcut help, Escape closes it; keys do nothing while it is open", async () => {
    await blur();
    await page.keyboard.press('?');
    const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await dialog.waitFor();
    const rows = await dialog.locator('tr').allInnerTexts();
    for (const want of ['Play or pause', 'Forward 5 seconds', 'Volume up', 'Mute', 'Full screen', 'Captions', 'Faster', '90%']) {
      assert(rows.some((r) => r.includes(want)), `the help lists no "${want}": ${rows.join(' / ')}`);
    }
    const t = (await player()).t;
    await page.keyboard.press('l');
    assert(near((await player()).t, t), 'l moved the video while the help was open');
    await shot('player-help-desktop');
    await shot('player-help-phone', PHONE);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    return `${rows.length} rows`;
  });

  await step('shortcuts are ignored while typing in a text box', async () => {
    // The same key outside a box does reach the player.
    await blur();
    const t = (await player()).t;
    await page.keyboard.press('l');
    assert(near((await player()).t, t + 10), `l outside a text box did not move the video from ${t} s`);
    await page.keyboard.press('j');
    const before = await player();
    const boxes = [page.getByLabel('Share link')];
    // The comment box, where the page has one (issue 13, comments).
    if (await page.locator('.watch textarea').count()) boxes.push(page.locator('.watch textarea').first());
    for (const box of boxes) {
      await box.focus();
      for (const key of ['k', 'l', 'm', '5', 'ArrowRight', 'ArrowUp', '>', 'f']) await page.keyboard.press(key);
      const after = await player();
      assert(after.paused === before.paused && near(after.t, before.t) && after.muted === before.muted && after.rate === before.rate && after.volume === before.volume,
        `typing in ${await box.evaluate((e) => e.tagName.toLowerCase() + (e.name ? `[name=${e.name}]` : ''))} reached the player: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    }
    const help = await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).isVisible();
    assert(!help, 'the help opened while typing');
    return `${boxes.length} box(es)`;
  });

  await step('chapters from the description: list, seek-bar marks, current name; a click seeks there', async () => {
    await open(fromStart);
    const list = page.getByRole('navigation', { name: 'Chapters' });
    await list.waitFor();
    const items = await list.locator('li').allInnerTexts();
    assert(items.length === 3 && /0:00\s+Intro/.test(items[0]) && /0:10\s+Middle part/.test(items[1]) && /0:20\s+The end/.test(items[2]),
      `the chapter list is ${JSON.stringify(items)}`);
    const marks = await page.locator('.chapter-marks .mark').evaluateAll((m) => m.map((e) => parseFloat(e.style.left)));
    assert(marks.length === 2 && near(marks[0], 100 / 3, 1) && near(marks[1], 200 / 3, 1), `seek-bar marks at ${marks.join(', ')}%`);
    await poll('the current chapter to be Intro at 0:00', async () => (await page.locator('.chapter-name').innerText()) === 'Intro', 3000, 50);
    await list.getByRole('button', { name: /The end/ }).click();
    await poll('the video to be at 20 s', async () => near((await player()).t, 20), 5000, 100);
    await poll('the current chapter to be "The end"', async () => (await page.locator('.chapter-name').innerText()) === 'The end', 5000, 100);
    assert((await list.locator('li[aria-current="true"]').innerText()).includes('The end'), 'the list does not mark "The end" as current');
    await list.getByRole('button', { name: /Middle part/ }).click();
    await poll('the video to be at 10 s', async () => near((await player()).t, 10), 5000, 100);
    await poll('the current chapter to be "Middle part"', async () => (await page.locator('.chapter-name').innerText()) === 'Middle part', 5000, 100);
    await shot('player-chapters-desktop');
    await shot('player-chapters-phone', PHONE);
  });

  await step('resume: a reload lands where the viewer left off, ?t= wins, the last seconds do not count', async () => {
    await open(watch);
    await blur();
    await page.keyboard.press('4'); // 12 s of 30
    await poll('the position to be saved', () => page.evaluate((id) => JSON.parse(localStorage.getItem('streamlet.resume') || '{}')[id]?.t, state.player), 5000, 100);
    await open(watch);
    const at = await poll('the resumed position', async () => { const t = (await player()).t; return t > 0 && t; }, 10000, 100);
    assert(near(at, 12, 1), `after a reload the video is at ${at} s, expected about 12`);
    await open(`${watch}?t=3`);
    const t3 = await poll('the ?t=3 position', async () => { const t = (await player()).t; return t > 0 && t; }, 10000, 100);
    assert(near(t3, 3, 0.5), `with ?t=3 the video is at ${t3} s (resume was at 12)`);
    // Near the end (27 s of 30) is "watched": the next visit starts at 0.
    await blur();
    await page.keyboard.press('9');
    await poll('the saved position to be dropped', () => page.evaluate((id) => !JSON.parse(localStorage.getItem('streamlet.resume') || '{}')[id], state.player), 5000, 100);
    await open(watch);
    await new Promise((r) => setTimeout(r, 500));
    const fresh = (await player()).t;
    assert(fresh < 0.5, `after watching to 27 of 30 s the next visit starts at ${fresh} s`);
    return `resumed at ${at.toFixed(1)} s; ?t=3 -> ${t3.toFixed(1)} s; near the end -> ${fresh.toFixed(1)} s`;
  });

  await step('the embed page: shortcuts, the seek bar arrows and chapter marks work; no resume', async () => {
    await open(watch);
    await blur();
    await page.keyboard.press('4');
    await poll('the position to be saved', () => page.evaluate((id) => JSON.parse(localStorage.getItem('streamlet.resume') || '{}')[id]?.t, state.player), 5000, 100);
    await open(`/embed/${state.player}`);
    await new Promise((r) => setTimeout(r, 500));
    const start = (await player()).t;
    assert(start < 0.5, `the embed started at ${start} s (resume is for the watch page)`);
    await blur();
    await page.keyboard.press('l');
    assert(near((await player()).t, 10), `l in the embed: at ${(await player()).t} s`);
    await page.getByRole('slider', { name: 'Seek' }).focus();
    await page.keyboard.press('ArrowRight');
    assert(near((await player()).t, 15), `ArrowRight on the embed's seek bar: at ${(await player()).t} s`);
    assert((await page.locator('.chapter-marks .mark').count()) === 2, 'the embed shows no chapter marks');
    await poll('the embed to name the chapter', async () => (await page.locator('.chapter-name').innerText()) === 'Middle part', 3000, 50);
    await page.keyboard.press('?');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await page.keyboard.press('Escape');
    await shot('player-embed');
  });
}
