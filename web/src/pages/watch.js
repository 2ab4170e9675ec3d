import { h, formatCount, formatDuration, STATUS_WORDS, VISIBILITY_WORDS } from '../dom.js';
import { videos, followVideo, session, authHeaders, downloadOriginal } from '../api.js';
import { createPlayer } from '../player.js';
import { startTime, startAt, linkAt, channelLink } from '../share.js';
import { savedPosition, rememberPosition } from '../resume.js';
import { socialSection } from './social.js';

const VIEWER_KEY = 'streamlet.viewer';
const BEACON_EVERY_MS = 30000;

export function renderWatch(main, { params, query }) {
  const id = decodeURIComponent(params[0]);
  const engine = query.get('player') === 'dash' ? 'dash' : 'hls';
  let player = null;
  let stopFollow = null;
  let views = null;
  let stopResume = null;
  let disposed = false;

  main.append(h('p', { role: 'status' }, 'Loading…'));
  load();

  async function load() {
    let video;
    try {
      video = await videos.get(id);
    } catch (err) {
      if (disposed) return;
      // replaceChildren prints a false as "false": only nodes go in.
      main.replaceChildren(...[
        h('h1', err.status === 404 ? 'Video not found' : 'Could not load the video'),
        h('p.error', { role: 'alert' }, err.status === 404
          ? 'This video does not exist, or it is private.'
          : err.message),
        err.status === 404 && !session.user && h('p', 'If it is yours, ', h('a', { href: `/login?next=${encodeURIComponent(location.pathname)}` }, 'sign in'), ' to watch it.'),
        h('p', h('a', { href: '/' }, 'Go to the videos')),
      ].filter(Boolean));
      return;
    }
    if (disposed) return;
    document.title = `${video.title} · Streamlet`;
    render(video);
  }

  function render(video) {
    const mine = session.user && video.owner && session.user.id === video.owner.id;
    const heading = h('h1.video-title', video.title || 'Untitled');
    const meta = h(
      'p.meta',
      h('span.views', formatCount(video.views, 'view')),
      video.owner?.username ? h('span.owner', ' · by ', channelLink(video.owner.username)) : '',
      video.created_at ? ` · ${new Date(video.created_at).toLocaleDateString()}` : '',
      mine ? h('span.badge', { class: `vis-${video.visibility}` }, video.visibility) : null,
    );
    const description = video.description ? h('p.description', video.description) : null;

    let stage;
    if (video.playable) {
      // Ready, or still processing with its first segments out: the player follows the
      // growing playlists to the end, so it is never restarted when the video turns ready.
      player?.destroy();
      player = createPlayer(video, { engine });
      stage = player.el;
      // A ?t= in the address wins over where this browser left off.
      startAt(player.media, query.has('t') ? startTime(query.get('t')) : savedPosition(video.id));
      stopResume?.();
      stopResume = rememberPosition(video.id, player.media, video.duration_seconds || 0);
      views = countViews(video, player.media);
      if (video.status === 'processing') {
        const note = h('p.hint.processing-note', { role: 'status', 'aria-live': 'polite' },
          'Still processing: playing what is ready so far.');
        stage = h('div.stage-wrap', player.el, note);
        stopFollow = followVideo(video.id, (u) => {
          if (u.status === 'processing' && u.percent != null) note.textContent = `Still processing (${Math.round(u.percent)}%): playing what is ready so far.`;
          else if (u.status === 'ready') { note.remove(); stopFollow?.(); }
          else if (u.status === 'failed') note.textContent = `Processing failed: ${u.reason || 'no reason given'}.`;
        });
      }
    } else {
      const progress = h('progress', { max: 100, 'aria-label': 'Processing progress' });
      const words = h('p', { role: 'status', 'aria-live': 'polite' }, video.status === 'failed'
        ? `Processing failed: ${video.status_reason || 'no reason given'}.`
        : `${STATUS_WORDS[video.status] || video.status}. This page starts playing as soon as the first seconds are ready.`);
      stage = h('div.not-ready', { dataset: { status: video.status } }, words, video.status !== 'failed' && progress);
      if (video.status !== 'failed') {
        stopFollow = followVideo(video.id, async (u) => {
          if (u.connection) return (words.textContent = 'Lost the live status; reconnecting…');
          if (u.status === 'processing' && u.percent != null) {
            progress.value = u.percent;
            words.textContent = `Processing ${Math.round(u.percent)}%…`;
          } else if (u.status === 'ready' || u.playable) {
            stopFollow?.();
            load();
          } else if (u.status === 'failed') {
            words.textContent = `Processing failed: ${u.reason || 'no reason given'}.`;
            progress.remove();
          } else if (STATUS_WORDS[u.status]) words.textContent = `${STATUS_WORDS[u.status]}…`;
        });
      }
    }

    const link = new URL(video.page || `/watch/${video.id}`, location.origin).href;
    const shareInput = h('input', { id: 'share-link', readOnly: true, value: link, on: { focus: (e) => e.target.select() } });
    const copied = h('span.hint', { role: 'status' });
    // "Start at 1:23": the link then opens at the player's current time (?t=83).
    const atBox = h('input', { type: 'checkbox', id: 'share-at' });
    const atWords = h('span', 'Start at 0:00');
    const shareLink = () => (atBox.checked && player ? linkAt(link, player.media.currentTime) : link);
    const paintShare = () => {
      atWords.textContent = `Start at ${formatDuration(Math.floor(player?.media.currentTime || 0))}`;
      shareInput.value = shareLink();
    };
    atBox.addEventListener('change', paintShare);
    player?.media.addEventListener('timeupdate', () => { if (player.media.paused || atBox.checked) paintShare(); });
    player?.media.addEventListener('pause', paintShare);
    const share = h(
      'div.share',
      h('label', { htmlFor: 'share-link' }, 'Share link'),
      h('div.share-row', shareInput, h('button.small', { type: 'button', on: { click: async () => {
        paintShare();
        try {
          await navigator.clipboard.writeText(shareLink());
          copied.textContent = 'Link copied.';
        } catch {
          shareInput.select();
          copied.textContent = 'Press Ctrl+C (⌘C) to copy.';
        }
      } } }, 'Copy link')),
      player ? h('div.share-at', atBox, h('label', { htmlFor: 'share-at' }, atWords)) : null,
      copied,
      video.visibility === 'private' ? h('p.hint', 'This video is private: the link works only for you. Make it unlisted to share it.') : null,
    );
    const downloadError = h('span.error', { role: 'alert' });
    const download = (mine || session.user?.role === 'admin') && h('button.link', { type: 'button', on: { click: async () => {
      downloadError.textContent = '';
      try {
        await downloadOriginal(video.id);
      } catch (err) {
        downloadError.textContent = `Could not download: ${err.message}`;
      }
    } } }, 'Download original');
    // Switching engines is a developer's tool: for admins, and to get back from ?player=dash.
    const other = engine === 'dash' ? ['HLS', location.pathname] : ['DASH', `${location.pathname}?player=dash`];
    const engineSwitch = video.playable && (engine === 'dash' || session.user?.role === 'admin');
    const tools = h('p.hint', mine ? h('a', { href: '/library' }, 'Edit in your library') : null, mine && engineSwitch ? ' · ' : null,
      engineSwitch && h('a', { href: other[1] }, `Play with ${other[0]}`), download ? [' · ', download, ' ', downloadError] : null,
      download ? [' · ', h('a', { href: `/analytics/${encodeURIComponent(video.id)}` }, 'Analytics')] : null);

    main.replaceChildren(
      h('article.watch', { dataset: { videoId: video.id, visibility: video.visibility } },
        stage,
        h('div.watch-info', heading, meta, player?.chapterList(), description, share, tools, mine ? h('p.hint', VISIBILITY_WORDS[video.visibility]) : null),
        socialSection(video)),
    );
  }

  return () => {
    disposed = true;
    views?.flush();
    views?.stop();
    stopFollow?.();
    stopResume?.();
    player?.destroy();
  };
}

