// The details of one upload (title, description, visibility), editable before and while its
// file is sent: the values at creation go into the upload's metadata, later changes are saved
// to the video once the server has named it. The file name is only the default title.
import { h, field, VISIBILITY_WORDS } from '../dom.js';
import { videos } from '../api.js';

const MAX_TITLE = 200;
const MAX_DESCRIPTION = 5000;

export function uploadDetails(file, visibility) {
  const name = file.name.replace(/\.[^.]+$/, '');
  const [titleField, title] = field('Title', h('input', { name: 'title', value: name, required: true, maxLength: MAX_TITLE }));
  const [descField, description] = field('Description', h('textarea', { name: 'description', rows: 2, maxLength: MAX_DESCRIPTION }));
  const [visField, vis] = field('Visibility', h('select', { name: 'visibility' }, Object.entries(VISIBILITY_WORDS).map(([v, text]) => h('option', { value: v, selected: v === visibility }, text))));
  const note = h('span.hint', { role: 'status', 'aria-live': 'polite' });
  let videoId = null;
  let unsaved = false; // changed before the server named the video

  const values = () => ({ title: title.value.trim() || name, description: description.value, visibility: vis.value });
  async function save() {
    if (!videoId) {
      unsaved = true;
      note.textContent = 'Saved with the upload once it starts.';
      return;
    }
    unsaved = false;
    try {
      await videos.update(videoId, values());
      note.textContent = 'Details saved.';
    } catch (err) {
      note.textContent = `Could not save the details: ${err.message}`;
    }
  }
  const form = h(
    'form.upload-details',
    { 'aria-label': `Details of ${file.name}`, on: { submit: (e) => { e.preventDefault(); if (form.reportValidity()) save(); } } },
    titleField,
    descField,
    visField,
    h('div.actions', h('button.small', { type: 'submit' }, 'Save details'), note),
  );
  return {
    el: form,
    // What the upload's creation carries (tus metadata values are strings).
    metadata: () => values(),
    // The server named the video: details changed before that are saved now.
    videoKnown(id) {
      if (videoId === id) return;
      videoId = id;
      if (unsaved) save();
    },
  };
}
