// Sharing helpers the watch and embed pages share: the ?t= start time, the channel link.
import { h } from './dom.js';

// "?t=90", "?t=90s", "?t=1m30s", "?t=1h2m3s" -> seconds (0 when absent or unreadable).
export function startTime(value) {
  if (!value) return 0;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value);
  if (!m || !m[0]) return 0;
  return Number(m[1] || 0) * 3600 + Number(m[2] || 0) * 60 + Number(m[3] || 0);
}

// Starts `media` at `seconds` once it knows its duration (before that a seek is lost).
export function startAt(media, seconds) {
  if (!(seconds > 0)) return;
  const go = () => {
    const end = Number.isFinite(media.duration) ? media.duration : Infinity;
    media.currentTime = Math.min(seconds, Math.max(0, end - 0.5));
  };
  if (media.readyState >= 1) go();
  else media.addEventListener('loadedmetadata', go, { once: true });
}

// The address of `link` starting at `seconds` (whole seconds; none at 0).
export function linkAt(link, seconds) {
  const t = Math.floor(seconds || 0);
  if (t <= 0) return link;
  const url = new URL(link);
  url.searchParams.set('t', String(t));
  return url.href;
}

// "alice" as a link to her channel page.
export function channelLink(username) {
  return h('a.channel', { href: `/u/${encodeURIComponent(username)}` }, username);
}
