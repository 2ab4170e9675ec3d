// The player: a <video> with our own accessible controls, hls.js (or dash.js)
// for adaptive streaming, a manual quality menu, and storyboard previews on
// the seek bar. The streaming engines load on demand so the first page stays small.
import { h, formatDuration } from './dom.js';
import { captionMenu } from './captions.js';

// Inline SVG icons: no icon font or emoji font needed on the device.
const ICONS = {
  play: 'M8 5v14l11-7z',
  pause: 'M6 5h4v14H6zm8 0h4v14h-4z',
  volume: 'M4 9v6h4l5 4V5L8 9H4zm12.5 3a4.5 4.5 0 0 0-2.5-4v8a4.5 4.5 0 0 0 2.5-4z',
  muted: 'M4 9v6h4l5 4V5L8 9H4zm12.6 3 2.4-2.4-1.1-1.1-2.4 2.4-2.4-2.4-1.1 1.1 2.4 2.4-2.4 2.4 1.1 1.1 2.4-2.4 2.4 2.4 1.1-1.1z',
  full: 'M5 5h5v2H7v3H5zm9 0h5v5h-2V7h-3zM5 14h2v3h3v2H5zm12 0h2v5h-5v-2h3z',
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
  const quality = h('select.quality', { 'aria-label': 'Quality', name: 'quality' }, h('option', { value: '-1' }, 'Auto'));
  const full = h('button.icon', { type: 'button', 'aria-label': 'Full screen' }, icon('full'));
  const cc = captionMenu(video, media);
  const status = h('p.player-status', { role: 'status', 'aria-live': 'polite' });
  const el = h(
    'figure.player',
    { 'aria-label': `Video player: ${video.title}`, dataset: { engine, level: '' } },
    h('div.stage', media, status),
    h('div.bar', play, h('div.seek-wrap', seek, preview), time, mute, cc.el, h('label.quality-label', h('span.sr-only', 'Quality '), quality), full),
  );

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
  media.addEventListener('volumechange', () => {
    mute.replaceChildren(icon(media.muted ? 'muted' : 'volume'));
    mute.setAttribute('aria-label', media.muted ? 'Unmute' : 'Mute');
    mute.setAttribute('aria-pressed', String(media.muted));
  });
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
  el.addEventListener('keydown', (e) => {
    if (e.target.closest('select, input[type=text], textarea')) return;
    if (e.key === ' ' && e.target.tagName !== 'BUTTON' || e.key === 'k') { e.preventDefault(); togglePlay(); }
    else if (e.key === 'm') media.muted = !media.muted;
    else if (e.key === 'f') full.click();
    else if ((e.key === 'ArrowRight' || e.key === 'ArrowLeft') && e.target !== seek) {
      e.preventDefault();
      media.currentTime = Math.max(0, media.currentTime + (e.key === 'ArrowRight' ? 5 : -5));
    }
  });

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
    destroy() {
      destroyed = true;
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
