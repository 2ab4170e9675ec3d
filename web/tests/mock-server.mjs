#!/usr/bin/env node
// A stand-in for streamlet-server, for front-end work only: it implements the
// parts of docs/api.md the web app uses (accounts, tus uploads, videos, SSE,
// views, signed /media URLs) in memory, and "transcodes" with the ffmpeg CLI.
// It is not the product and proves nothing about the real server; the browser
// suite (tests/run.mjs) is meant to run against streamlet-server.
//
//   node tests/mock-server.mjs --port 8090 --web-root dist
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';

const opt = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((s) => s.trim().split(/\s+/)));
const PORT = Number(opt.port || 8090);
const WEB = path.resolve(opt['web-root'] || 'dist');
const DATA = mkdtempSync(path.join(tmpdir(), 'streamlet-mock-'));
const MAX = Number(opt['max-upload-size'] || 512 * 1024 * 1024);
const users = new Map(); // username -> {id, username, password, role}
const tokens = new Map(); // token -> user
const uploads = new Map(); // uid -> {length, offset, file, videoId, owner}
const vids = new Map(); // id -> video record
const listeners = new Map(); // id -> Set(res)
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.m3u8': 'application/vnd.apple.mpegurl', '.mpd': 'application/dash+xml', '.m4s': 'video/iso.segment', '.mp4': 'video/mp4', '.jpg': 'image/jpeg', '.vtt': 'text/vtt', '.txt': 'text/plain' };

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
};
const err = (res, status, error, code) => send(res, status, { error, code });
const body = (req) => new Promise((r) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => r(Buffer.concat(c))); });
const userOf = (req) => tokens.get((req.headers.authorization || '').replace(/^Bearer /, ''));
const pub = (u) => ({ id: u.id, username: u.username, role: u.role, created_at: u.created_at });

function view(v) {
  const q = v.visibility === 'private' ? `?exp=${v.exp}&sig=${v.sig}` : '';
  const ready = v.status === 'ready';
  return {
    id: v.id, title: v.title, description: v.description, visibility: v.visibility, status: v.status, status_reason: v.status_reason || '',
    owner: { id: v.owner.id, username: v.owner.username }, duration_seconds: v.duration || null, renditions: ready ? v.renditions : [],
    views: v.views, created_at: v.created_at, updated_at: v.updated_at,
    poster: ready ? `/media/${v.id}/poster.jpg${q}` : null, storyboard: ready ? `/media/${v.id}/storyboard.vtt${q}` : null,
    playback: ready ? { hls: `/media/${v.id}/master.m3u8${q}`, dash: `/media/${v.id}/manifest.mpd${q}` } : undefined,
    page: `/watch/${v.id}`,
  };
}
const visible = (v, u) => v.visibility !== 'private' || (u && (u.id === v.owner.id || u.role === 'admin'));
function emit(id, event, data) {
  for (const res of listeners.get(id) || []) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  if (event === 'status' && (data.status === 'ready' || data.status === 'failed')) {
    for (const res of listeners.get(id) || []) res.end();
    listeners.delete(id);
  }
}
function setStatus(v, status, reason = '') {
  v.status = status; v.status_reason = reason; v.updated_at = new Date().toISOString();
  emit(v.id, 'status', { status, reason });
}

