// Tiny DOM helpers: h('tag.class', {attrs, on: {event}}, ...children).

export function h(spec, props, ...children) {
  if (props == null || typeof props !== 'object' || props instanceof Node || Array.isArray(props)) {
    children.unshift(props);
    props = {};
  }
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'on') {
      for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    } else if (key === 'class') {
      el.className += (el.className ? ' ' : '') + value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key in el && !key.startsWith('aria') && key !== 'list' && key !== 'form') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

let idCounter = 0;
export const uid = (prefix = 'id') => `${prefix}-${++idCounter}`;

// A labelled form field; returns [wrapper, control].
export function field(label, control, hint) {
  control.id ||= uid('f');
  const hintEl = hint ? h('small.hint', { id: uid('h') }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return [h('div.field', h('label', { htmlFor: control.id }, label), control, hintEl), control];
}

export function formatDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function formatBytes(n) {
  if (!isFinite(n)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function formatCount(n, word) {
  n = n || 0;
  return `${n.toLocaleString()} ${word}${n === 1 ? '' : 's'}`;
}

export const STATUS_WORDS = {
  uploading: 'Uploading',
  queued: 'Waiting to be processed',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
  gone: 'Deleted',
};

export const VISIBILITY_WORDS = {
  public: 'Public — anyone can find and watch it',
  unlisted: 'Unlisted — anyone with the link can watch it',
  private: 'Private — only you can watch it',
};
