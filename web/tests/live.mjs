// Watching a video while it is still being transcoded (issue 12 §3), in the watch page, with
// each engine: hls.js on the growing EVENT playlist, dash.js (?player=dash) on the dynamic MPD
// that turns static. Each upload goes to a server of its own with a slow preset and one rung,
// so processing the 12 s clip takes several seconds here: long enough to start watching
// before it ends. A step passes when playback started while the video was processing, went on
// past everything that was listed when it started, and reached the end with no player error.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const CLIP_SECONDS = 12;

// Seconds of media a manifest lists (the first variant of an HLS master: its #EXTINFs; the
// video SegmentTimeline of an MPD), and whether it is still growing (an EVENT playlist without
// ENDLIST; a dynamic MPD).
async function listed(url, engine) {
  const text = await (await fetch(url)).text();
  if (engine === 'dash') {
    const growing = /<MPD[^>]*\btype="dynamic"/.test(text);
    const set = text.slice(text.indexOf('contentType="video"'));
    const timescale = Number(/timescale="(\d+)"/.exec(set)[1]);
    const timeline = set.slice(0, set.indexOf('</SegmentTimeline>'));
    let ticks = 0;
    for (const m of timeline.matchAll(/<S\b[^>]*?\bd="(\d+)"(?:[^>]*?\br="(\d+)")?/g)) ticks += Number(m[1]) * (1 + Number(m[2] || 0));
    return { seconds: ticks / timescale, growing };
  }
  const variant = text.split('\n').find((l) => l && !l.startsWith('#'));
  const media = await (await fetch(new URL(variant.trim(), url))).text();
  const seconds = [...media.matchAll(/#EXTINF:([\d.]+)/g)].reduce((s, m) => s + Number(m[1]), 0);
  return { seconds, growing: /#EXT-X-PLAYLIST-TYPE:EVENT/.test(media) && !/#EXT-X-ENDLIST/.test(media) };
}

export async function liveSteps({ step, assert, poll, browser, startExtraServer, work, shotsDir }) {
  const clip = path.join(work, 'live.mp4');
  const live = await startExtraServer('live', ['--preset', 'veryslow', '--ladder', '360p:600k']);
  try {
    const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25',
      '-f', 'lavfi', '-i', 'sine=frequency=550:sample_rate=48000', '-t', String(CLIP_SECONDS), '-c:v', 'libx264', '-preset', 'ultrafast',
      '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', clip], { encoding: 'utf8' });
    assert(ff.status === 0, `ffmpeg could not generate the clip: ${ff.stderr}`);
    for (const engine of ['hls', 'dash']) {
      const name = engine === 'hls' ? 'HLS (hls.js, EVENT playlist)' : 'DASH (dash.js, dynamic MPD)';
      await step(`a video still processing plays from the start in the watch page with ${name} and keeps playing to the end`,
        () => watchWhileProcessing(engine));
    }
  } finally {
    await live.stop();
  }

  async function watchWhileProcessing(engine) {
    const call = (method, p, body, token, headers = {}) =>
      fetch(`${live.base}${p}`, { method, body, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers } });
    const user = `early${engine}`;
    const reg = await (await call('POST', '/v1/auth/register', JSON.stringify({ username: user, password: 'correct horse battery' }), null, { 'Content-Type': 'application/json' })).json();
    assert(reg.token, `register: ${JSON.stringify(reg)}`);
    const bytes = readFileSync(clip);
    const created = await call('POST', '/v1/uploads', undefined, reg.token, {
      'Tus-Resumable': '1.0.0', 'Upload-Length': String(bytes.length),
      'Upload-Metadata': `filename ${Buffer.from('live.mp4').toString('base64')},visibility ${Buffer.from('public').toString('base64')}`,
    });
    assert(created.status === 201, `tus POST answered ${created.status}`);
    const id = created.headers.get('streamlet-video-id');
    const patched = await call('PATCH', new URL(created.headers.get('location'), live.base).pathname, bytes, reg.token, {
      'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream',
    });
    assert(patched.status === 204, `tus PATCH answered ${patched.status}`);
    const video = async () => (await call('GET', `/v1/videos/${id}`, undefined, reg.token)).json();
    const playable = await poll('the video to become playable', async () => {
      const v = await video();
      if (v.status === 'ready') throw Object.assign(new Error('the transcode ended before it was seen playable'), { fatal: true });
      return v.status === 'processing' && v.playable && v;
    }, 60000, 200);
    const manifest = new URL(playable.playback[engine], live.base).href;

    const watch = await browser.newPage();
    // The player asks our server alone (dash.js reads a clock from time.akamai.com unless the
    // dynamic MPD names one).
    const elsewhere = new Set();
    watch.on('request', (r) => new URL(r.url()).origin !== live.base && !r.url().startsWith('data:') && elsewhere.add(new URL(r.url()).origin));
    // dash.js reads the server's clock where the MPD's UTCTiming says: a HEAD of the MPD.
    const clock = [];
    watch.on('response', (r) => r.request().method() === 'HEAD' && r.url().endsWith('/manifest.mpd') && clock.push(r.status()));
    try {
      await watch.goto(`${live.base}/login?next=${encodeURIComponent(`/watch/${id}${engine === 'dash' ? '?player=dash' : ''}`)}`);
      await watch.getByLabel('Username').fill(user);
      await watch.getByLabel('Password').fill('correct horse battery');
      await watch.getByRole('button', { name: 'Sign in', exact: true }).click();
      await watch.waitForURL(`**/watch/${id}**`);
      // 60 s: four browser suites at once on two cores have taken over 30 s here.
      await watch.locator('figure.player[data-ready="true"]').waitFor({ timeout: 60000 }).catch(async (e) => {
        await watch.screenshot({ path: path.join(shotsDir, `failure-live-${engine}-not-ready.png`) }).catch(() => {});
        const said = await watch.locator('figure.player').evaluate((f) => `${f.dataset.error || ''} ${f.textContent.slice(0, 200)}`).catch(() => 'no player');
        throw new Error(`the player did not get ready (${said.trim()}): ${e.message.split('\n')[0]}`);
      });
      const note = await watch.locator('.processing-note').innerText();
      assert(/Still processing/.test(note), `no processing note: ${note}`);
      await watch.getByRole('button', { name: 'Play' }).click();
      const player = () => watch.evaluate(() => {
        const v = document.querySelector('figure.player video');
        const fig = document.querySelector('figure.player');
        const b = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
        return { t: v.currentTime, d: v.duration, buffered: b, paused: v.paused, ready: v.readyState, ended: v.ended, err: v.error && v.error.code, appErr: fig.dataset.error || null };
      });
      let last;
      const fatal = (p) => {
        if (p.err || p.appErr) throw Object.assign(new Error(`player error: media ${p.err}, app ${p.appErr}`), { fatal: true });
      };
      await poll('playback to start', async () => (last = await player(), fatal(last), last.t > 0.5), 30000, 100)
        .catch((e) => { throw new Error(`${e.message}; player at ${JSON.stringify(last)}`); });
      // What was there to play when playback began: it must have grown since, and be played past.
      const [startedWhile, atStart] = [(await video()).status, await listed(manifest, engine)];
      const listedAtStart = atStart.seconds;
      assert(startedWhile === 'processing', `playback started only once the video was ${startedWhile}`);
      assert(atStart.growing, `the ${engine} manifest was not a growing one when playback started`);
      assert(listedAtStart < CLIP_SECONDS - 1, `${listedAtStart} s were already listed when playback started`);
      await watch.screenshot({ path: path.join(shotsDir, `watch-while-processing-${engine}.png`) });
      // Playing runs at 1x while the slow transcode may be slower on a busy machine: wait for
      // ready first, then for playback to catch up with the end.
      await poll('the video to become ready', async () => (fatal(await player()), (await video()).status === 'ready'), 300000, 500);
      const atEnd = await listed(manifest, engine);
      const listedAtEnd = atEnd.seconds;
      assert(!atEnd.growing, `the ${engine} manifest still grows once the video is ready`);
      assert(listedAtStart < listedAtEnd - 1, `${listedAtStart} s were listed when playback started, ${listedAtEnd} s at the end: it did not grow`);
      await poll('playback to reach the end', async () => {
        last = await player();
        fatal(last);
        return last.ended || (Number.isFinite(last.d) && last.d > CLIP_SECONDS - 1 && last.t >= last.d - 0.1);
      }, 60000, 250).catch((e) => { throw new Error(`${e.message}; player at ${JSON.stringify(last)}`); });
      assert(last.t > listedAtStart + 1, `playback stopped at ${last.t} s, not past the ${listedAtStart} s listed when it started`);
      assert(elsewhere.size === 0, `the player sent requests to ${[...elsewhere].join(', ')}`);
      if (engine === 'dash') assert(clock.includes(200), `no HEAD of the MPD for the clock answered 200 (${JSON.stringify(clock)})`);
      return `started while processing with ${listedAtStart.toFixed(1)} s listed, played to ${last.t.toFixed(1)} of ${listedAtEnd.toFixed(1)} s`;
    } finally {
      await watch.close();
    }
  }
}
