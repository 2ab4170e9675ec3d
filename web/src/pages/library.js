import { captionsPanel } from './captions_panel.js';
import { h, field, formatDuration, formatCount, STATUS_WORDS, VISIBILITY_WORDS } from '../dom.js';
import { videos, followVideo } from '../api.js';
import { channelLink } from '../share.js';

const PER_PAGE = 24;
// The server's limits (docs/api.md): bytes of UTF-8.
const TITLE_MAX = 200;
const DESCRIPTION_MAX = 5000;
const utf8Length = (text) => new TextEncoder().encode(text).length;

// "/" — public, ready videos: the same list for everyone (the viewer's own unlisted, private
// and unfinished videos are in their library, and an admin's view of everyone's is not here).
export function renderBrowse(main, ctx) {
  return renderGrid(main, ctx, { owner: '', title: 'Videos', editable: false, filter: { visibility: 'public', status: 'ready' } });
}

// "/library" — the signed-in person's own videos, with controls.
export function renderLibrary(main, ctx) {
  return renderGrid(main, ctx, { owner: 'me', title: 'Your library', editable: true });
}

// A grid of videos with search and pages (the home page, the library, a channel page).
export function renderGrid(main, { query, navigate }, { owner, title, editable, channel = false, filter = {} }) {
  let page = Math.max(1, Number(query.get('page')) || 1);
  let q = query.get('q') || '';
  // The library's own order and filters (GET /v1/videos sort, status, visibility), kept in
  // the address like the search.
  const choice = { sort: query.get('sort') || '', status: query.get('status') || '', visibility: query.get('visibility') || '' };
  const followers = new Map();
  let generation = 0;

  const search = h('input', { type: 'search', name: 'q', value: q, placeholder: 'Title or description', autocomplete: 'off' });
  const [searchField] = field(editable ? 'Search your videos' : 'Search videos', search);
  const form = h('form.search', { role: 'search', on: { submit: (e) => { e.preventDefault(); apply(); } } }, searchField, h('button', { type: 'submit' }, 'Search'));
  let debounce;
  // Typing makes one history entry per search, not one per pause.
  let typing = false;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => apply({ replace: typing }), 300);
  });

  const pick = (name, label, options) => {
    const sel = h(`select.${name}-filter`, { name }, options.map(([value, text]) => h('option', { value, selected: choice[name] === value }, text)));
    sel.addEventListener('change', () => {
      choice[name] = sel.value;
      page = 1;
      typing = false;
      syncUrl();
      load();
    });
    return field(label, sel)[0];
  };
  const toolbar = editable
    ? h(
        'div.filters',
        pick('sort', 'Sort by', [['', 'Newest first'], ['oldest', 'Oldest first'], ['title', 'Title'], ['views', 'Most viewed']]),
        pick('status', 'Status', [['', 'Any status'], ...['ready', 'processing', 'queued', 'uploading', 'failed'].map((x) => [x, STATUS_WORDS[x]])]),
        pick('visibility', 'Visibility', [['', 'Any visibility'], ['public', 'Public'], ['unlisted', 'Unlisted'], ['private', 'Private']]),
      )
    : null;
  // Bulk actions: one request per selected video (the API has no bulk endpoint).
  const selected = new Set();
  const bulkCount = h('span.count');
  const bulkVis = h('select.bulk-visibility', { 'aria-label': 'New visibility for the selected videos' }, ['public', 'unlisted', 'private'].map((x) => h('option', { value: x }, x[0].toUpperCase() + x.slice(1))));
  const bulkError = h('p.error', { role: 'alert', hidden: true });
  const bulk = editable
    ? h(
        'div.bulk',
        { hidden: true, role: 'region', 'aria-label': 'Selected videos' },
        bulkCount,
        h('label.inline', bulkVis),
        h('button.small', { type: 'button', on: { click: () => bulkRun((id) => videos.update(id, { visibility: bulkVis.value })) } }, 'Set visibility'),
        h('button.small.danger', { type: 'button', on: { click: () => confirm(`Delete ${formatCount(selected.size, 'video')}? Their files are removed and this cannot be undone.`) && bulkRun((id) => videos.remove(id)) } }, 'Delete selected'),
        h('button.small', { type: 'button', on: { click: () => { selected.clear(); paintBulk(); grid.querySelectorAll('input.select').forEach((c) => (c.checked = false)); } } }, 'Clear selection'),
        bulkError,
      )
    : null;
  function paintBulk() {
    if (!bulk) return;
    bulk.hidden = selected.size === 0;
    bulkCount.textContent = `${formatCount(selected.size, 'video')} selected`;
  }
  async function bulkRun(one) {
    bulkError.hidden = true;
    const failed = [];
    for (const id of [...selected]) {
      try {
        await one(id);
        selected.delete(id);
      } catch (err) {
        failed.push(err.message);
      }
    }
    paintBulk();
    await load();
    if (failed.length) showError(bulkError, `${formatCount(failed.length, 'video')} could not be changed: ${failed[0]}`);
  }
  const summary = h('p.summary', { role: 'status', 'aria-live': 'polite' });
  const grid = h('ul.grid', { 'aria-label': title });
  const pager = h('nav.pager', { 'aria-label': 'Pages' });
  const head = h('div.page-head', h('h1', title), editable && h('a.button', { href: '/analytics' }, 'Analytics'), editable && h('a.button.primary', { href: '/upload' }, 'Upload'));
  main.append(head, form, toolbar, bulk, summary, grid, pager);

  function apply({ replace = false } = {}) {
    const next = search.value.trim();
    if (next === q && page === 1) return;
    q = next;
    page = 1;
    syncUrl({ replace });
    typing = true;
    load();
  }
  // Each search and each page is a history entry, so Back returns to the one before (the
  // router renders the page again from the address).
  function syncUrl({ replace = false } = {}) {
    const p = new URLSearchParams();
    if (q) p.set('q', q);
    for (const [k, v] of Object.entries(choice)) if (v) p.set(k, v);
    if (page > 1) p.set('page', String(page));
    const url = location.pathname + (p.toString() ? `?${p}` : '');
    if (url === location.pathname + location.search) return;
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
  }
  function goTo(n) {
    page = n;
    typing = false;
    syncUrl();
    load();
    main.querySelector('h1')?.scrollIntoView({ block: 'start' });
  }

  async function load() {
    const mine = ++generation;
    summary.textContent = 'Loading…';
    let result;
    try {
      result = await videos.list({ q, owner, page, perPage: PER_PAGE, ...(editable ? choice : {}), ...filter });
    } catch (err) {
      if (mine !== generation) return;
      summary.textContent = '';
      grid.replaceChildren(h('li.error', { role: 'alert' }, `Could not load the videos: ${err.message}`));
      if (channel && err.status === 404) {
        main.querySelector('h1').textContent = 'User not found';
        grid.replaceChildren(h('li.error', { role: 'alert' }, `There is no user called “${owner}”.`));
        return;
      }
      if (err.status === 401) navigate(`/login?next=${encodeURIComponent(location.pathname)}`, { replace: true });
      return;
    }
    if (mine !== generation) return;
    const { items = [], total = items.length } = result;
    const pages = Math.max(1, Math.ceil(total / PER_PAGE));
    // Past the last page (an old link, ?page=99): show the last one instead.
    if (page > pages) {
      page = pages;
      syncUrl({ replace: true });
      return load();
    }
    for (const stop of followers.values()) stop();
    followers.clear();
    const narrowed = q || choice.status || choice.visibility;
    summary.textContent = total
      ? `${formatCount(total, 'video')}${q ? ` matching “${q}”` : ''}`
      : narrowed
        ? q ? `No videos match “${q}”.` : 'No videos match these filters.'
        : editable
          ? 'You have not uploaded any videos yet.'
          : channel
          ? `${owner} has no public videos yet.`
          : 'There are no videos to show yet.';
    for (const id of [...selected]) if (!items.some((v) => v.id === id)) selected.delete(id);
    paintBulk();
    grid.replaceChildren(...items.map((v) => card(v)));
    if (!total && editable && !narrowed) grid.append(h('li.empty', h('a.button.primary', { href: '/upload' }, 'Upload your first video')));
    pager.replaceChildren();
    if (pages > 1) pager.append(
      h('button', { type: 'button', disabled: page <= 1, on: { click: () => goTo(page - 1) } }, 'Previous'),
      h('span', `Page ${page} of ${pages}`),
      h('button', { type: 'button', disabled: page >= pages, on: { click: () => goTo(page + 1) } }, 'Next'),
    );
  }

  function card(v) {
    const li = h('li.card.video', { dataset: { videoId: v.id, status: v.status } });
    paint(li, v);
    return li;
  }

  function paint(li, v) {
    li.dataset.status = v.status;
    const watchable = v.status === 'ready';
    const poster = v.poster
      ? h('img', { src: v.poster, alt: '', loading: 'lazy', width: 320, height: 180 })
      : h('div.poster-missing', { 'aria-hidden': 'true' }, v.status === 'failed' ? '!' : '…');
    const thumb = h(
      watchable ? 'a.thumb' : 'div.thumb',
      watchable ? { href: v.page || `/watch/${v.id}`, tabIndex: -1, 'aria-hidden': 'true' } : {},
      poster,
      v.duration_seconds ? h('span.duration', formatDuration(v.duration_seconds)) : null,
    );
    const titleEl = h('h2.title', watchable || editable ? h('a', { href: v.page || `/watch/${v.id}` }, v.title || 'Untitled') : v.title);
    const meta = h(
      'p.meta',
      h('span.badge', { class: `status-${v.status}` }, STATUS_WORDS[v.status] || v.status),
      ' ',
      // Every card says who can see it, so a private video is never mistaken for a public one.
      h('span.badge.visibility', { class: `visibility-${v.visibility}`, title: VISIBILITY_WORDS[v.visibility] }, v.visibility ? v.visibility[0].toUpperCase() + v.visibility.slice(1) : ''),
      ' ',
      h('span', formatCount(v.views, 'view')),
      v.duration_seconds ? h('span.sr-only', `, ${formatDuration(v.duration_seconds)} long`) : null,
      !editable && !channel && v.owner?.username ? h('span.owner', 'by ', channelLink(v.owner.username)) : null,
    );
    const live = h('p.live', { role: 'status' });
    if (v.status === 'failed' && v.status_reason) live.textContent = `Failed: ${v.status_reason}`;
    const pickBox = editable
      ? h('input.select', { type: 'checkbox', checked: selected.has(v.id), 'aria-label': `Select ${v.title || 'Untitled'}`, on: { change: (e) => { if (e.target.checked) selected.add(v.id); else selected.delete(v.id); paintBulk(); } } })
      : null;
    li.replaceChildren(thumb, h('div.body', pickBox, titleEl, meta, live, editable && controls(li, v)));

    if (editable && (v.status === 'queued' || v.status === 'processing') && !followers.has(v.id)) {
      followers.set(
        v.id,
        followVideo(v.id, async (u) => {
          if (u.connection) return;
          if (u.status === 'processing' && u.percent != null) {
            li.querySelector('.badge').textContent = `Processing ${Math.round(u.percent)}%`;
          } else if (u.status === 'ready' || u.status === 'failed') {
            followers.get(v.id)?.();
            followers.delete(v.id);
            try {
              paint(li, await videos.get(v.id));
            } catch {}
          } else if (u.status && STATUS_WORDS[u.status]) {
            li.querySelector('.badge').textContent = STATUS_WORDS[u.status];
          }
        }),
      );
    }
  }

  function controls(li, v) {
    const error = h('p.error', { role: 'alert', hidden: true });
    const vis = h(
      'select.visibility',
      { 'aria-label': `Visibility of ${v.title}` },
      ['public', 'unlisted', 'private'].map((x) => h('option', { value: x, selected: v.visibility === x, title: VISIBILITY_WORDS[x] }, x[0].toUpperCase() + x.slice(1))),
    );
    vis.addEventListener('change', async () => {
      error.hidden = true;
      vis.disabled = true;
      try {
        const updated = await videos.update(v.id, { visibility: vis.value });
        Object.assign(v, updated);
        paint(li, v);
        li.querySelector('select.visibility')?.focus();
      } catch (err) {
        vis.value = v.visibility;
        showError(error, `Could not change the visibility: ${err.message}`);
      } finally {
        vis.disabled = false;
      }
    });
    const edit = h('button.small', { type: 'button', 'aria-label': `Edit ${v.title}`, on: { click: () => editForm(li, v) } }, 'Edit');
    const del = h('button.small.danger', { type: 'button', 'aria-label': `Delete ${v.title}`, on: { click: () => remove(li, v, error) } }, 'Delete');
    const extras = v.status === 'ready' && h('button.small', { type: 'button', 'aria-label': `Captions and poster of ${v.title}`, on: { click: () => li.querySelector('.body').replaceChildren(captionsPanel(v, { onDone: () => paint(li, v), onChange: () => {} })) } }, 'Captions & poster');
    const retry =
      v.status === 'failed'
        ? h('button.small', { type: 'button', 'aria-label': `Retry ${v.title}`, on: { click: async () => {
            error.hidden = true;
            try {
              Object.assign(v, await videos.retry(v.id));
              paint(li, v);
            } catch (err) {
              showError(error, `Could not retry: ${err.message}`);
            }
          } } }, 'Retry')
        : null;
    const analytics = h('a.button.small', { href: `/analytics/${encodeURIComponent(v.id)}` }, 'Analytics');
    return h('div.controls', h('label.inline', vis), edit, extras || null, analytics, retry, del, error);
  }

  async function remove(li, v, error) {
    if (!confirm(`Delete “${v.title}”? Its files are removed and this cannot be undone.`)) return;
    try {
      await videos.remove(v.id);
      followers.get(v.id)?.();
      li.remove();
      load();
    } catch (err) {
      showError(error, `Could not delete: ${err.message}`);
    }
  }

  function editForm(li, v) {
    const [tField, titleInput] = field('Title', h('input', { value: v.title || '', required: true, maxLength: TITLE_MAX }));
    const counter = h('small.counter', { 'aria-live': 'polite' });
    const [dField, desc] = field('Description', h('textarea', { rows: 3 }, v.description || ''));
    dField.append(counter);
    // The server counts bytes of UTF-8: letters beyond ASCII count 2 to 4.
    const paintCounter = () => {
      const n = utf8Length(desc.value);
      counter.textContent = `${n.toLocaleString()} / ${DESCRIPTION_MAX.toLocaleString()}`;
      counter.classList.toggle('over', n > DESCRIPTION_MAX);
      desc.setCustomValidity(n > DESCRIPTION_MAX ? `The description is ${(n - DESCRIPTION_MAX).toLocaleString()} too long (at most ${DESCRIPTION_MAX.toLocaleString()}; letters beyond ASCII count 2 to 4).` : '');
    };
    const checkTitle = () => titleInput.setCustomValidity(titleInput.value.trim() ? '' : 'Give the video a title.');
    desc.addEventListener('input', paintCounter);
    titleInput.addEventListener('input', checkTitle);
    paintCounter();
    checkTitle();
    const [visField, vis] = field('Visibility', h('select', ['public', 'unlisted', 'private'].map((x) => h('option', { value: x, selected: v.visibility === x }, VISIBILITY_WORDS[x]))));
    const error = h('p.error', { role: 'alert', hidden: true });
    const form = h(
      'form.edit',
      {
        'aria-label': `Edit ${v.title}`,
        on: {
          submit: async (e) => {
            e.preventDefault();
            if (!form.reportValidity()) return;
            try {
              Object.assign(v, await videos.update(v.id, { title: titleInput.value.trim(), description: desc.value, visibility: vis.value }));
              paint(li, v);
              li.querySelector('.title a')?.focus();
            } catch (err) {
              showError(error, `Could not save: ${err.message}`);
            }
          },
          keydown: (e) => e.key === 'Escape' && (paint(li, v), li.querySelector('.controls button')?.focus()),
        },
      },
      tField,
      dField,
      visField,
      error,
      h('div.actions', h('button.primary.small', { type: 'submit' }, 'Save'), h('button.small', { type: 'button', on: { click: () => paint(li, v) } }, 'Cancel')),
    );
    li.querySelector('.body').replaceChildren(form);
    titleInput.focus();
  }

  load();
  return () => {
    generation++;
    clearTimeout(debounce);
    for (const stop of followers.values()) stop();
  };
}

function showError(el, text) {
  el.textContent = text;
  el.hidden = false;
}

