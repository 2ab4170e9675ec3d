// The player: a <video> with our own accessible controls, hls.js (or dash.js)
// for adaptive streaming, a manual quality menu, storyboard previews and chapter marks on
// the seek bar, speed and volume (remembered), picture-in-picture and page-wide keyboard
// shortcuts. The streaming engines load on demand so the first page stays small.
import { h, formatDuration } from './dom.js';
import { captionMenu } from './captions.js';
import { parseChapters, chapterAt } from './chapters.js';
import { installShortcuts, shortcutHelp } from './shortcuts.js';

export const SPEEDS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];
const PREFS_KEY = 'streamlet.player'; // { rate, volume, muted }: the same for every video

function loadPrefs() {
  try {
    const p = JSON.parse(localStorage.getItem(PREFS_KEY) || '{}');
    return {
      rate: SPEEDS.includes(p.rate) ? p.rate : 1,
      volume: typeof p.volume === 'number' && p.volume >= 0 && p.volume <= 1 ? p.volume : 1,
      muted: p.muted === true,
    };
  } catch {
    return { rate: 1, volume: 1, muted: false };
  }
}
function savePrefs(media) {
  const p = { rate: media.playbackRate, volume: media.volume, muted: media.muted };
  try { localStorage.setItem(PREFS_KEY, JSON.stringify(p)); } catch {}
}

// Inline SVG icons: no icon font or emoji font needed on the device.
const ICONS = {
  play: 'M8 5v14l11-7z',
  pause: 'M6 5h4v14H6zm8 0h4v14h-4z',
  volume: 'M4 9v6h4l5 4V5L8 9H4zm12.5 3a4.5 4.5 0 0 0-2.5-4v8a4.5 4.5 0 0 0 2.5-4z',
  muted: 'M4 9v6h4l5 4V5L8 9H4zm12.6 3 2.4-2.4-1.1-1.1-2.4 2.4-2.4-2.4-1.1 1.1 2.4 2.4-2.4 2.4 1.1 1.1 2.4-2.4 2.4 2.4 1.1-1.1z',
  full: 'M5 5h5v2H7v3H5zm9 0h5v5h-2V7h-3zM5 14h2v3h3v2H5zm12 0h2v5h-5v-2h3z',
  pip: 'M3 5h18v14H3zm2 2v10h14V7zm6 5h7v4h-7z',
};
function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

