// The player's CC menu: the video's caption tracks (from the API) chosen through whichever
// engine plays it (hls.js subtitle tracks, dash.js text tracks, or the browser's own for
// native HLS). The choice is remembered per browser, by language.
import { h } from './dom.js';

const CHOICE_KEY = 'streamlet.captions';

export function captionMenu(video, media) {
  const tracks = video.captions || [];
  const select = h(
    'select.captions',
    { name: 'captions', 'aria-label': 'Captions', disabled: tracks.length === 0, title: tracks.length ? 'Captions' : 'No captions' },
    h('option', { value: '' }, tracks.length ? 'CC off' : 'No CC'),
    tracks.map((t) => h('option', { value: t.language }, t.label || t.language)),
  );
  const label = h('label.captions-label', h('span.sr-only', 'Captions '), select);
  let engine = null; // { kind: 'hls', hls } | { kind: 'dash', player } | { kind: 'native' }

  function show(language) {
    select.value = language;
    if (engine?.kind === 'hls') {
      const hls = engine.hls;
      const i = hls.subtitleTracks.findIndex((t) => t.lang === language);
      hls.subtitleDisplay = i >= 0;
      hls.subtitleTrack = i;
    } else if (engine?.kind === 'dash') {
      const player = engine.player;
      const list = player.getTracksFor('text') || [];
      const track = list.find((t) => t.lang === language);
      if (track) {
        player.setCurrentTrack(track);
        player.enableText(true);
      } else {
        player.enableText(false);
      }
    }
    applyModes(language);
    label.dataset.showing = language;
  }

  // Whatever the engine made, the element's own tracks follow the choice too.
  function applyModes(language) {
    for (const t of media.textTracks) {
      if (t.kind !== 'subtitles' && t.kind !== 'captions') continue;
      t.mode = language && t.language === language ? 'showing' : 'disabled';
    }
  }

  select.addEventListener('change', () => {
    try { localStorage.setItem(CHOICE_KEY, select.value); } catch {}
    show(select.value);
  });

  // The engine's tracks appear after its manifest: apply the stored choice then.
  function attach(next) {
    engine = next;
    let wanted = '';
    try { wanted = localStorage.getItem(CHOICE_KEY) || ''; } catch {}
    if (!tracks.some((t) => t.language === wanted)) wanted = '';
    show(wanted);
  }
  media.textTracks?.addEventListener?.('addtrack', () => applyModes(select.value));

  // The "c" key: off when on; on (the last language shown, else the first) when off.
  let lastShown = '';
  function toggle() {
    if (!tracks.length) return;
    if (select.value) lastShown = select.value;
    const next = select.value ? '' : lastShown || tracks[0].language;
    try { localStorage.setItem(CHOICE_KEY, next); } catch {}
    show(next);
  }

  // dash.js makes its text tracks after STREAM_INITIALIZED: a choice made before they were
  // there only set the element's modes, so dash.js fetched no cues. Apply it again now.
  const refresh = () => show(select.value);

  return { el: label, attach, show, toggle, refresh };
}
