// The library's "Captions & poster" panel for one of the owner's videos: list, add and remove
// caption files (WebVTT or SRT), set a poster (a JPEG or PNG of their own, or the frame at a
// time), and download the original file.
import { h, field } from '../dom.js';
import { api, authHeaders, downloadOriginal } from '../api.js';

const base = (id) => `/v1/videos/${encodeURIComponent(id)}`;

// PUT of a file's bytes; the API's JSON answer, or an Error with its message.
async function putFile(path, file, type) {
  let res;
  try {
    res = await fetch(path, { method: 'PUT', headers: { 'Content-Type': type, ...authHeaders() }, body: file });
  } catch {
    throw new Error('Could not reach the server. Check your network connection and try again.');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(data?.error || `The server refused it (${res.status}).`);
  return data;
}

export function captionsPanel(v, { onDone, onChange }) {
  const list = h('ul.caption-list', { 'aria-label': `Captions of ${v.title}` });
  const error = h('p.error', { role: 'alert', hidden: true });
  const note = h('p.hint', { role: 'status', 'aria-live': 'polite' });
  const say = (text, bad = false) => {
    error.hidden = !bad;
    error.textContent = bad ? text : '';
    note.textContent = bad ? '' : text;
  };

  async function refresh() {
    try {
      const { items } = await api('GET', `${base(v.id)}/captions`);
      list.replaceChildren(
        ...(items.length ? items.map(row) : [h('li.hint', 'No captions yet.')]),
      );
    } catch (err) {
      say(`Could not list the captions: ${err.message}`, true);
    }
  }
  function row(c) {
    const remove = h('button.small.danger', { type: 'button', 'aria-label': `Remove ${c.label} captions`, on: { click: async () => {
      remove.disabled = true;
      try {
        await api('DELETE', `${base(v.id)}/captions/${encodeURIComponent(c.language)}`);
        say(`Removed the ${c.label} captions.`);
        refresh();
      } catch (err) {
        remove.disabled = false;
        say(`Could not remove them: ${err.message}`, true);
      }
    } } }, 'Remove');
    return h('li.caption', { dataset: { language: c.language } }, h('strong', c.label), ` (${c.language}, ${c.cues} cues) `, remove);
  }

  const [langField, lang] = field('Language', h('input', { name: 'language', required: true, placeholder: 'en, pt-BR, …', maxLength: 35, pattern: '[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*' }), 'A language tag such as en, fr or pt-BR');
  const [labelField, label] = field('Label', h('input', { name: 'label', placeholder: 'English', maxLength: 100 }), 'Shown in the player’s CC menu');
  const [fileField, file] = field('Caption file', h('input', { type: 'file', name: 'captions', required: true, accept: '.vtt,.srt,text/vtt,application/x-subrip' }), 'WebVTT (.vtt) or SubRip (.srt)');
  const add = h('form.captions-add', { 'aria-label': 'Add captions', on: { submit: async (e) => {
    e.preventDefault();
    if (!add.reportValidity()) return;
    const q = label.value.trim() ? `?label=${encodeURIComponent(label.value.trim())}` : '';
    try {
      const c = await putFile(`${base(v.id)}/captions/${encodeURIComponent(lang.value.trim())}${q}`, file.files[0], 'text/plain; charset=utf-8');
      say(`Added the ${c.label} captions (${c.cues} cues).`);
      add.reset();
      refresh();
    } catch (err) {
      say(`Could not add the captions: ${err.message}`, true);
    }
  } } }, langField, labelField, fileField, h('button.primary.small', { type: 'submit' }, 'Add captions'));

  const [posterField, poster] = field('Poster image', h('input', { type: 'file', name: 'poster', accept: 'image/jpeg,image/png' }), 'JPEG or PNG; scaled to at most 1280 pixels wide');
  poster.addEventListener('change', async () => {
    if (!poster.files[0]) return;
    try {
      const updated = await putFile(`${base(v.id)}/poster`, poster.files[0], poster.files[0].type || 'application/octet-stream');
      Object.assign(v, updated);
      onChange?.(v);
      say('The new poster is set.');
    } catch (err) {
      say(`Could not set the poster: ${err.message}`, true);
    }
    poster.value = '';
  });

  const [atField, at] = field('Or the frame at (seconds)', h('input', { type: 'number', name: 'poster-at', min: 0, step: 0.1, max: v.duration_seconds || undefined, value: 0 }), 'The picture on screen at that moment, as the seek bar’s preview shows it');
  const useFrame = h('button.small', { type: 'button', on: { click: async () => {
    useFrame.disabled = true;
    try {
      Object.assign(v, await api('PUT', `${base(v.id)}/poster?at=${encodeURIComponent(at.value || '0')}`));
      onChange?.(v);
      say('The new poster is set.');
    } catch (err) {
      say(`Could not set the poster: ${err.message}`, true);
    } finally {
      useFrame.disabled = false;
    }
  } } }, 'Use this frame');

  // A signed link the browser follows: the file streams to disk under its uploaded name.
  const download = h('button.small', { type: 'button', on: { click: async () => {
    download.disabled = true;
    try {
      await downloadOriginal(v.id);
      say('Downloading the original file.');
    } catch (err) {
      say(`Could not download the original: ${err.message}`, true);
    } finally {
      download.disabled = false;
    }
  } } }, 'Download the original file');

  const el = h(
    'section.captions-panel',
    { 'aria-label': `Captions and poster of ${v.title}` },
    h('h3', 'Captions'),
    list,
    add,
    h('h3', 'Poster'),
    posterField,
    h('div.poster-at', atField, useFrame),
    h('h3', 'Original file'),
    download,
    note,
    error,
    h('div.actions', h('button.small', { type: 'button', on: { click: () => onDone() } }, 'Done')),
  );
  refresh();
  return el;
}
