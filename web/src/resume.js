// Resume where the viewer left off: the last position per video, in this browser's
// localStorage. Not kept for the first or the last few seconds (a video watched to its end
// starts again from the beginning), and at most MAX_VIDEOS videos (the oldest go first).
const KEY = 'streamlet.resume';
export const MIN_SECONDS = 5; // earlier than this is "from the start"
export const END_MARGIN_SECONDS = 10; // this close to the end is "watched"
const MAX_VIDEOS = 100;
const SAVE_EVERY_MS = 2000;

function readAll() {
  try {
    const all = JSON.parse(localStorage.getItem(KEY) || '{}');
    return all && typeof all === 'object' ? all : {};
  } catch {
    return {};
  }
}
function writeAll(all) {
  const ids = Object.keys(all);
  if (ids.length > MAX_VIDEOS) {
    ids.sort((a, b) => all[a].at - all[b].at);
    for (const id of ids.slice(0, ids.length - MAX_VIDEOS)) delete all[id];
  }
  try { localStorage.setItem(KEY, JSON.stringify(all)); } catch {} // full or disabled: no resume
}

// The saved position of video `id` in seconds, or 0.
export function savedPosition(id) {
  const t = Number(readAll()[id]?.t);
  return t > 0 ? t : 0;
}

// Keeps the position of `media` (video `id`) while it plays; returns the function that stops.
export function rememberPosition(id, media, fallbackDuration = 0) {
  let last = 0;
  const save = () => {
    const d = Number.isFinite(media.duration) && media.duration > 0 ? media.duration : fallbackDuration;
    const t = media.currentTime;
    const all = readAll();
    if (media.ended || t < MIN_SECONDS || (d > 0 && t > d - END_MARGIN_SECONDS)) delete all[id];
    else all[id] = { t: Math.round(t * 10) / 10, at: Date.now() };
    writeAll(all);
  };
  const onTime = () => {
    if (!started() || Date.now() - last < SAVE_EVERY_MS) return;
    last = Date.now();
    save();
  };
  // Nothing is known before the metadata (currentTime 0 would erase the saved position).
  const started = () => media.readyState >= 1;
  const onEvent = () => started() && save();
  media.addEventListener('timeupdate', onTime);
  for (const ev of ['seeked', 'pause', 'ended']) media.addEventListener(ev, onEvent);
  window.addEventListener('pagehide', onEvent);
  return () => {
    onEvent();
    media.removeEventListener('timeupdate', onTime);
    for (const ev of ['seeked', 'pause', 'ended']) media.removeEventListener(ev, onEvent);
    window.removeEventListener('pagehide', onEvent);
  };
}
