// The reference tus server for the side-by-side benchmark: @tus/server with its file store,
// configured as its README shows. Prints "listening on http://HOST:PORT/files" when ready.
//   node tus_server.mjs --port 0 --dir /tmp/store
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const host = '127.0.0.1';
const server = new Server({ path: '/files', datastore: new FileStore({ directory: opt('dir', './files') }) });
const http = server.listen({ host, port: Number(opt('port', '0')) }, () => {
  console.log(`listening on http://${host}:${http.address().port}/files`);
});
process.on('SIGTERM', () => http.close(() => process.exit(0)));
