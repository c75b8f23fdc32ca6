// The map: one marker per status with a position in view, a "picked" marker for the form, a
// configurable tile layer over an offline grid (so the map is useful without network). It asks
// the server only for the statuses in view (`bbox`), again after each move (debounced).
import { t } from './i18n.js';
import { availabilityLabel, isShortcode, untilText } from './status.js';
import { availabilityDot, colorOf, debounce, h, textWithEmoji, untilOf } from './util.js';

const MOVE_DEBOUNCE_MS = 300;

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
  return new Grid({ attribution: t('map.gridAttribution') });
}

/**
 * The boxes `[minLon, minLat, maxLon, maxLat]` to ask for (`bbox=`) to cover a map view given by
 * its edges as Leaflet reports them: latitudes clamped to ±90, longitudes taken round the world
 * into −180…180, and a view across the antimeridian split in two. Rounded outwards to 4 places.
 */
export function viewBoxes(south, west, north, east) {
  const clampLat = (v) => Math.min(90, Math.max(-90, v));
  const down = (v) => Number((Math.floor(v * 1e4) / 1e4).toFixed(4));
  const up = (v) => Number((Math.ceil(v * 1e4) / 1e4).toFixed(4));
  const minLat = Math.max(-90, down(clampLat(south)));
  const maxLat = Math.min(90, up(clampLat(north)));
  if (!(east - west < 360)) return [[-180, minLat, 180, maxLat]];
  const w = wrapLon(west);
  const e = w + (east - west);
  if (e <= 180) return [[Math.max(-180, down(w)), minLat, Math.min(180, up(e)), maxLat]];
  return [[Math.max(-180, down(w)), minLat, 180, maxLat], [-180, minLat, Math.min(180, up(e - 360)), maxLat]];
}

/** Whether a status's position lies in one of the boxes (null: no boxes known yet, so yes). */
export function inBoxes(s, boxes) {
  if (typeof s.latitude !== 'number' || typeof s.longitude !== 'number') return false;
  if (!boxes) return true;
  return boxes.some(([w, so, e, n]) => s.longitude >= w && s.longitude <= e && s.latitude >= so && s.latitude <= n);
}

export class StatusMap {
  /**
   * @param el the container
   * @param onPick fn({lat, lon}) when the user clicks the map
   * @param onOpen fn(username) when a marker's popup asks to open a status
   * @param load fn(boxes) → Promise of the statuses in those boxes
   * @param onLoad fn(list) after each load; onError fn(err) when one fails
   */
  constructor(el, { onPick, onOpen, load, onLoad = () => {}, onError = () => {} }) {
    this.el = el;
    this.markers = new Map();
    this.pick = null;
    Object.assign(this, { onOpen, load, onLoad, onError });
    this.boxes = null;   // what the markers were loaded for
    this.seq = 0;
    const L = window.L;
    this.L = L;
    if (!L) {
      el.replaceChildren(Object.assign(document.createElement('p'), {
        className: 'map-fallback', textContent: t('map.noLibrary'),
      }));
      return;
    }
    // At first the whole width of the world, as far as the container allows.
    const zoom = Math.max(1, Math.floor(Math.log2(Math.max(el.clientWidth, 256) / 256)));
    this.map = L.map(el, { worldCopyJump: true, minZoom: 1, maxZoom: 18 }).setView([30, 10], zoom);
    offlineGrid(L).addTo(this.map);
    this.tiles = null;
    this.setTiles(tileSetting());
    this.map.on('click', (e) => onPick({ lat: round(e.latlng.lat), lon: round(wrapLon(e.latlng.lng)) }));
    this.refreshSoon = debounce(() => this.refresh(), MOVE_DEBOUNCE_MS);
    this.map.on('moveend', () => {
      this.seq++; // an answer for the view before this move would only take markers away
      this.rewrap();
      this.refreshSoon();
    });
  }

  /**
   * The longitude at which to draw a position: the copy of the world nearest the view's centre,
   * so that a view across the antimeridian shows the markers on both sides of it.
   */
  drawnLon(lon) {
    const c = this.map.getCenter().lng;
    return lon + 360 * Math.round((c - lon) / 360);
  }

  /** Moves every marker to the copy of the world in view (after a pan across ±180°). */
  rewrap() {
    for (const m of this.markers.values()) {
      const lon = this.drawnLon(m.status.longitude);
      if (lon !== m.getLatLng().lng) m.setLatLng([m.status.latitude, lon]);
    }
  }

  get ok() { return !!this.map; }

  /** The boxes of the current view (see viewBoxes). */
  viewBoxes() {
    const b = this.map.getBounds();
    return viewBoxes(b.getSouth(), b.getWest(), b.getNorth(), b.getEast());
  }