export function createPlayer(video, { engine = 'hls', onError = () => {} } = {}) {
  const media = h('video', { playsInline: true, preload: 'metadata', poster: video.poster || null, tabIndex: -1 });
  // The box takes the video's own shape (a portrait video is not a 16:9 strip on a phone).
  const top = (video.renditions || []).reduce((a, r) => (!a || r.height > a.height ? r : a), null);
  if (top && top.width > 0 && top.height > 0) media.style.aspectRatio = `${top.width} / ${top.height}`;
  const play = h('button.icon', { type: 'button', 'aria-label': 'Play' }, icon('play'));
  const time = h('span.time', { 'aria-hidden': 'true' }, '0:00 / ' + formatDuration(video.duration_seconds || 0));
  const seek = h('input.seek', { type: 'range', min: 0, max: video.duration_seconds || 0, step: 0.1, value: 0, 'aria-label': 'Seek' });
  const preview = h('div.preview', { hidden: true, 'aria-hidden': 'true' }, h('div.frame'), h('span.at'));
  const mute = h('button.icon', { type: 'button', 'aria-label': 'Mute', 'aria-pressed': 'false' }, icon('volume'));
  const volume = h('input.volume', { type: 'range', min: 0, max: 1, step: 0.01, value: 1, 'aria-label': 'Volume' });
  const speed = h('select.speed', { 'aria-label': 'Speed', name: 'speed' },
    SPEEDS.map((r) => h('option', { value: String(r) }, `${r}×`)));
  // Hidden where the browser has no picture-in-picture (Firefox, most phones' browsers).
  const pip = h('button.icon.pip', { type: 'button', 'aria-label': 'Picture in picture',
    hidden: !(document.pictureInPictureEnabled && !media.disablePictureInPicture) }, icon('pip'));
  const chapterName = h('span.chapter-name', { 'aria-live': 'polite' });
  const chapters = parseChapters(video.description, video.duration_seconds || Infinity);
  const marks = h('div.chapter-marks', { 'aria-hidden': 'true' });
  const help = shortcutHelp();
  const quality = h('select.quality', { 'aria-label': 'Quality', name: 'quality' }, h('option', { value: '-1' }, 'Auto'));
  const full = h('button.icon', { type: 'button', 'aria-label': 'Full screen' }, icon('full'));
  const cc = captionMenu(video, media);
  const status = h('p.player-status', { role: 'status', 'aria-live': 'polite' });
  const el = h(
    'figure.player',
    { 'aria-label': `Video player: ${video.title}`, dataset: { engine, level: '' } },
    h('div.stage', media, status),
    h('div.bar', play, h('div.seek-wrap', seek, marks, preview), time, chapters.length ? chapterName : null, mute, volume,
      h('label.speed-label', h('span.sr-only', 'Speed '), speed), cc.el, h('label.quality-label', h('span.sr-only', 'Quality '), quality), pip, full),
    help.el,
  );
  if (chapters.length) el.dataset.chapters = String(chapters.length);

  let engineApi = null; // { setLevel(i), levels: [{label,height,bitrate}], destroy() }
  let destroyed = false;
  let storyboard = [];

  // ---- controls -------------------------------------------------------------
  const togglePlay = () => (media.paused || media.ended ? media.play().catch(() => {}) : media.pause());
  play.addEventListener('click', togglePlay);
  media.addEventListener('click', togglePlay);
  media.addEventListener('play', () => { play.replaceChildren(icon('pause')); play.setAttribute('aria-label', 'Pause'); });
  media.addEventListener('pause', () => { play.replaceChildren(icon('play')); play.setAttribute('aria-label', 'Play'); });
  media.addEventListener('timeupdate', paintTime);
  media.addEventListener('durationchange', paintTime);
  mute.addEventListener('click', () => { media.muted = !media.muted; });
  const paintVolume = () => {
    mute.replaceChildren(icon(media.muted || media.volume === 0 ? 'muted' : 'volume'));
    mute.setAttribute('aria-label', media.muted ? 'Unmute' : 'Mute');
    mute.setAttribute('aria-pressed', String(media.muted));
    volume.value = String(media.muted ? 0 : media.volume);
    volume.setAttribute('aria-valuetext', media.muted ? 'muted' : `${Math.round(media.volume * 100)}%`);
  };
  media.addEventListener('volumechange', () => { paintVolume(); savePrefs(media); });
  volume.addEventListener('input', () => {
    media.volume = Number(volume.value);
    media.muted = media.volume === 0;
  });
  // Loading a source resets playbackRate to defaultPlaybackRate, so both carry the choice.
  const setRate = (r) => { media.defaultPlaybackRate = r; media.playbackRate = r; };
  speed.addEventListener('change', () => setRate(Number(speed.value)));
  media.addEventListener('ratechange', () => {
    if (SPEEDS.includes(media.playbackRate)) speed.value = String(media.playbackRate);
    savePrefs(media);
  });
  const prefs = loadPrefs();
  media.volume = prefs.volume;
  media.muted = prefs.muted;
  setRate(prefs.rate);
  speed.value = String(prefs.rate);
  paintVolume();
  pip.addEventListener('click', () => (document.pictureInPictureElement === media
    ? document.exitPictureInPicture() : media.requestPictureInPicture()).catch(() => {}));
  full.addEventListener('click', () => (document.fullscreenElement ? document.exitFullscreen() : el.requestFullscreen?.()).catch?.(() => {}));
  let seeking = false;
  seek.addEventListener('input', () => {
    seeking = true;
    media.currentTime = Number(seek.value);
    showPreview(Number(seek.value), null);
  });
  seek.addEventListener('change', () => { seeking = false; hidePreview(); });
  seek.addEventListener('blur', hidePreview);
  seek.addEventListener('pointermove', (e) => {
    const r = seek.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    showPreview(frac * Number(seek.max || 0), e.clientX - r.left);
  });
  seek.addEventListener('pointerleave', hidePreview);
  // ---- keyboard ---------------------------------------------------------------
  const duration = () => (isFinite(media.duration) && media.duration > 0 ? media.duration : video.duration_seconds || 0);
  const seekTo = (t) => { media.currentTime = Math.min(Math.max(0, t), duration() || Infinity); paintTime(); };
  const controls = {
    togglePlay,
    seekBy: (s) => seekTo(media.currentTime + s),
    seekToFraction: (f) => seekTo(f * duration()),
    volumeBy: (d) => {
      media.volume = Math.round(Math.min(1, Math.max(0, media.volume + d)) * 100) / 100;
      if (d > 0) media.muted = false;
    },
    toggleMute: () => { media.muted = !media.muted; },
    toggleFullscreen: () => full.click(),
    toggleCaptions: () => cc.toggle(),
    speedStep: (dir) => {
      const i = SPEEDS.indexOf(media.playbackRate);
      const next = i < 0 ? SPEEDS.indexOf(1) : Math.min(SPEEDS.length - 1, Math.max(0, i + dir));
      setRate(SPEEDS[next]);
      flash(`${SPEEDS[next]}×`);
    },
    showHelp: () => help.open(),
  };
  const removeShortcuts = installShortcuts(controls, { isOpen: help.isOpen });
  // A short word over the picture for changes that have no control in sight (speed by key).
  const badge = h('div.flash', { 'aria-hidden': 'true', hidden: true });
  el.querySelector('.stage').append(badge);
  let flashTimer = 0;
  function flash(text) {
    badge.textContent = text;
    badge.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { badge.hidden = true; }, 800);
  }

  // ---- chapters ---------------------------------------------------------------
  let chapterIndex = -1;
  function paintChapters() {
    const d = duration();
    if (!chapters.length || !d) return;
    marks.replaceChildren(...chapters.slice(1).map((c) => h('span.mark', { style: `left: ${(c.start / d) * 100}%` })));
  }
  function paintChapter() {
    const i = chapterAt(chapters, media.currentTime);
    if (i === chapterIndex) return;
    chapterIndex = i;
    chapterName.textContent = i >= 0 ? chapters[i].title : '';
    for (const li of el.ownerDocument.querySelectorAll('.chapter-list li')) {
      if (Number(li.dataset.index) === i) li.setAttribute('aria-current', 'true');
      else li.removeAttribute('aria-current');
    }
  }
  // The list under the player: each chapter a button that seeks there.
  function chapterList() {
    if (!chapters.length) return null;
    const list = h('nav.chapter-list', { 'aria-label': 'Chapters' }, h('h2', 'Chapters'),
      h('ol', chapters.map((c, i) => h('li', { dataset: { index: String(i) } },
        h('button.link', { type: 'button', on: { click: () => { seekTo(c.start); paintChapter(); } } },
          h('span.at', formatDuration(c.start)), ' ', c.title)))));
    chapterIndex = -1;
    queueMicrotask(paintChapter);
    return list;
  }
  if (chapters.length) {
    paintChapters();
    paintChapter();
    media.addEventListener('durationchange', paintChapters);
    media.addEventListener('timeupdate', paintChapter);
  }

  function paintTime() {
    const d = isFinite(media.duration) ? media.duration : video.duration_seconds || 0;
    seek.max = d;
    if (!seeking) seek.value = media.currentTime;
    seek.setAttribute('aria-valuetext', `${formatDuration(media.currentTime)} of ${formatDuration(d)}`);
    time.textContent = `${formatDuration(media.currentTime)} / ${formatDuration(d)}`;
  }

  // ---- storyboard -------------------------------------------------------------
  function showPreview(t, x) {
    const frame = preview.querySelector('.frame');
    const cue = storyboard.find((c) => t >= c.start && t < c.end) || storyboard[storyboard.length - 1];
    preview.querySelector('.at').textContent = formatDuration(t);
    if (cue) {
      Object.assign(frame.style, {
        width: `${cue.w}px`,
        height: `${cue.h}px`,
        backgroundImage: `url("${cue.src}")`,
        backgroundPosition: `-${cue.x}px -${cue.y}px`,
      });
      frame.hidden = false;
    } else frame.hidden = true;
    const width = seek.getBoundingClientRect().width;
    const px = x ?? (Number(seek.max) ? (t / Number(seek.max)) * width : 0);
    const half = (cue ? cue.w : 60) / 2;
    preview.style.left = `${Math.min(Math.max(px, half), Math.max(half, width - half))}px`;
    preview.hidden = false;
  }
  function hidePreview() {
    preview.hidden = true;
  }
  if (video.storyboard) {
    loadStoryboard(video.storyboard).then((cues) => {
      storyboard = cues;
      el.dataset.storyboard = String(cues.length);
      for (const src of new Set(cues.map((c) => c.src))) new Image().src = src; // warm the cache
    }).catch(() => {});
  }

  // ---- quality menu -----------------------------------------------------------
  function setLevels(levels) {
    quality.replaceChildren(h('option', { value: '-1' }, 'Auto'), ...levels.map((l, i) => h('option', { value: String(i) }, l.label)));
    quality.disabled = levels.length === 0;
  }
  function levelShown(i, auto) {
    const level = engineApi?.levels[i];
    if (!level) return;
    el.dataset.level = level.label;
    el.dataset.auto = String(auto);
    quality.options[0].textContent = auto ? `Auto (${level.label})` : 'Auto';
  }
  quality.addEventListener('change', () => engineApi?.setLevel(Number(quality.value)));

  // ---- engines ----------------------------------------------------------------
  function fail(message) {
    status.textContent = message;
    el.dataset.error = message;
    onError(message);
  }
  media.addEventListener('error', () => {
    if (engineApi) return; // the engine reports its own errors with more detail
    fail(mediaErrorWords(media.error));
  });

  async function startHls(url) {
    const { default: Hls } = await import('hls.js');
    if (destroyed) return;
    if (!Hls.isSupported()) {
      if (media.canPlayType('application/vnd.apple.mpegurl')) {
        // Native HLS (Safari, iOS): the browser picks the quality by itself.
        media.src = url;
        cc.attach({ kind: 'native' });
        setLevels([]);
        quality.options[0].textContent = 'Auto (chosen by the browser)';
        return;
      }
      if (video.playback?.dash) return startDash(video.playback.dash);
      return fail('This browser cannot play adaptive video. Try a current version of Firefox, Chrome, Edge or Safari.');
    }
    // startPosition 0: a video still processing is an EVENT playlist, which hls.js would
    // otherwise join near its live edge; it is watched from the start like any other.
    const hls = new Hls({ enableWorker: true, capLevelToPlayerSize: false, startPosition: 0 });
    let mediaRecoveries = 0;
    let networkRetries = 0;
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      const levels = data.levels.map((l) => ({ label: labelFor(l.height, l.bitrate), height: l.height, bitrate: l.bitrate }));
      engineApi.levels = levels;
      setLevels(levels);
      el.dataset.ready = 'true';
    });
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => cc.attach({ kind: 'hls', hls }));
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => levelShown(data.level, hls.autoLevelEnabled));
    hls.on(Hls.Events.FRAG_LOADED, () => { networkRetries = 0; });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        const code = data.response?.code;
        if (code === 403) return fail('The playback link has expired or is not valid. Reload the page to get a fresh one.');
        if (code === 404) return fail('This video’s files are missing on the server.');
        if (networkRetries++ < 5) {
          status.textContent = 'Network trouble; retrying…';
          setTimeout(() => !destroyed && hls.startLoad(), 1000 * networkRetries);
          return;
        }
        return fail('The video stopped loading because the network is unreachable. Check your connection and reload.');
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 2) return hls.recoverMediaError();
      fail(`The video cannot be played in this browser (${data.details}).`);
    });
    engineApi = {
      levels: [],
      setLevel(i) {
        // currentLevel switches now (flushing the buffer); -1 returns to automatic switching.
        const playing = hls.currentLevel;
        hls.currentLevel = i;
        el.dataset.auto = String(i < 0);
        // Already on that level: no LEVEL_SWITCHED will come, so show it now.
        if (i >= 0 && playing === i) levelShown(i, false);
      },
      destroy: () => hls.destroy(),
      hls,
    };
    hls.loadSource(url);
    hls.attachMedia(media);
  }

  async function startDash(url) {
    const mod = await import('dashjs');
    const dashjs = mod.default || mod;
    if (destroyed) return;
    const player = dashjs.MediaPlayer().create();
    player.updateSettings({ debug: { logLevel: dashjs.Debug?.LOG_LEVEL_WARNING ?? 2 } });
    // A video still processing is a dynamic MPD: start at its beginning, not its live edge
    // (dash.js reads a start time from the URL fragment, relative to the period).
    player.initialize(media, video.status === 'processing' ? `${url}#t=0` : url, false);
    let reps = [];
    const refreshLevels = () => {
      reps = (player.getRepresentationsByType('video') || []).slice().sort((a, b) => a.bandwidth - b.bandwidth);
      engineApi.levels = reps.map((r) => ({ label: labelFor(r.height, r.bandwidth), height: r.height, bitrate: r.bandwidth }));
      setLevels(engineApi.levels);
      el.dataset.ready = 'true';
    };
    player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, refreshLevels);
    player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => cc.attach({ kind: 'dash', player }));
    player.on(dashjs.MediaPlayer.events.TEXT_TRACKS_ADDED, () => cc.refresh());
    player.on(dashjs.MediaPlayer.events.QUALITY_CHANGE_RENDERED, (e) => {
      if (e.mediaType !== 'video' || !e.newRepresentation) return;
      const i = reps.findIndex((r) => r.id === e.newRepresentation.id);
      levelShown(i, player.getSettings().streaming.abr.autoSwitchBitrate.video);
    });
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => {
      const status = e.error?.data?.response?.status || e.error?.data?.status;
      fail(status === 403
        ? 'The playback link has expired or is not valid. Reload the page to get a fresh one.'
        : `The video could not be played (${e.error?.message || 'DASH error'}). Check your connection and reload.`);
    });
    engineApi = {
      levels: [],
      setLevel(i) {
        const auto = i < 0;
        player.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: auto } } } });
        if (!auto) player.setRepresentationForTypeByIndex('video', reps[i].index ?? i, true);
        el.dataset.auto = String(auto);
      },
      destroy: () => player.destroy ? player.destroy() : player.reset(),
      player,
    };
  }

  function labelFor(height, bitrate) {
    // Prefer the server's rendition names ("720p") so the menu matches the API.
    const r = (video.renditions || []).filter((x) => x.height === height);
    const best = r.sort((a, b) => Math.abs(a.bitrate - bitrate) - Math.abs(b.bitrate - bitrate))[0];
    return best ? best.id : `${height}p`;
  }

  const pb = video.playback || {};
  if (engine === 'dash' && pb.dash) startDash(pb.dash).catch((e) => fail(`The player could not start: ${e.message}`));
  else if (pb.hls) startHls(pb.hls).catch((e) => fail(`The player could not start: ${e.message}`));
  else if (pb.dash) startDash(pb.dash).catch((e) => fail(`The player could not start: ${e.message}`));
  else fail('This video has no playable stream.');

  return {
    el,
    media,
    chapters,
    chapterList,
    destroy() {
      destroyed = true;
      removeShortcuts();
      engineApi?.destroy();
      media.removeAttribute('src');
    },
  };
}

