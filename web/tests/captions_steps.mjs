// Browser checks of captions and upload details (issue 13), run by run.mjs with its harness:
// the upload page sets a video's title, description and visibility; the owner adds captions
// from the library; the player's CC menu shows their cues (hls.js, then dash.js); the owner
// removes them again; a poster frame is picked and the original file downloaded.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const CUE = 'Hello from the captions';

export async function captionSteps({ step, assert, poll, page, api, shot, work }) {
  const clip = path.join(work, 'captioned.mp4');
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=550:sample_rate=48000', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast',
    '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', clip], { encoding: 'utf8' });
  assert(ff.status === 0, `ffmpeg could not generate the captioned clip: ${ff.stderr}`);
  const srt = path.join(work, 'english.srt');
  writeFileSync(srt, `1\r\n00:00:00,000 --> 00:00:04,000\r\n${CUE}\r\n\r\n`);
  let id = null;

  const detailed = await step('the upload page sets the title, description and visibility while the file uploads', async () => {
    await page.goto('/upload');
    await page.setInputFiles('#file-input', clip);
    const row = page.locator('li.upload[data-file="captioned.mp4"]');
    await row.waitFor();
    const details = row.getByRole('form', { name: /Details of captioned\.mp4/ });
    assert(await details.getByLabel('Title').inputValue() === 'captioned', 'the file name is the default title');
    await details.getByLabel('Title').fill('A captioned clip');
    await details.getByLabel('Description').fill('With English captions.');
    await details.getByLabel('Visibility').selectOption('unlisted');
    await details.getByRole('button', { name: 'Save details' }).click();
    await poll('the upload row to reach ready', async () => {
      const status = await row.getAttribute('data-status');
      if (status === 'failed') throw Object.assign(new Error(`upload failed: ${await row.innerText()}`), { fatal: true });
      return status === 'ready';
    }, 300000, 500);
    id = await row.getAttribute('data-video-id');
    await poll('the details to be saved', async () => {
      const v = (await api('GET', `/v1/videos/${id}`)).json;
      return v.title === 'A captioned clip' && v.visibility === 'unlisted' && v.description === 'With English captions.' ? v : null;
    }, 10000);
    await shot('upload-details');
  });
  if (!detailed) return;

  const added = await step('the owner adds English captions from the library', async () => {
    await page.goto('/library');
    const card = page.locator(`li.video[data-video-id="${id}"]`);
    await card.getByRole('button', { name: /^Captions and poster/ }).click();
    const panel = card.getByRole('region', { name: /Captions and poster/ });
    await panel.getByLabel('Language').fill('en');
    await panel.getByLabel('Label').fill('English');
    await panel.getByLabel('Caption file').setInputFiles(srt);
    await panel.getByRole('button', { name: 'Add captions' }).click();
    await panel.locator('li.caption[data-language="en"]').waitFor();
    const list = await api('GET', `/v1/videos/${id}/captions`);
    assert(list.json.items.length === 1 && list.json.items[0].label === 'English', `captions: ${list.text}`);
    await shot('library-captions');
  });
  if (!added) return;

  for (const engine of ['hls', 'dash']) {
    await step(`the CC menu shows the captions' cues in the player (${engine === 'hls' ? 'hls.js' : 'dash.js'})`, async () => {
      const consoleLines = [];
      const onConsole = (m) => consoleLines.push(`${m.type()}: ${m.text()}`.slice(0, 300));
      page.on('console', onConsole);
      await page.goto(`/watch/${id}${engine === 'dash' ? '?player=dash' : ''}`);
      const menu = page.getByLabel('Captions', { exact: true });
      await menu.waitFor();
      const options = await menu.evaluate((s) => [...s.options].map((o) => o.textContent));
      assert(options.join('|') === 'CC off|English', `CC menu: ${options.join('|')}`);
      await poll('the player to be ready', () => page.locator('figure.player[data-ready="true"]').count(), 30000);
      await menu.selectOption('en');
      await page.evaluate(() => { const v = document.querySelector('video'); v.muted = true; return v.play(); });
      const text = await poll('an active cue with the caption text', () => page.evaluate((cue) => {
        const v = document.querySelector('video');
        if (v.currentTime > 1.5) v.pause();
        for (const t of v.textTracks) {
          if (t.mode !== 'showing' || !t.activeCues) continue;
          for (const c of t.activeCues) if (c.text.includes(cue)) return `${t.language}: ${c.text}`;
        }
        return null;
      }, CUE), 30000).catch(async (e) => {
        // Say what the player had: its time and every text track's mode and cues.
        const seen = await page.evaluate(() => {
          const v = document.querySelector('video');
          const tracks = [...v.textTracks].map((t) => `${t.kind}/${t.language}/${t.label}:${t.mode}` +
            ` cues ${t.cues ? t.cues.length : '-'} active ${t.activeCues ? t.activeCues.length : '-'}`);
          return `t=${v.currentTime.toFixed(2)} paused=${v.paused} ready=${v.readyState} menu=` +
            `${document.querySelector('select.captions')?.value}; tracks: ${tracks.join('; ') || 'none'}`;
        }).catch(() => 'no page state');
        throw new Error(`${e.message} (${seen}) console: ${consoleLines.slice(-15).join(' | ')}`);
      });
      assert(text.startsWith('en'), `cue on track ${text}`);
      await shot(`watch-captions-${engine}`);
      await menu.selectOption('');
      const off = await page.evaluate(() => [...document.querySelector('video').textTracks].every((t) => t.mode !== 'showing'));
      assert(off, 'CC off leaves a track showing');
    });
  }

  await step('the owner picks a poster frame and downloads the original from the library', async () => {
    await page.goto('/library');
    const card = page.locator(`li.video[data-video-id="${id}"]`);
    await card.getByRole('button', { name: /^Captions and poster/ }).click();
    const before = (await api('GET', `/v1/videos/${id}`)).json.poster;
    await card.getByLabel('Or the frame at (seconds)').fill('2');
    await card.getByRole('button', { name: 'Use this frame' }).click();
    await card.getByText('The new poster is set.').waitFor();
    const after = (await api('GET', `/v1/videos/${id}`)).json.poster;
    assert(after && after !== before && /poster_\d+\.jpg/.test(after), `poster ${before} -> ${after}`);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      card.getByRole('button', { name: 'Download the original file' }).click(),
    ]);
    assert(download.suggestedFilename() === 'captioned.mp4', `download named ${download.suggestedFilename()}`);
    // Streamed by the browser from the signed link, not a blob the page held in memory.
    assert(/\/v1\/videos\/[^/]+\/original\?exp=\d+&sig=/.test(download.url()), `downloaded from ${download.url()}`);
    const saved = path.join(work, 'downloaded.mp4');
    await download.saveAs(saved);
    assert(readFileSync(saved).equals(readFileSync(clip)), 'the download differs from the uploaded file');
  });

  await step('the owner removes the captions from the library', async () => {
    await page.goto('/library');
    const card = page.locator(`li.video[data-video-id="${id}"]`);
    await card.getByRole('button', { name: /^Captions and poster/ }).click();
    await card.getByRole('button', { name: 'Remove English captions' }).click();
    await card.getByText('No captions yet.').waitFor();
    const list = await api('GET', `/v1/videos/${id}/captions`);
    assert(list.json.items.length === 0, `captions left: ${list.text}`);
  });
}
