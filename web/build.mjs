// Bundles the web app into static files: <out>/index.html and <out>/assets/*.
// Usage: node build.mjs [outDir]   (default: web/dist; CMake passes its own)
import * as esbuild from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] || process.env.STREAMLET_WEB_OUT || path.join(here, 'dist'));

await rm(path.join(out, 'assets'), { recursive: true, force: true });
await mkdir(path.join(out, 'assets'), { recursive: true });
const result = await esbuild.build({
  entryPoints: { app: path.join(here, 'src/main.js') }, // its CSS import becomes assets/app.css
  bundle: true,
  splitting: true, // hls.js and dash.js become chunks loaded only by the watch page
  format: 'esm',
  target: 'es2020',
  logLimit: 5,
  minify: true,
  sourcemap: 'linked',
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]', // content-hashed: the server may cache /assets forever
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  publicPath: '/assets/',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
const outputs = Object.entries(result.metafile.outputs).filter(([f]) => !f.endsWith('.map') && !f.endsWith('.LEGAL.txt'));
const entry = outputs.find(([, o]) => o.entryPoint);
const js = path.basename(entry[0]);
const css = path.basename(entry[1].cssBundle || '');
// index.html is the only file not cached for long; it names the hashed bundle.
let html = await readFile(path.join(here, 'src/index.html'), 'utf8');
html = html.replace('/assets/app.js', `/assets/${js}`).replace('/assets/app.css', `/assets/${css}`);
if (!css) html = html.replace(/<link rel="stylesheet"[^>]*>\n/, '');
await writeFile(path.join(out, 'index.html'), html);
const total = outputs.reduce((n, [, o]) => n + o.bytes, 0);
console.log(`web app: built ${outputs.length} files (${(total / 1024).toFixed(0)} KiB; first load ${js} ${(entry[1].bytes / 1024).toFixed(0)} KiB + ${css}) into ${out}`);
