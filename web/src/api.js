// The v1 API client (docs/api.md is the contract). Every failure becomes an
// ApiError whose message is plain words a person can act on.

const TOKEN_KEY = 'streamlet.token';
const USER_KEY = 'streamlet.user';

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// In another site's iframe (an embed) the browser may deny storage altogether: reading it
// then throws. Such a viewer is anonymous and stays so.
const store = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch {}
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {}
  },
};

export const session = {
  get token() {
    return store.get(TOKEN_KEY);
  },
  get user() {
    try {
      return JSON.parse(store.get(USER_KEY) || 'null');
    } catch {
      return null;
    }
  },
  save(token, user) {
    store.set(TOKEN_KEY, token);
    store.set(USER_KEY, JSON.stringify(user));
    notify();
  },
  clear() {
    store.remove(TOKEN_KEY);
    store.remove(USER_KEY);
    notify();
  },
};

const listeners = new Set();
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function notify() {
  for (const fn of listeners) fn(session.user);
}

export function authHeaders() {
  const token = session.token;
  return token ? { Authorization: `Bearer ${token}` } : {};
}

const FALLBACK_MESSAGES = {
  400: 'The request was not valid.',
  401: 'Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found, or not visible to you.',
  409: 'That conflicts with something that already exists.',
  413: 'That is too large for this server.',
  415: 'That type of content is not accepted.',
  422: 'That could not be processed.',
  503: 'The server is not ready yet. Try again in a moment.',
};

export async function api(method, path, body) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(
      navigator.onLine === false
        ? 'You are offline. Check your network connection and try again.'
        : 'Could not reach the server. Check your network connection and try again.',
      0,
      'network',
    );
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    // A stale session: forget it so the UI offers to sign in again.
    if (res.status === 401 && session.token && !path.startsWith('/v1/auth/login')) session.clear();
    const message = (data && data.error) || FALLBACK_MESSAGES[res.status] || `The server answered ${res.status}.`;
    throw new ApiError(message, res.status, (data && data.code) || 'http_' + res.status);
  }
  return data;
}

export const auth = {
  async login(username, password) {
    const r = await api('POST', '/v1/auth/login', { username, password });
    session.save(r.token, r.user);
    return r.user;
  },
  async register(username, password) {
    const r = await api('POST', '/v1/auth/register', { username, password });
    session.save(r.token, r.user);
    return r.user;
  },
  logout() {
    session.clear();
  },
};

export const videos = {
  list({ q = '', owner = '', status = '', visibility = '', sort = '', page = 1, perPage = 24 } = {}) {
    const p = new URLSearchParams();
    if (q) p.set('q', q);
    if (sort) p.set('sort', sort);
    if (owner) p.set('owner', owner);
    if (status) p.set('status', status);
    if (visibility) p.set('visibility', visibility);
    p.set('page', String(page));
    p.set('per_page', String(perPage));
    return api('GET', `/v1/videos?${p}`);
  },
  get: (id) => api('GET', `/v1/videos/${encodeURIComponent(id)}`),
  update: (id, fields) => api('PATCH', `/v1/videos/${encodeURIComponent(id)}`, fields),
  remove: (id) => api('DELETE', `/v1/videos/${encodeURIComponent(id)}`),
  retry: (id) => api('POST', `/v1/videos/${encodeURIComponent(id)}/retry`),
};

// The signed-in person's own account: API keys, password, sessions.
export const account = {
  keys: () => api('GET', '/v1/auth/api-keys'),
  createKey: (name) => api('POST', '/v1/auth/api-keys', { name }),
  revokeKey: (id) => api('DELETE', `/v1/auth/api-keys/${encodeURIComponent(id)}`),
  me: () => api('GET', '/v1/auth/me'),
  // { email?, email_notifications? }
  updateMe: (settings) => api('PATCH', '/v1/auth/me', settings),
  changePassword: (current, next) => api('POST', '/v1/auth/password', { current_password: current, new_password: next }),
  async signOutEverywhere() {
    const r = await api('POST', '/v1/auth/logout-all');
    session.clear();
    return r;
  },
};

// Admins only (403 for others).
export const admin = {
  users: ({ page = 1, perPage = 100 } = {}) => api('GET', `/v1/admin/users?page=${page}&per_page=${perPage}`),
  updateUser: (id, fields) => api('PATCH', `/v1/admin/users/${encodeURIComponent(id)}`, fields),
};

// Server-Sent Events over fetch, so the Authorization header goes along
// (EventSource cannot send it, and private videos' events need it).
// Calls onEvent(name, data) per event; resolves when the server closes.
export function streamEvents(id, onEvent, { signal } = {}) {
  return (async () => {
    const res = await fetch(`/v1/videos/${encodeURIComponent(id)}/events`, {
      headers: { Accept: 'text/event-stream', ...authHeaders() },
      signal,
      cache: 'no-store',
    });
    if (!res.ok || !res.body) throw new ApiError(FALLBACK_MESSAGES[res.status] || 'Live status unavailable.', res.status, 'events');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') name = val;
          else if (field === 'data') data.push(val);
        }
        if (!data.length) continue;
        let parsed;
        try {
          parsed = JSON.parse(data.join('\n'));
        } catch {
          parsed = data.join('\n');
        }
        onEvent(name, parsed);
      }
    }
  })();
}

// Follows a video's status live until ready/failed. Retries when the
// connection drops (network loss) and reports plain-words state to onUpdate.
export function followVideo(id, onUpdate) {
  const controller = new AbortController();
  let finished = false;
  const run = async (attempt) => {
    try {
      await streamEvents(
        id,
        (name, data) => {
          if (name === 'status') {
            onUpdate({ status: data.status, reason: data.reason });
            if (data.status === 'ready' || data.status === 'failed') finished = true;
          } else if (name === 'progress') {
            onUpdate({ status: 'processing', percent: data.percent, fps: data.fps, speed: data.speed });
          } else if (name === 'playable') {
            // The first segments are published: playback can start while the rest is encoded.
            onUpdate({ status: data.status, playable: true });
          }
        },
        { signal: controller.signal },
      );
      if (!finished && !controller.signal.aborted) setTimeout(() => run(0), 1000);
    } catch (err) {
      if (controller.signal.aborted) return;
      if (err.status === 404) return onUpdate({ status: 'gone', reason: 'This video no longer exists.' });
      onUpdate({ connection: 'lost', message: err.message });
      setTimeout(() => run(attempt + 1), Math.min(10000, 1000 * 2 ** attempt));
    }
  };
  run(0);
  return () => controller.abort();
}

// The original upload of one of the caller's videos, saved under its uploaded name: the
// server hands out a short-lived signed link, which a plain <a download> navigation follows,
// so the browser streams the file to disk instead of holding it in memory.
export async function downloadOriginal(id) {
  const link = await api('POST', `/v1/videos/${encodeURIComponent(id)}/original/link`);
  // download="" leaves the name to the server's Content-Disposition (the upload's name).
  const a = Object.assign(document.createElement('a'), { href: link.path, download: '' });
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
}