function run(args) {
  return new Promise((resolve) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', errText = '';
    p.stdout.on('data', (d) => { out += d; p.emit('progress', out); });
    p.stderr.on('data', (d) => (errText += d));
    p.on('close', (code) => resolve({ code, err: errText }));
    run.last = p;
  });
}
async function transcode(v, file) {
  setStatus(v, 'queued');
  await new Promise((r) => setTimeout(r, 300));
  const probe = spawn('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
  let d = '';
  probe.stdout.on('data', (x) => (d += x));
  await new Promise((r) => probe.on('close', r));
  v.duration = parseFloat(d);
  if (!v.duration) return setStatus(v, 'failed', 'the file is not a video we can decode');
  setStatus(v, 'processing');
  const dir = path.join(DATA, 'media', v.id);
  mkdirSync(dir, { recursive: true });
  const p = run(['-i', file, '-map', '0:v', '-map', '0:v', '-map', '0:a?', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-s:v:0', '640x360', '-b:v:0', '800k', '-s:v:1', '426x240', '-b:v:1', '400k', '-c:a', 'aac', '-b:a', '96k',
    '-f', 'dash', '-seg_duration', '2', '-use_template', '1', '-use_timeline', '0', '-hls_playlist', '1', '-hls_master_name', 'master.m3u8',
    '-adaptation_sets', 'id=0,streams=v id=1,streams=a', '-progress', 'pipe:1', path.join(dir, 'manifest.mpd')]);
  run.last.on('progress', (out) => {
    const m = [...out.matchAll(/out_time_us=(\d+)/g)].pop();
    if (m) emit(v.id, 'progress', { percent: Math.min(99, (Number(m[1]) / 1e6 / v.duration) * 100), fps: 120, speed: 4 });
  });
  const r = await p;
  if (r.code !== 0) return setStatus(v, 'failed', r.err.split('\n')[0]);
  await run(['-ss', '1', '-i', file, '-frames:v', '1', '-s', '640x360', path.join(dir, 'poster.jpg')]);
  await run(['-i', file, '-vf', 'fps=1,scale=160:90,tile=5x2', '-frames:v', '1', path.join(dir, 'storyboard_0.jpg')]);
  const ts = (s) => new Date(s * 1000).toISOString().slice(11, 23);
  let vtt = 'WEBVTT\n\n';
  for (let i = 0; i < Math.ceil(v.duration); i++) vtt += `${ts(i)} --> ${ts(Math.min(i + 1, v.duration))}\nstoryboard_0.jpg#xywh=${(i % 5) * 160},${Math.floor(i / 5) * 90},160,90\n\n`;
  writeFileSync(path.join(dir, 'storyboard.vtt'), vtt);
  v.renditions = [{ id: '360p', width: 640, height: 360, bitrate: 800000 }, { id: '240p', width: 426, height: 240, bitrate: 400000 }];
  setStatus(v, 'ready');
}

function serveFile(req, res, file, rewrite) {
  if (!existsSync(file) || !statSync(file).isFile()) return err(res, 404, 'not found', 'not_found');
  const type = TYPES[path.extname(file)] || 'application/octet-stream';
  if (rewrite && /\.(m3u8|mpd)$/.test(file)) {
    let text = readFileSync(file, 'utf8');
    if (file.endsWith('.m3u8')) text = text.split('\n').map((l) => (l && !l.startsWith('#') ? l + rewrite : l.replace(/URI="([^"]+)"/g, (_, u) => `URI="${u}${rewrite}"`))).join('\n');
    else text = text.replace(/(media|initialization)="([^"]+)"/g, (_, a, u) => `${a}="${u}${rewrite.replace(/&/g, '&amp;')}"`);
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-cache' });
    return res.end(text);
  }
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': statSync(file).size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).pipe(res);
}

http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  const u = userOf(req);
  try {
    if (p === '/healthz') return send(res, 200, { status: 'ok' });
    if (p === '/v1/auth/register' || p === '/v1/auth/login') {
      if (req.method !== 'POST') return err(res, 405, 'method not allowed', 'method_not_allowed');
      let b; try { b = JSON.parse(await body(req)); } catch { return err(res, 400, 'bad JSON', 'bad_json'); }
      if (p.endsWith('register')) {
        if (!/^[A-Za-z0-9_.-]{3,32}$/.test(b.username || '') || (b.password || '').length < 8) return err(res, 400, 'username must be 3-32 of A-Z a-z 0-9 _ . - and the password at least 8 characters', 'invalid');
        if (users.has(b.username)) return err(res, 409, 'username taken', 'conflict');
        users.set(b.username, { id: randomUUID(), username: b.username, password: b.password, role: 'user', created_at: new Date().toISOString() });
      }
      const usr = users.get(b.username);
      if (!usr || usr.password !== b.password) return err(res, 401, 'wrong username or password', 'unauthorized');
      const token = randomBytes(16).toString('hex');
      tokens.set(token, usr);
      return send(res, p.endsWith('register') ? 201 : 200, { user: pub(usr), token, expires_at: new Date(Date.now() + 864e5).toISOString() });
    }
    if (p === '/v1/auth/me') return u ? send(res, 200, { user: pub(u) }) : err(res, 401, 'sign in', 'unauthorized');
    if (p === '/v1/uploads' && req.method === 'OPTIONS') return send(res, 204, undefined, { 'Tus-Resumable': '1.0.0', 'Tus-Version': '1.0.0', 'Tus-Max-Size': String(MAX), 'Tus-Extension': 'creation,termination' });
    if (p === '/v1/uploads' && req.method === 'POST') {
      if (!u) return err(res, 401, 'sign in to upload', 'unauthorized');
      const length = Number(req.headers['upload-length']);
      if (length > MAX) return err(res, 413, 'upload too large', 'too_large');
      const meta = Object.fromEntries((req.headers['upload-metadata'] || '').split(',').filter(Boolean).map((kv) => { const [k, v] = kv.trim().split(' '); return [k, v ? Buffer.from(v, 'base64').toString() : '']; }));
      const uid = randomBytes(8).toString('hex');
      const id = randomBytes(6).toString('hex');
      const now = new Date().toISOString();
      vids.set(id, { id, title: meta.title || (meta.filename || 'Untitled').replace(/\.[^.]+$/, ''), description: meta.description || '', visibility: meta.visibility || 'public', status: 'uploading', owner: u, views: 0, viewers: new Set(), watch: 0, created_at: now, updated_at: now, exp: Math.floor(Date.now() / 1000) + 3600, sig: randomBytes(8).toString('hex') });
      const file = path.join(DATA, `${uid}.bin`);
      writeFileSync(file, '');
      uploads.set(uid, { length, offset: 0, file, videoId: id, owner: u });
      return send(res, 201, undefined, { Location: `/v1/uploads/${uid}`, 'Tus-Resumable': '1.0.0', 'Streamlet-Video-Id': id, 'Access-Control-Expose-Headers': 'Location, Streamlet-Video-Id, Upload-Offset' });
    }
    let m;
    if ((m = p.match(/^\/v1\/uploads\/(\w+)$/))) {
      const up = uploads.get(m[1]);
      if (!up) return err(res, 404, 'no such upload', 'not_found');
      if (!u || u.id !== up.owner.id) return err(res, 403, 'not your upload', 'forbidden');
      const h = { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(up.offset), 'Upload-Length': String(up.length), 'Cache-Control': 'no-store' };
      if (req.method === 'HEAD') return send(res, 200, undefined, h);
      if (req.method === 'DELETE') { uploads.delete(m[1]); return send(res, 204); }
      if (req.method === 'PATCH') {
        if (Number(req.headers['upload-offset']) !== up.offset) return err(res, 409, 'offset mismatch', 'conflict');
        const out = createWriteStream(up.file, { flags: 'a' });
        for await (const chunk of req) { out.write(chunk); up.offset += chunk.length; }
        await new Promise((r) => out.end(r));
        if (up.offset >= up.length) transcode(vids.get(up.videoId), up.file);
        return send(res, 204, undefined, { ...h, 'Upload-Offset': String(up.offset) });
      }
    }
    if (p === '/v1/videos' && req.method === 'GET') {
      const q = (url.searchParams.get('q') || '').toLowerCase();
      const page = Number(url.searchParams.get('page') || 1), per = Number(url.searchParams.get('per_page') || 20);
      let items = [...vids.values()].filter((v) => (url.searchParams.get('owner') === 'me' ? u && v.owner.id === u.id : (v.visibility === 'public' && v.status === 'ready') || (u && v.owner.id === u.id)));
      if (q) items = items.filter((v) => `${v.title} ${v.description}`.toLowerCase().includes(q));
      items.reverse();
      return send(res, 200, { items: items.slice((page - 1) * per, page * per).map(view), page, per_page: per, total: items.length });
    }
    if ((m = p.match(/^\/v1\/videos\/(\w+)(\/\w+)?$/))) {
      const v = vids.get(m[1]);
      if (!v || !visible(v, u)) return err(res, 404, 'no such video', 'not_found');
      const sub = m[2];
      const owner = u && (u.id === v.owner.id || u.role === 'admin');
      if (!sub && req.method === 'GET') return send(res, 200, view(v));
      if (!sub && req.method === 'PATCH') {
        if (!owner) return err(res, 403, 'not yours', 'forbidden');
        const b = JSON.parse(await body(req));
        for (const k of ['title', 'description', 'visibility']) if (b[k] !== undefined) v[k] = b[k];
        return send(res, 200, view(v));
      }
      if (!sub && req.method === 'DELETE') { if (!owner) return err(res, 403, 'not yours', 'forbidden'); vids.delete(v.id); rmSync(path.join(DATA, 'media', v.id), { recursive: true, force: true }); return send(res, 204); }
      if (sub === '/events') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.write(`event: status\ndata: ${JSON.stringify({ status: v.status, reason: v.status_reason || '' })}\n\n`);
        if (v.status === 'ready' || v.status === 'failed') return res.end();
        if (!listeners.has(v.id)) listeners.set(v.id, new Set());
        listeners.get(v.id).add(res);
        req.on('close', () => listeners.get(v.id)?.delete(res));
        return;
      }
      if (sub === '/views' && req.method === 'POST') {
        let b = {}; try { b = JSON.parse(await body(req)); } catch {}
        if (b.viewer && !v.viewers.has(b.viewer)) { v.viewers.add(b.viewer); v.views++; }
        v.watch += Number(b.seconds) || 0;
        return send(res, 204);
      }
      if (sub === '/stats') return owner ? send(res, 200, { views: v.views, watch_seconds: v.watch, unique_viewers: [] }) : err(res, 403, 'not yours', 'forbidden');
    }
    if (p.startsWith('/v1/')) return err(res, 404, 'no such route', 'not_found');
    if ((m = p.match(/^\/media\/(\w+)\/([\w./-]+)$/))) {
      const v = vids.get(m[1]);
      if (!v || m[2].includes('..')) return err(res, 404, 'not found', 'not_found');
      if (v.visibility === 'private' && url.searchParams.get('sig') !== v.sig) return err(res, 403, 'signature required', 'forbidden');
      return serveFile(req, res, path.join(DATA, 'media', v.id, m[2]), v.visibility === 'private' ? `?exp=${v.exp}&sig=${v.sig}` : '');
    }
    if (p.startsWith('/assets/')) return serveFile(req, res, path.join(WEB, path.normalize(p).replace(/^(\.\.[/\\])+/, '')));
    if (/^\/($|watch\/[^/]+$|upload$|library$|login$)/.test(p)) return serveFile(req, res, path.join(WEB, 'index.html'));
    return err(res, 404, 'not found', 'not_found');
  } catch (e) {
    console.error(e);
    if (!res.headersSent) err(res, 500, String(e.message), 'internal');
  }
}).listen(PORT, '127.0.0.1', () => console.log(`mock streamlet server on http://127.0.0.1:${PORT} (web root ${WEB}, data ${DATA})`));
