#!/usr/bin/env node
// The web client's basemap from npm world-atlas: its countries-110m.json as the same topology,
// with each arc simplified (Visvalingam–Whyatt: a point goes while the triangle it makes with its
// neighbours is smaller than AREA square degrees), then re-quantized to N steps per axis, without
// the "land" object and the country names, which the map does not use. An arc's ends stay, so
// neighbouring countries still share their borders exactly. Consecutive points on the same step
// are dropped. The web client's file is made with N = 3000 (0.12° of longitude) and AREA = 0.3
// (a triangle of about 60 × 60 km at the equator: under a pixel at the world views, still the
// outline of a coast at a country's); the defaults below.
//
//   scripts/world-atlas-slim.mjs package/countries-110m.json web/vendor/world-atlas/countries-110m.json [N] [AREA]
import fs from 'node:fs';
const [src, dst, nArg, areaArg] = process.argv.slice(2);
const n = Number(nArg || 3000);
const minArea = Number(areaArg ?? 0.3);

/** Visvalingam–Whyatt on one arc: interior points whose effective area is under minArea go. */
function simplify(points) {
  if (points.length <= 3 || !(minArea > 0)) return points;
  const closed = points[0][0] === points.at(-1)[0] && points[0][1] === points.at(-1)[1];
  const keepAtLeast = closed ? 4 : 2;
  const prev = points.map((_, i) => i - 1);
  const next = points.map((_, i) => i + 1);
  const tri = (i) => {
    const [a, b, c] = [points[prev[i]], points[i], points[next[i]]];
    return Math.abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2;
  };
  const area = points.map((_, i) => (i === 0 || i === points.length - 1 ? Infinity : tri(i)));
  let left = points.length;
  while (left > keepAtLeast) {
    let best = -1;
    for (let i = next[0]; i < points.length - 1; i = next[i]) if (best < 0 || area[i] < area[best]) best = i;
    if (best < 0 || area[best] >= minArea) break;
    const [p, q] = [prev[best], next[best]];
    next[p] = q;
    prev[q] = p;
    left--;
    // A neighbour's area never drops below the one just removed (the order stays monotonic).
    if (p > 0) area[p] = Math.max(tri(p), area[best]);
    if (q < points.length - 1) area[q] = Math.max(tri(q), area[best]);
  }
  const out = [];
  for (let i = 0; i < points.length; i = next[i]) out.push(points[i]);
  return out;
}
const t = JSON.parse(fs.readFileSync(src, 'utf8'));
const { scale: [sx, sy], translate: [tx, ty] } = t.transform;
const abs = t.arcs.map((arc) => { let x = 0, y = 0; return simplify(arc.map(([dx, dy]) => [(x += dx) * sx + tx, (y += dy) * sy + ty])); });
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