// View counting: a beacon on first play (counts the view), then watch time
// every 30 s and when the page is hidden or left.
function countViews(video, media) {
  let viewer = localStorage.getItem(VIEWER_KEY);
  if (!viewer) {
    viewer = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now();
    localStorage.setItem(VIEWER_KEY, viewer);
  }
  const url = `/v1/videos/${encodeURIComponent(video.id)}/views`;
  let started = false;
  let pending = 0;
  let last = null;

  function send(seconds) {
    const body = JSON.stringify({ viewer, seconds: Math.round(seconds * 10) / 10 });
    // A beacon carries no Authorization header: private videos (only their owner
    // sees them) go through a keepalive fetch, which does.
    if (video.visibility !== 'private' && navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: 'application/json' }))) return;
    fetch(url, { method: 'POST', keepalive: true, headers: { 'Content-Type': 'application/json', ...authHeaders() }, body }).catch(() => {});
  }
  function flush() {
    if (!started || pending < 0.5) return;
    send(pending);
    pending = 0;
  }
  const onPlaying = () => {
    if (!started) {
      started = true;
      send(0);
    }
    last = media.currentTime;
  };
  const onTime = () => {
    if (media.paused || media.seeking || last == null) return (last = media.currentTime);
    const d = media.currentTime - last;
    if (d > 0 && d < 2) pending += d;
    last = media.currentTime;
  };
  const onHide = () => document.visibilityState === 'hidden' && flush();
  media.addEventListener('playing', onPlaying);
  media.addEventListener('timeupdate', onTime);
  media.addEventListener('pause', flush);
  document.addEventListener('visibilitychange', onHide);
  window.addEventListener('pagehide', flush);
  const timer = setInterval(flush, BEACON_EVERY_MS);
  return {
    flush,
    stop() {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onHide);
      window.removeEventListener('pagehide', flush);
    },
  };
}
