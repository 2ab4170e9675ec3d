// /embed/{id}: the player alone, for an iframe on another site. Who may play is the API's
// answer (an unlisted video plays for whoever has the link, a private one only for those it
// would play for on the watch page); ?t=N starts at N seconds.
import { h } from '../dom.js';
import { videos } from '../api.js';
import { createPlayer } from '../player.js';
import { startTime, startAt } from '../share.js';

export function renderEmbed(main, { params, query }) {
  const id = decodeURIComponent(params[0]);
  let player = null;
  let disposed = false;
  main.append(h('p', { role: 'status' }, 'Loading…'));
  (async () => {
    let video;
    try {
      video = await videos.get(id);
    } catch (err) {
      if (disposed) return;
      main.replaceChildren(h('div.embed-unavailable', { role: 'alert' },
        h('p', err.status === 404 ? 'This video is unavailable.' : `Could not load the video: ${err.message}`)));
      return;
    }
    if (disposed) return;
    document.title = `${video.title} · Streamlet`;
    const watch = new URL(video.page || `/watch/${video.id}`, location.origin).href;
    if (video.status !== 'ready') {
      main.replaceChildren(h('div.embed-unavailable', { role: 'status' }, h('p', 'This video is not ready yet.')));
      return;
    }
    player = createPlayer(video);
    startAt(player.media, startTime(query.get('t')));
    // The title links to the watch page, in a new tab: the embedding page stays.
    main.replaceChildren(h('div.embed', { dataset: { videoId: video.id } }, player.el,
      h('a.embed-title', { href: watch, target: '_blank', rel: 'noopener' }, video.title || 'Untitled')));
  })();
  return () => {
    disposed = true;
    player?.destroy();
  };
}
