// The map: one marker per status with a position, a "picked" marker for the form, a
// configurable tile layer over an offline grid (so the map is useful without network).
import { colorOf } from './util.js';

export const OSM_TILES = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';
const TILE_KEY = 'statusServer.tiles';

/** The tile URL template in force: ?tiles= beats localStorage beats OpenStreetMap. '' = none. */
export function tileSetting() {
  const q = new URLSearchParams(location.search).get('tiles');
  let v = q;
  if (v === null) {
    try { v = localStorage.getItem(TILE_KEY); } catch { v = null; }
  }
  if (v === null) return OSM_TILES;
  v = v.trim();
  return v === 'none' ? '' : v;
}

export function storeTileSetting(v) {
  try { localStorage.setItem(TILE_KEY, v.trim() === '' ? 'none' : v.trim()); } catch { /* private mode */ }
}

/** A canvas grid layer: graticule lines with degree labels, drawn locally. */
function offlineGrid(L) {
  const Grid = L.GridLayer.extend({
    createTile(coords) {
      const size = this.getTileSize();
      const c = document.createElement('canvas');
      c.width = size.x;
      c.height = size.y;
      const ctx = c.getContext('2d');
      const dark = matchMedia('(prefers-color-scheme: dark)').matches;
      ctx.fillStyle = dark ? '#1f2433' : '#eef1f8';
      ctx.fillRect(0, 0, size.x, size.y);
      const map = this._map;
      const z = coords.z;
      const step = z <= 2 ? 30 : z <= 4 ? 10 : z <= 6 ? 5 : z <= 8 ? 1 : z <= 11 ? 0.1 : 0.01;
      const nw = coords.scaleBy(size);
      const toPx = (lat, lon) => map.project([lat, lon], z).subtract(nw);
      const tl = map.unproject(nw, z);
      const br = map.unproject(nw.add(size), z);
      ctx.font = '10px system-ui, sans-serif';
      const lineColor = dark ? '#333a50' : '#d5dbea';
      const mainColor = dark ? '#4b5575' : '#b7c0d8';
      const label = dark ? '#7c86a6' : '#8a93ad';
      const fmt = (v) => (step < 1 ? v.toFixed(step < 0.1 ? 2 : 1) : String(Math.round(v)));
      for (let lon = Math.ceil(tl.lng / step) * step; lon <= br.lng; lon += step) {
        const x = Math.round(toPx(0, lon).x) + 0.5;
        ctx.strokeStyle = Math.abs(lon) < 1e-9 ? mainColor : lineColor;
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, size.y); ctx.stroke();
        ctx.fillStyle = label;
        ctx.fillText(`${fmt(lon)}°`, x + 3, 12);
      }
      for (let lat = Math.ceil(br.lat / step) * step; lat <= tl.lat; lat += step) {
        const y = Math.round(toPx(lat, tl.lng).y) + 0.5;
        ctx.strokeStyle = Math.abs(lat) < 1e-9 ? mainColor : lineColor;
        ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(size.x, y); ctx.stroke();
        if (y < 26) continue; // would run into the longitude labels at the top
        ctx.fillStyle = label;
        ctx.fillText(`${fmt(lat)}°`, 3, y - 3);
      }
      return c;
    },
  });
  return new Grid({ attribution: 'grid drawn locally' });
}

export class StatusMap {
  /**
   * @param el the container
   * @param onPick fn({lat, lon}) when the user clicks the map
   * @param onOpen fn(username) when a marker's popup asks to open a status
   */
  constructor(el, { onPick, onOpen }) {
    this.el = el;
    this.markers = new Map();
    this.pick = null;
    this.onOpen = onOpen;
    this.fitted = false;
    const L = window.L;
    this.L = L;
    if (!L) {
      el.replaceChildren(Object.assign(document.createElement('p'), {
        className: 'map-fallback', textContent: 'The map library could not be loaded; everything else works.',
      }));
      return;
    }
    this.map = L.map(el, { worldCopyJump: true, minZoom: 1, maxZoom: 18 }).setView([30, 10], 2);
    offlineGrid(L).addTo(this.map);
    this.tiles = null;
    this.setTiles(tileSetting());
    this.map.on('click', (e) => onPick({ lat: round(e.latlng.lat), lon: round(wrapLon(e.latlng.lng)) }));
  }

