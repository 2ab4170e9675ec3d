// Interop: the real tus-js-client (npm) against the real streamlet-server binary.
//   node tus_interop.js <resume|crash|parallel> <path/to/streamlet-server>
// Exits 0 when every check holds, 1 with a message otherwise.
'use strict';
const tus = require('tus-js-client');
const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [scenario, serverPath] = process.argv.slice(2);
const KEY = 'interop-key';
const MB = 1000 * 1000;

function check(cond, message) {
  if (!cond) throw new Error('check failed: ' + message);
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

// Starts streamlet-server and resolves with {proc, port} once it prints its address.
function startServer(dataDir, port) {
  return new Promise((resolve, reject) => {
    const proc = spawn(serverPath, ['--listen', `127.0.0.1:${port}`, '--data', dataDir,
      '--api-key', KEY], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve({ proc, port: Number(m[1]) });
    });
    proc.on('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
  });
}

function killed(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
  });
}

async function head(url) {
  const res = await fetch(url, { method: 'HEAD',
    headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${KEY}` } });
  return res;
}

function storedFile(dataDir, url) {
  return path.join(dataDir, 'uploads', url.split('/').pop() + '.bin');
}

function baseOptions(endpoint, extra) {
  return Object.assign({
    endpoint,
    chunkSize: 5 * 1024 * 1024,
    headers: { Authorization: `Bearer ${KEY}` },
    metadata: { filename: 'interop.bin', title: 'Interop test' },
    retryDelays: [100, 300, 1000, 2000, 4000],
  }, extra);
}

function run(upload) {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve();
    upload.options.onError = (err) => reject(err);
    upload.start();
  });
}

// 50 MB in 5 MB chunks, aborted after 20 MB, resumed with the client's own mechanism.
async function resume(dir) {
  const dataDir = path.join(dir, 'data');
  const { proc, port } = await startServer(dataDir, 0);
  try {
    const endpoint = `http://127.0.0.1:${port}/v1/uploads`;
    const data = crypto.randomBytes(50 * MB);
    const urlStorage = new tus.FileUrlStorage(path.join(dir, 'tus-urls.json'));

    const first = new tus.Upload(data, baseOptions(endpoint, { urlStorage }));
    await new Promise((resolve, reject) => {
      first.options.onChunkComplete = (chunk, accepted) => {
        if (accepted >= 20 * MB) first.abort().then(resolve, reject);
      };
      first.options.onError = reject;
      first.options.onSuccess = () => reject(new Error('upload finished before the abort'));
      first.start();
    });
    const url = first.url;
    const before = Number((await head(url)).headers.get('upload-offset'));
    check(before >= 20 * MB && before < 50 * MB, `server offset after abort is ${before}`);
    console.log(`aborted at ${before} bytes of ${data.length}: ${url}`);

    const second = new tus.Upload(data, baseOptions(endpoint, { urlStorage }));
    const previous = await second.findPreviousUploads();
    check(previous.length >= 1, 'tus-js-client found the previous upload in its URL storage');
    second.resumeFromPreviousUpload(previous[0]);
    const requests = [];
    second.options.onBeforeRequest = (req) => {
      requests.push([req.getMethod(), req.getHeader('Upload-Offset')]);
    };
    await run(second);
    check(second.url === url, 'the resumed upload is the same upload');
    check(!requests.some(([m]) => m === 'POST'), 'no new upload was created on resume');
    const firstPatch = requests.find(([m]) => m === 'PATCH');
    check(firstPatch && Number(firstPatch[1]) === before,
      `resume started at the server's offset (${firstPatch && firstPatch[1]} vs ${before})`);
    const res = await head(url);
    check(res.headers.get('upload-offset') === String(data.length), 'offset equals length');
    check((res.headers.get('upload-metadata') || '').includes('filename ' +
      Buffer.from('interop.bin').toString('base64')), 'metadata kept');
    check(sha256(fs.readFileSync(storedFile(dataDir, url))) === sha256(data),
      'sha256 of the stored file matches the source');
    console.log('resumed upload complete, sha256 matches');
  } finally {
    proc.kill('SIGTERM');
    await killed(proc);
  }
}

// kill -9 the server in the middle of a PATCH, restart it on the same port and data dir;
// the client's retry/resume must finish the upload with the right bytes.
async function crash(dir) {
  const dataDir = path.join(dir, 'data');
  let server = await startServer(dataDir, 0);
  const port = server.port;
  const endpoint = `http://127.0.0.1:${port}/v1/uploads`;
  const data = crypto.randomBytes(30 * MB);
  let crashed = false;
  let restarted = null;
  const upload = new tus.Upload(data, baseOptions(endpoint, {
    onProgress: (sent) => {
      // Half way through the third chunk: bytes are in flight, not acknowledged.
      if (!crashed && sent >= 12.5 * 1024 * 1024) {
        crashed = true;
        server.proc.kill('SIGKILL');
        restarted = killed(server.proc).then(() => startServer(dataDir, port))
          .then((s) => { server = s; console.log('server killed with SIGKILL and restarted'); });
      }
    },
  }));
  try {
    await run(upload);
    await restarted;
    check(crashed, 'the server was killed during the upload');
    const res = await head(upload.url);
    check(res.headers.get('upload-offset') === String(data.length), 'offset equals length');
    check(sha256(fs.readFileSync(storedFile(dataDir, upload.url))) === sha256(data),
      'sha256 of the stored file matches the source after a kill -9');
    console.log('upload survived kill -9, sha256 matches');
  } finally {
    if (restarted) await restarted.catch(() => {});
    server.proc.kill('SIGTERM');
    await killed(server.proc);
  }
}

// tus-js-client's parallelUploads: partial uploads + a final concatenation.
async function parallel(dir) {
  const dataDir = path.join(dir, 'data');
  const { proc, port } = await startServer(dataDir, 0);
  try {
    const endpoint = `http://127.0.0.1:${port}/v1/uploads`;
    const data = crypto.randomBytes(20 * MB + 12345);
    const upload = new tus.Upload(data, baseOptions(endpoint, { parallelUploads: 4 }));
    await run(upload);
    const res = await head(upload.url);
    check((res.headers.get('upload-concat') || '').startsWith('final;'), 'final upload');
    check(sha256(fs.readFileSync(storedFile(dataDir, upload.url))) === sha256(data),
      'concatenated parts equal the source');
    console.log('parallel upload (4 parts) concatenated, sha256 matches');
  } finally {
    proc.kill('SIGTERM');
    await killed(proc);
  }
}

(async () => {
  const scenarios = { resume, crash, parallel };
  if (!scenarios[scenario] || !serverPath) {
    console.error('usage: node tus_interop.js <resume|crash|parallel> <streamlet-server>');
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamlet-node-'));
  try {
    await scenarios[scenario](dir);
    process.exit(0);
  } catch (err) {
    console.error(`${scenario}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
