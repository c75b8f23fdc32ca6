#!/usr/bin/env node
// The web client's scripts and styles as the browser gets them: each page's ES-module graph
// (web/js/, with the message catalogues web/i18n/*.json it imports) bundled and minified by
// esbuild into one file under web/dist/, and the style sheets (web/css/) into one. One request instead of fifteen: a browser opens at most six connections
// to a host, so on a slow link (Chromium's "Fast 3G": 562 ms a request) fifteen modules cost
// three round trips in a row before the first line runs; the bundle costs one. The sources stay
// the truth: edit web/js/, then run this (or `make web`). The gateway serves web/dist/ like any
// other file (compressed, content-hashed URLs).
//
//   scripts/web-bundle.mjs           writes web/dist/
//   scripts/web-bundle.mjs --check   exits 1 when web/dist/ is not what the sources make
//
// esbuild comes from tests/browser's npm packages (`npm ci` there); nothing of it runs at the
// gateway's build or run time.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(ROOT, 'tests', 'browser', 'package.json'));
let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  console.error('scripts/web-bundle.mjs: esbuild is missing; run `npm ci` in tests/browser');
  process.exit(2);
}

/** Each bundle and what it is made of: a page's entry module, or the style sheets in order. */
const ENTRIES = {
  'dist/app.js': 'js/app.js',
  'dist/cluster-page.js': 'js/cluster-page.js',
  // The map's libraries: a bundle of its own (a chunk shared with dist/app.js would be one more
  // request), which js/map.js imports by URL once the list is shown.
  'dist/map-libs.js': 'js/map-libs.js',
  'dist/app.css': ['css/app.css', 'css/map.css'],
  // Loaded by js/map.js with the map's libraries (js/map-libs.js, a chunk of dist/app.js).
  'dist/map.css': ['vendor/leaflet/leaflet.css', 'vendor/leaflet.markercluster/MarkerCluster.css'],
};
const check = process.argv.includes('--check');
const web = path.join(ROOT, 'web');

// Every file of web/dist/ as the sources make it: a build per bundle (no chunk shared between
// pages); a script's dynamic imports (the other languages' catalogues, the map's libraries)
// become chunks beside it, and the images a style sheet names are copied beside it.
const dist = path.join(web, 'dist');
const files = new Map();
for (const [out, entry] of Object.entries(ENTRIES)) {
  const css = Array.isArray(entry);
  const r = await esbuild.build({
    ...(css ? { stdin: { contents: entry.map((f) => `@import "./${f}";`).join('\n'), resolveDir: web, loader: 'css' } }
      : { entryPoints: { [path.basename(out, '.js')]: path.join(web, entry) }, splitting: true, chunkNames: '[name]-[hash]' }),
    ...(css ? { outfile: path.join(web, out) } : { outdir: dist }),
    absWorkingDir: ROOT, // the output (chunk names too) must not depend on where this runs
    nodePaths: [path.join(ROOT, 'tests', 'browser', 'node_modules')], // leaflet's sources (map-libs.js)
    loader: { '.png': 'file' }, assetNames: '[name]-[hash]',
    // Licence headers (Leaflet's, the plugin's) stay, at the end of the file they came into.
    write: false, bundle: true, format: 'esm', minify: true, charset: 'utf8', legalComments: 'eof',
    // What the page already requires (import attributes, top-level await, private fields).
    target: ['chrome123', 'firefox125', 'safari17.2'],
    logLevel: 'warning',
  });
  const from = [entry].flat().map((f) => `web/${f}`).join(', ');
  for (const f of r.outputFiles) {
    const text = /\.(js|css)$/.test(f.path)
      ? `/* Built by scripts/web-bundle.mjs from ${from}: edit the sources, then run it. */\n${f.text}` : null;
    files.set(path.relative(dist, f.path), text === null ? Buffer.from(f.contents) : Buffer.from(text));
  }
}
const onDisk = fs.existsSync(dist) ? fs.readdirSync(dist) : [];
if (check) {
  const stale = [...new Set([...files.keys(), ...onDisk])].filter((f) =>
    !files.has(f) || !onDisk.includes(f) || !fs.readFileSync(path.join(dist, f)).equals(files.get(f)));
  if (stale.length) {
    console.error(`web/dist/: ${stale.join(', ')} not what the sources make; run scripts/web-bundle.mjs (or make web)`);
    process.exit(1);
  }
} else {
  fs.mkdirSync(dist, { recursive: true });
  for (const f of onDisk) if (!files.has(f)) fs.rmSync(path.join(dist, f));
  for (const [f, bytes] of files) {
    fs.writeFileSync(path.join(dist, f), bytes);
    console.log(`web/dist/${f}: ${bytes.length} bytes`);
  }
}