  /** Loads the statuses in view and shows exactly those. */
  async refresh() {
    if (!this.map) return;
    this.refreshSoon.cancel();
    const seq = ++this.seq;
    const boxes = this.viewBoxes();
    try {
      const list = await this.load(boxes);
      if (seq !== this.seq) return; // the view moved on meanwhile
      this.boxes = boxes;
      this.replaceAll(list);
      this.onLoad(list);
    } catch (e) {
      if (seq === this.seq) this.onError(e);
    }
  }

  setTiles(template) {
    if (!this.map) return;
    if (this.tiles) this.tiles.remove();
    this.tiles = null;
    if (!template) return;
    const osm = template === OSM_TILES;
    this.tiles = this.L.tileLayer(template, {
      maxZoom: 19,
      attribution: osm ? '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
        : t('map.customTiles'),
    });
    // A failed tile just leaves the grid visible underneath: nothing else to do.
    this.tiles.addTo(this.map);
  }

  /** Redraws after the container changed size. */
  invalidate() { this.map?.invalidateSize(); }

  /** A status created or changed: a marker if it has a position in view, else none. */
  upsert(s, { fresh = false } = {}) {
    if (!this.map) return;
    let m = this.markers.get(s.username);
    if (!inBoxes(s, this.boxes)) {
      if (m) this.remove(s.username);
      return;
    }
    const looks = (x) => `${x.availability || 'available'} ${x.emoji || ''}`;
    const at = [s.latitude, this.drawnLon(s.longitude)];
    if (!m) {
      m = this.L.marker(at, {
        icon: this.icon(s, fresh), title: s.username, keyboard: true, riseOnHover: true,
      }).addTo(this.map);
      m.bindPopup('');
      this.markers.set(s.username, m);
    } else {
      m.setLatLng(at);
      if (fresh || looks(m.status) !== looks(s)) m.setIcon(this.icon(s, fresh));
    }
    m.status = s;
    m.setPopupContent(this.popup(s));
    const el = m.getElement();
    el?.setAttribute('data-username', s.username);
    el?.setAttribute('data-availability', s.availability || 'available');
    const until = s.expiresAt ? `, ${untilText(s.expiresAt)}` : '';
    el?.setAttribute('aria-label', `${s.username} (${availabilityLabel(s.availability)}): `
      + `${s.emoji ? `${s.emoji} ` : ''}${s.statusText}${until}`);
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
      if (this.markers.has(s.username)) keep.add(s.username);
    }
    for (const u of [...this.markers.keys()]) if (!keep.has(u)) this.remove(u);
  }

  /** Centres the map on a status (from the feed) and opens its popup. */
  focus(s) {
    if (!this.map || typeof s.latitude !== 'number') return;
    // Not animated: the view is where it should be at once, so the marker can be placed in it.
    this.map.setView([s.latitude, this.drawnLon(s.longitude)], Math.max(this.map.getZoom(), 5), { animate: false });
    // The view now contains it: show it at once, the reload after the move keeps it.
    this.boxes = this.viewBoxes();
    this.upsert(s);
    this.markers.get(s.username)?.openPopup();
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

  /** A pin in the user's colour with their emoji (or initial), and a dot for the availability. */
  icon(s, fresh) {
    // Leaflet positions the icon element with a transform: the shape is an inner element.
    const emoji = s.emoji && !isShortcode(s.emoji);
    const html = h('div', { class: 'pin-body' },
      h('div', { class: `pin-shape${fresh ? ' fresh' : ''}${emoji ? ' has-emoji' : ''}`,
        style: `background:${colorOf(s.username)}` },
      h('span', { text: emoji ? s.emoji : s.username.slice(0, 1) })),
      availabilityDot(s.availability));
    return this.L.divIcon({ className: 'pin', html, iconSize: [30, 30], iconAnchor: [15, 30], popupAnchor: [0, -30] });
  }

  popup(s) {
    const btn = h('button', { type: 'button', text: t('map.open'), onclick: () => this.onOpen(s.username) });
    const until = untilOf(s);
    return h('div', {},
      h('strong', {}, availabilityDot(s.availability, { labelled: true }), ` ${s.username}`),
      h('p', { class: 'popup-state muted' }, availabilityLabel(s.availability), ...(until ? [' · ', until] : [])),
      h('p', { class: 'popup-text', dir: 'auto' }, ...textWithEmoji(s)),
      btn);
  }
}

const round = (v) => Math.round(v * 1e5) / 1e5;
const wrapLon = (lon) => ((((lon + 180) % 360) + 360) % 360) - 180;
