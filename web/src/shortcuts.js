// The player's keyboard shortcuts, page-wide as on YouTube. One table says what each key does;
// the key handler and the "?" help overlay both read it, so the overlay cannot drift from the keys.
import { h } from './dom.js';

// `run(c, key)` gets the player's controls (see createPlayer).
export const SHORTCUTS = [
  { keys: ['k', ' '], shown: 'K or Space', what: 'Play or pause', run: (c) => c.togglePlay() },
  { keys: ['j'], shown: 'J', what: 'Back 10 seconds', run: (c) => c.seekBy(-10) },
  { keys: ['l'], shown: 'L', what: 'Forward 10 seconds', run: (c) => c.seekBy(10) },
  { keys: ['ArrowLeft'], shown: '←', what: 'Back 5 seconds', run: (c) => c.seekBy(-5) },
  { keys: ['ArrowRight'], shown: '→', what: 'Forward 5 seconds', run: (c) => c.seekBy(5) },
  { keys: ['ArrowUp'], shown: '↑', what: 'Volume up', run: (c) => c.volumeBy(0.05) },
  { keys: ['ArrowDown'], shown: '↓', what: 'Volume down', run: (c) => c.volumeBy(-0.05) },
  { keys: ['m'], shown: 'M', what: 'Mute or unmute', run: (c) => c.toggleMute() },
  { keys: ['f'], shown: 'F', what: 'Full screen', run: (c) => c.toggleFullscreen() },
  { keys: ['c'], shown: 'C', what: 'Captions on or off', run: (c) => c.toggleCaptions() },
  { keys: ['<'], shown: '<', what: 'Slower', run: (c) => c.speedStep(-1) },
  { keys: ['>'], shown: '>', what: 'Faster', run: (c) => c.speedStep(1) },
  { keys: '0123456789'.split(''), shown: '0 … 9', what: 'Go to 0% … 90% of the video', run: (c, key) => c.seekToFraction(Number(key) / 10) },
  { keys: ['?'], shown: '?', what: 'Show these shortcuts', run: (c) => c.showHelp() },
];

const BY_KEY = new Map(SHORTCUTS.flatMap((s) => s.keys.map((k) => [k, s])));

// Typing goes to the field, not the player: text inputs, text areas, menus, editable text.
// Sliders (the seek bar, the volume) are not typing: on them the keys drive the player, so an
// arrow on the focused seek bar moves 5 s instead of the slider's own 0.1 s step.
function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.closest('textarea, select, [contenteditable=""], [contenteditable="true"]')) return true;
  return target.tagName === 'INPUT' && target.type !== 'range';
}

// Listens on the whole document; returns the function that stops listening.
export function installShortcuts(controls, { isOpen = () => false } = {}) {
  const onKey = (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isOpen()) return;
    if (typing(e.target)) return;
    const key = e.key.length === 1 && e.key !== ' ' ? e.key.toLowerCase() : e.key;
    const shortcut = BY_KEY.get(key) || BY_KEY.get(e.key);
    if (!shortcut) return;
    // Space and Enter on a button press the button; a shortcut would press it twice.
    if (e.key === ' ' && e.target instanceof Element && e.target.closest('button, a, summary, input[type=checkbox]')) return;
    e.preventDefault();
    shortcut.run(controls, key);
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}

// The help overlay: a modal <dialog> (Escape closes it, focus comes back where it was).
export function shortcutHelp() {
  const close = h('button.small', { type: 'button' }, 'Close');
  const dialog = h(
    'dialog.shortcut-help',
    { 'aria-labelledby': 'shortcut-help-title' },
    h('div.box',
      h('h2', { id: 'shortcut-help-title' }, 'Keyboard shortcuts'),
      h('table', h('tbody', SHORTCUTS.map((s) => h('tr', h('th', { scope: 'row' }, h('kbd', s.shown)), h('td', s.what))))),
      h('p.hint', 'Not while typing in a text box.'),
      close),
  );
  close.addEventListener('click', () => dialog.close());
  // A click on the backdrop (outside the box: the dialog has no padding of its own) closes it.
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
  return {
    el: dialog,
    open: () => { if (!dialog.open) dialog.showModal(); },
    isOpen: () => dialog.open,
  };
}