  get ok() { return !!this.map; }

  setTiles(template) {
    if (!this.map) return;
    if (this.tiles) this.tiles.remove();
    this.tiles = null;
    if (!template) return;
    const osm = template === OSM_TILES;
    this.tiles = this.L.tileLayer(template, {
      maxZoom: 19,
      attribution: osm ? '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
        : 'custom tiles',
    });
    // A failed tile just leaves the grid visible underneath: nothing else to do.
    this.tiles.addTo(this.map);
  }

  /** Redraws after the container changed size. */
  invalidate() { this.map?.invalidateSize(); }

  upsert(s, { fresh = false } = {}) {
    if (!this.map) return;
    const has = typeof s.latitude === 'number' && typeof s.longitude === 'number';
    let m = this.markers.get(s.username);
    if (!has) {
      if (m) this.remove(s.username);
      return;
    }
    if (!m) {
      m = this.L.marker([s.latitude, s.longitude], {
        icon: this.icon(s.username, fresh), title: s.username, alt: `${s.username}: ${s.statusText}`,
        keyboard: true, riseOnHover: true,
      }).addTo(this.map);
      m.bindPopup('');
      this.markers.set(s.username, m);
    } else {
      m.setLatLng([s.latitude, s.longitude]);
      if (fresh) m.setIcon(this.icon(s.username, true));
    }
    m.setPopupContent(this.popup(s));
    const el = m.getElement();
    el?.setAttribute('data-username', s.username);
  }

  remove(username) {
    const m = this.markers.get(username);
    if (m) {
      m.remove();
      this.markers.delete(username);
    }
  }

  replaceAll(list) {
    if (!this.map) return;
    const keep = new Set();
    for (const s of list) {
      this.upsert(s);
      keep.add(s.username);
    }
    for (const u of [...this.markers.keys()]) if (!keep.has(u)) this.remove(u);
    if (!this.fitted && this.markers.size) {
      this.fitted = true;
      this.fitAll();
    }
  }

  fitAll() {
    if (!this.map || !this.markers.size) return;
    const b = this.L.latLngBounds([...this.markers.values()].map((m) => m.getLatLng()));
    this.map.fitBounds(b.pad(0.3), { maxZoom: 6 });
  }

  focus(username) {
    const m = this.markers.get(username);
    if (!m) return;
    this.map.setView(m.getLatLng(), Math.max(this.map.getZoom(), 5));
    m.openPopup();
  }

  /** Shows (or hides, with null) the position chosen in the form. */
  setPick(pos, { pan = false } = {}) {
    if (!this.map) return;
    if (!pos) {
      this.pick?.remove();
      this.pick = null;
      return;
    }
    if (!this.pick) {
      this.pick = this.L.circleMarker([pos.lat, pos.lon], {
        radius: 9, color: '#f59e0b', weight: 3, fillOpacity: 0.35, dashArray: '4 3', interactive: false,
      }).addTo(this.map);
    } else {
      this.pick.setLatLng([pos.lat, pos.lon]);
    }
    if (pan) this.map.setView([pos.lat, pos.lon], Math.max(this.map.getZoom(), 8));
  }

  get count() { return this.markers.size; }

  icon(username, fresh) {
    // Leaflet positions the icon element with a transform: the shape is an inner element.
    const html = document.createElement('div');
    html.className = `pin-shape${fresh ? ' fresh' : ''}`;
    html.style.background = colorOf(username);
    const letter = document.createElement('span');
    letter.textContent = username.slice(0, 1);
    html.append(letter);
    return this.L.divIcon({ className: 'pin', html, iconSize: [30, 30], iconAnchor: [15, 30], popupAnchor: [0, -30] });
  }

  popup(s) {
    const div = document.createElement('div');
    const b = document.createElement('strong');
    b.textContent = s.username;
    const p = document.createElement('p');
    p.className = 'popup-text';
    p.textContent = s.statusText;
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = 'Open';
    btn.addEventListener('click', () => this.onOpen(s.username));
    div.append(b, p, btn);
    return div;
  }
}

const round = (v) => Math.round(v * 1e5) / 1e5;
const wrapLon = (lon) => ((((lon + 180) % 360) + 360) % 360) - 180;
