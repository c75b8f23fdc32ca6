#!/usr/bin/env node
// The web client's scripts as the browser gets them: each page's ES-module graph (web/js/, with
// the message catalogues web/i18n/*.json it imports) bundled and minified by esbuild into one
// file under web/dist/. One request instead of fifteen: a browser opens at most six connections
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

/** Each page's entry module and its bundle. */
const ENTRIES = { 'js/app.js': 'dist/app.js', 'js/cluster-page.js': 'dist/cluster-page.js' };
const check = process.argv.includes('--check');
const web = path.join(ROOT, 'web');

let stale = [];
for (const [entry, out] of Object.entries(ENTRIES)) {
  const r = await esbuild.build({
    entryPoints: [path.join(web, entry)], outfile: path.join(web, out), write: false,
    bundle: true, format: 'esm', minify: true, charset: 'utf8', legalComments: 'none',
    // What the page already requires (import attributes, top-level await, private fields).
    target: ['chrome123', 'firefox125', 'safari17.2'],
    logLevel: 'warning',
  });
  const text = `// Built by scripts/web-bundle.mjs from web/${entry}: edit the sources, then run it.\n${r.outputFiles[0].text}`;
  const file = path.join(web, out);
  if (check) {
    if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) stale.push(`web/${out}`);
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    console.log(`web/${out}: ${text.length} bytes`);
  }
}
if (stale.length) {
  console.error(`${stale.join(', ')}: not what web/js/ makes; run scripts/web-bundle.mjs (or make web)`);
  process.exit(1);
}
