#!/usr/bin/env node
// The web client's basemap from npm world-atlas: its countries-110m.json as the same topology,
// re-quantized to N steps per axis (default 10^4: 0.036° of longitude, finer than the 1:110m data)
// and without the "land" object and the country names, which the map does not use. Consecutive
// points that fall on the same step are dropped (an arc's ends stay). A third fewer bytes.
//
//   scripts/world-atlas-slim.mjs package/countries-110m.json web/vendor/world-atlas/countries-110m.json [N]
import fs from 'node:fs';
const [src, dst, nArg] = process.argv.slice(2);
const n = Number(nArg || 1e4);
const t = JSON.parse(fs.readFileSync(src, 'utf8'));
const { scale: [sx, sy], translate: [tx, ty] } = t.transform;
const abs = t.arcs.map((arc) => { let x = 0, y = 0; return arc.map(([dx, dy]) => [(x += dx) * sx + tx, (y += dy) * sy + ty]); });
let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
for (const a of abs) for (const [x, y] of a) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
const kx = (x1 - x0) / (n - 1) || 1, ky = (y1 - y0) / (n - 1) || 1;
const arcs = abs.map((a) => {
  const q = a.map(([x, y]) => [Math.round((x - x0) / kx), Math.round((y - y0) / ky)]);
  const out = [q[0]];
  for (let i = 1; i < q.length; i++) {
    const p = out.at(-1);
    if (i < q.length - 1 && q[i][0] === p[0] && q[i][1] === p[1]) continue;
    out.push(q[i]);
  }
  let px = 0, py = 0;
  return out.map(([x, y]) => { const d = [x - px, y - py]; px = x; py = y; return d; });
});
const countries = { type: 'GeometryCollection', geometries: t.objects.countries.geometries.map(({ type, arcs: a }) => ({ type, arcs: a })) };
fs.writeFileSync(dst, JSON.stringify({ type: 'Topology', bbox: [x0, y0, x1, y1], transform: { scale: [kx, ky], translate: [x0, y0] }, objects: { countries }, arcs }));