export function mediaErrorWords(err) {
  if (!err) return 'The video cannot be played.';
  return (
    {
      1: 'Playback was stopped.',
      2: 'The video stopped loading because of a network problem.',
      3: 'The video could not be decoded; the file may be damaged.',
      4: 'This browser cannot play this video format.',
    }[err.code] || 'The video cannot be played.'
  );
}

// WebVTT thumbnails: each cue's text is "storyboard_N.jpg#xywh=x,y,w,h".
export async function loadStoryboard(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`storyboard ${res.status}`);
  const text = await res.text();
  const base = new URL(url, location.href);
  const cues = [];
  const blocks = text.replace(/\r\n?/g, '\n').split(/\n\n+/);
  for (const block of blocks) {
    const lines = block.split('\n').filter(Boolean);
    const i = lines.findIndex((l) => l.includes('-->'));
    if (i < 0 || !lines[i + 1]) continue;
    const [a, b] = lines[i].split('-->').map((s) => parseTime(s.trim().split(/\s+/)[0]));
    const [ref, frag = ''] = lines[i + 1].trim().split('#');
    const m = frag.match(/xywh=(\d+),(\d+),(\d+),(\d+)/);
    const src = new URL(ref, base);
    // Private videos: the track's signature also covers its images.
    if (!src.search && base.search) src.search = base.search;
    cues.push({ start: a, end: b, src: src.href, x: m ? +m[1] : 0, y: m ? +m[2] : 0, w: m ? +m[3] : 160, h: m ? +m[4] : 90 });
  }
  return cues;
}

function parseTime(s) {
  const parts = s.split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}
