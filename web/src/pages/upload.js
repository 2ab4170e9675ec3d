import * as tus from 'tus-js-client';
import { h, field, formatBytes, formatDuration, STATUS_WORDS, VISIBILITY_WORDS } from '../dom.js';
import { authHeaders, followVideo, videos } from '../api.js';
import { uploadDetails } from './upload_details.js';

const VIDEO_EXTENSIONS = ['mp4', 'm4v', 'mov', 'mkv', 'webm', 'avi', 'wmv', 'flv', 'mpg', 'mpeg', 'ts', 'mts', 'm2ts', '3gp', 'ogv', 'mxf'];
const VIDEO_ID_KEY = 'streamlet.upload-video:'; // + upload URL -> video id, for resumed uploads
// Network loss: keep retrying for about two minutes before asking the person.
const RETRY_DELAYS = [0, 1000, 2000, 3000, 5000, 5000, 10000, 10000, 15000, 15000, 20000, 30000];
const CHUNK_SIZE = 8 * 1024 * 1024;
const PENDING_REFRESH_MS = 2000;
const percentOf = (sent, total) => (total ? Math.floor((sent / total) * 100) : 0);

export function isVideoFile(file) {
  const type = file.type || '';
  if (type.startsWith('video/')) return true;
  if (/^(text|image|audio|font)\//.test(type) || type === 'application/pdf' || type === 'application/json') return false;
  return VIDEO_EXTENSIONS.includes((file.name.split('.').pop() || '').toLowerCase());
}

// Rows live as long as the tab: leaving the page (the app is a single page)
// does not stop an upload, and coming back shows it again.
const rows = new Set();
let list = null;
window.addEventListener('beforeunload', (e) => {
  if ([...rows].some((r) => r.state !== 'uploaded' && r.state !== 'failed' && r.upload)) {
    e.preventDefault(); // uploads resume on the next visit, but warn anyway
    e.returnValue = '';
  }
});

export function renderUpload(main) {
  const endpoint = new URL('/v1/uploads', location.origin).href;
  let maxSize = null;

  const [visField, visibility] = field(
    'Default visibility of new uploads',
    h('select', { name: 'visibility' }, Object.entries(VISIBILITY_WORDS).map(([v, text]) => h('option', { value: v }, text))),
  );
  const input = h('input.file-input', { tabIndex: -1, type: 'file', multiple: true, accept: 'video/*,' + VIDEO_EXTENSIONS.map((e) => '.' + e).join(','), id: 'file-input' });
  const sizeNote = h('span.hint');
  const drop = h(
    'div.dropzone',
    { on: { dragover: onDragOver, dragenter: onDragOver, dragleave: () => drop.classList.remove('over'), drop: onDrop } },
    h('p.drop-title', 'Drag and drop video files here'),
    h('p', 'or'),
    h('label.button.primary', { htmlFor: 'file-input' }, 'Choose files…'),
    input,
    h('p.hint', 'MP4, MOV, MKV, WebM and other video files. ', sizeNote),
  );
  list ||= h('ul.uploads', { 'aria-label': 'Uploads' });
  const pending = h('section.pending', { hidden: true, 'aria-labelledby': 'pending-h' });

  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = '';
  });
  // The label is the visible control; make Enter/Space on it open the picker too.
  drop.querySelector('label').tabIndex = 0;
  drop.querySelector('label').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });

  function onDragOver(e) {
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    drop.classList.add('over');
  }
  function onDrop(e) {
    e.preventDefault();
    drop.classList.remove('over');
    addFiles([...(e.dataTransfer.files || [])]);
  }

  main.append(h('h1', 'Upload videos'), h('div.card', visField, drop), pending, list);

  // Tus-Max-Size tells us the limit, so too-large files are refused before sending a byte.
  fetch('/v1/uploads', { method: 'OPTIONS', headers: { 'Tus-Resumable': '1.0.0' } })
    .then((res) => {
      const max = Number(res.headers.get('Tus-Max-Size'));
      if (max > 0) {
        maxSize = max;
        sizeNote.textContent = `Up to ${formatBytes(max)} each.`;
      }
    })
    .catch(() => {});

  showPending();

  function addFiles(files) {
    for (const file of files) rows.add(new UploadRow(file));
  }

  // Uploads left unfinished by a reload or a closed tab: the browser cannot
  // reopen the file by itself, so list them and resume when the same file is picked.
  async function showPending() {
    const active = new Set([...rows].map((r) => r.upload?.url).filter(Boolean));
    const entries = (await previousUploads()).filter((e) => !active.has(e.uploadUrl));
    if (!entries.length) return;
    const items = h('ul');
    pending.replaceChildren(
      h('h2', { id: 'pending-h' }, 'Unfinished uploads'),
      h('p.hint', 'Pick or drop the same file again and it continues where it stopped.'),
      items,
    );
    for (const entry of entries) {
      const progress = h('span.hint');
      const li = h(
        'li',
        h('strong', entry.metadata?.filename || 'Unnamed file'),
        ' ',
        h('span.hint', formatBytes(entry.size)),
        ' ',
        progress,
        ' ',
        h('button.link', { type: 'button', on: { click: () => discard(entry, li) } }, 'Discard'),
      );
      items.append(li);
      // The server may still be storing what an interrupted request carried: ask again every
      // few seconds while the entry is shown, so the figure is the one a resume starts from.
      const refresh = () => {
        fetch(entry.uploadUrl, { method: 'HEAD', cache: 'no-store', headers: { 'Tus-Resumable': '1.0.0', ...authHeaders() } })
          .then((res) => {
            if (res.status === 404 || res.status === 410) return discard(entry, li, false);
            const offset = Number(res.headers.get('Upload-Offset'));
            if (res.ok && entry.size) progress.textContent = `${percentOf(offset, entry.size)}% sent.`;
            if (li.isConnected) setTimeout(refresh, PENDING_REFRESH_MS);
          })
          .catch(() => li.isConnected && setTimeout(refresh, PENDING_REFRESH_MS));
      };
      refresh();
    }
    pending.hidden = false;
  }

  async function discard(entry, li, terminate = true) {
    if (terminate) await fetch(entry.uploadUrl, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0', ...authHeaders() } }).catch(() => {});
    const videoId = localStorage.getItem(VIDEO_ID_KEY + entry.uploadUrl);
    if (terminate && videoId) await videos.remove(videoId).catch(() => {});
    localStorage.removeItem(entry.urlStorageKey);
    localStorage.removeItem(VIDEO_ID_KEY + entry.uploadUrl);
    li.remove();
    if (!pending.querySelector('li')) pending.hidden = true;
  }

  class UploadRow {
    constructor(file) {
      this.file = file;
      this.samples = [];
      this.videoId = null;
      this.stopFollow = null;
      this.bar = h('progress', { max: 100, value: 0, 'aria-label': `Upload progress of ${file.name}` });
      this.stats = h('span.stats');
      this.message = h('p.row-message', { role: 'status', 'aria-live': 'polite' });
      this.actions = h('div.actions');
      this.el = h(
        'li.upload',
        { dataset: { file: file.name } },
        h('div.row-head', h('strong.name', file.name), h('span.hint', formatBytes(file.size))),
        this.bar,
        h('div.row-foot', this.stats, this.actions),
        this.message,
      );
      this.details = uploadDetails(file, visibility.value);
      this.el.append(this.details.el);
      list.prepend(this.el);

      if (!isVideoFile(file)) return this.fail(`${file.name} is not a video file. Choose a video such as MP4, MOV, MKV or WebM.`);
      if (maxSize && file.size > maxSize) {
        const [a, b] = formatBytes(file.size) === formatBytes(maxSize)
          ? [`${file.size.toLocaleString()} bytes`, `${maxSize.toLocaleString()} bytes`]
          : [formatBytes(file.size), formatBytes(maxSize)];
        return this.fail(`${file.name} is too large (${a}): this server accepts files up to ${b}.`);
      }
      if (file.size === 0) return this.fail(`${file.name} is empty.`);
      this.start();
    }

    start() {
      this.upload = new tus.Upload(this.file, {
        endpoint,
        chunkSize: CHUNK_SIZE,
        retryDelays: RETRY_DELAYS,
        removeFingerprintOnSuccess: true,
        headers: authHeaders(),
        metadata: { filename: this.file.name, filetype: this.file.type || 'application/octet-stream', ...this.details.metadata() },
        onAfterResponse: (req, res) => {
          const id = res.getHeader('Streamlet-Video-Id');
          if (id && !this.videoId) {
            this.videoId = id;
            this.details.videoKnown(id);
            const url = this.upload.url;
            if (url) localStorage.setItem(VIDEO_ID_KEY + url, id);
          }
        },
        onUploadUrlAvailable: () => {
          if (this.videoId) localStorage.setItem(VIDEO_ID_KEY + this.upload.url, this.videoId);
        },
        onShouldRetry: (err) => {
          const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
          if (status >= 400 && status < 500 && ![409, 423, 429].includes(status)) return false;
          this.waiting();
          this.setMessage(navigator.onLine === false ? 'Connection lost. The upload resumes when you are back online.' : 'Connection trouble; retrying…', 'warn');
          return true;
        },
        onProgress: (sent, total) => this.progress(sent, total),
        onSuccess: () => this.uploaded(),
        onError: (err) => this.uploadError(err),
      });
      this.upload.findPreviousUploads().then((previous) => {
        if (previous.length) {
          this.upload.resumeFromPreviousUpload(previous[0]);
          this.resuming = true;
          const id = localStorage.getItem(VIDEO_ID_KEY + previous[0].uploadUrl);
          if (id) {
            this.videoId = id;
            this.details.videoKnown(id);
          }
          this.setMessage('Resuming where the earlier upload stopped.');
          pending.querySelectorAll('li').forEach((li) => li.querySelector('strong')?.textContent === this.file.name && li.remove());
          if (!pending.querySelector('li')) pending.hidden = true;
        }
        this.upload.start();
        this.paused = false;
        this.showActions();
      });
      this.onOnline = () => {
        if (this.stalled) {
          this.stalled = false;
          this.setMessage('Back online; resuming.');
          this.upload.start();
          this.showActions();
        }
      };
      window.addEventListener('online', this.onOnline);
      this.onOffline = () => this.state !== 'uploaded' && this.state !== 'failed' && this.waiting();
      window.addEventListener('offline', this.onOffline);
    }

    // No bytes move: no rate or time left (the last ones would be stale), and the next rate
    // is measured from when they move again.
    waiting() {
      this.samples = [];
      this.stats.textContent = `${this.bar.value}% · waiting for the connection`;
    }

    showActions() {
      const done = this.state === 'uploaded' || this.state === 'failed';
      if (done) return this.actions.replaceChildren();
      const pause = h('button.small', { type: 'button', on: { click: () => this.togglePause() } }, this.paused || this.stalled ? 'Resume' : 'Pause');
      const cancel = h('button.small.danger', { type: 'button', on: { click: () => this.cancel() } }, 'Cancel');
      pause.setAttribute('aria-label', `${pause.textContent} upload of ${this.file.name}`);
      cancel.setAttribute('aria-label', `Cancel upload of ${this.file.name}`);
      this.actions.replaceChildren(pause, cancel);
    }

    togglePause() {
      if (this.paused || this.stalled) {
        this.paused = this.stalled = false;
        this.samples = [];
        this.upload.start();
        this.setMessage('');
      } else {
        this.paused = true;
        this.upload.abort();
        this.setMessage('Paused.');
        this.stats.textContent = `${this.bar.value}% · paused`;
      }
      this.showActions();
    }

    async cancel() {
      this.state = 'failed';
      window.removeEventListener('online', this.onOnline);
      await this.upload.abort(true).catch(() => {});
      if (this.videoId) await videos.remove(this.videoId).catch(() => {});
      this.el.remove();
      rows.delete(this);
    }

    progress(sent, total) {
      const now = performance.now();
      this.samples.push([now, sent]);
      while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
      const [t0, b0] = this.samples[0];
      const speed = now > t0 ? ((sent - b0) * 1000) / (now - t0) : 0;
      const percent = percentOf(sent, total);
      if (this.resuming) {
        this.resuming = false;
        this.setMessage(`Resuming where the earlier upload stopped (${percent}% was already sent).`);
      }
      this.bar.value = percent;
      this.bar.setAttribute('aria-valuetext', `${percent}% uploaded`);
      const left = speed > 0 ? formatDuration((total - sent) / speed) : '…';
      this.stats.textContent = this.samples.length > 1 ? `${percent}% · ${formatBytes(speed)}/s · ${left} left` : `${percent}%`;
      if (this.message.dataset.kind === 'warn') this.setMessage('');
    }

    uploaded() {
      this.state = 'uploaded';
      window.removeEventListener('online', this.onOnline);
      if (this.upload.url) localStorage.removeItem(VIDEO_ID_KEY + this.upload.url);
      this.bar.value = 100;
      this.stats.textContent = 'Uploaded';
      this.showActions();
      if (!this.videoId) {
        this.setMessage('Uploaded. It appears in your library once processed.');
        return;
      }
      this.el.dataset.videoId = this.videoId;
      // Second bar: the transcode, live from the video's events.
      this.bar = h('progress', { max: 100, 'aria-label': `Processing progress of ${this.file.name}` });
      this.bar.removeAttribute('value'); // indeterminate until the first progress event
      this.el.insertBefore(this.bar, this.el.querySelector('.row-foot'));
      this.el.querySelector('progress').remove();
      this.setStatus({ status: 'queued' });
      this.stopFollow = followVideo(this.videoId, (u) => this.setStatus(u));
    }

    setStatus(u) {
      if (u.connection === 'lost') return this.setMessage('Lost the live status; reconnecting…', 'warn');
      this.el.dataset.status = u.status;
      if (u.status === 'processing' && u.percent != null) {
        const pct = Math.max(0, Math.min(100, Math.round(u.percent)));
        this.bar.value = pct;
        this.bar.setAttribute('aria-valuetext', `${pct}% processed`);
        const extra = [u.fps ? `${Math.round(u.fps)} fps` : '', u.speed ? `${Number(u.speed).toFixed(1)}× real time` : ''].filter(Boolean).join(' · ');
        this.stats.textContent = `Processing ${pct}%${extra ? ' · ' + extra : ''}`;
        this.setMessage('');
      } else if (u.status === 'ready') {
        this.bar.value = 100;
        this.stats.textContent = STATUS_WORDS.ready;
        this.setMessage(h('span', 'Ready to watch. ', h('a.watch-link', { href: `/watch/${encodeURIComponent(this.videoId)}` }, `Watch ${this.file.name.replace(/\.[^.]+$/, '')}`)), 'ok');
      } else if (u.status === 'failed' || u.status === 'gone') {
        this.state = 'failed';
        this.bar.value = 0;
        this.stats.textContent = STATUS_WORDS[u.status];
        this.setMessage(u.status === 'failed' ? `Processing failed: ${u.reason || 'no reason given'}.` : u.reason, 'error');
      } else {
        this.stats.textContent = STATUS_WORDS[u.status] || u.status;
      }
    }

    uploadError(err) {
      const res = err.originalResponse;
      const status = res ? res.getStatus() : 0;
      if (!status || status >= 500 || [409, 423, 429].includes(status)) {
        // Network loss or a server hiccup outlasting the retries: keep the upload and let the person resume.
        this.stalled = true;
        this.setMessage(
          navigator.onLine === false
            ? 'Connection lost. The upload resumes by itself when you are back online.'
            : 'The upload stopped because the server could not be reached. Press Resume to continue from where it stopped.',
          'warn',
        );
        this.showActions();
        return;
      }
      let reason = '';
      try {
        reason = JSON.parse(res.getBody()).error || '';
      } catch {}
      const words =
        status === 413 ? `${this.file.name} is too large for this server.`
        : status === 415 ? `${this.file.name} is not a file type this server accepts.`
        : status === 401 ? 'Your session has ended. Sign in again, then pick the file again to resume.'
        : status === 403 ? 'You are not allowed to upload here.'
        : reason || `The server refused the upload (${status}).`;
      this.fail(reason && !words.includes(reason) ? `${words} ${reason}` : words);
    }

    fail(text) {
      this.state = 'failed';
      this.el.dataset.status = 'failed';
      this.bar.value = 0;
      this.stats.textContent = 'Not uploaded';
      this.setMessage(text, 'error');
      this.showActions();
    }

    setMessage(content, kind = '') {
      this.message.dataset.kind = kind;
      this.message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
      this.message.replaceChildren(content || '');
    }

    dispose() {
      window.removeEventListener('online', this.onOnline);
      window.removeEventListener('offline', this.onOffline);
      if (this.stopFollow) this.stopFollow();
    }
  }

}

async function previousUploads() {
  const out = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key || !key.startsWith('tus::')) continue;
    try {
      const entry = JSON.parse(localStorage.getItem(key));
      if (entry && entry.uploadUrl) out.push({ ...entry, urlStorageKey: key });
    } catch {}
  }
  return out;
}
