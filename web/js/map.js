// The map: a basemap of land and country borders shipped with the client (Natural Earth via
// world-atlas, drawn as vector layers; no network needed), the statuses with a position in view
// as clustered markers (leaflet.markercluster), a "picked" marker for the form, and online tiles
// only when the operator configured them (<meta name="tile-url">, filled by the gateway's
// --tile-url). It asks the server only for the statuses in view (`bbox`), again after each move
// (debounced); the first load asks for the whole world and fits the view to what it finds.
import { t } from './i18n.js';
import { availabilityLabel, isShortcode, untilText } from './status.js';
import { availabilityDot, colorOf, debounce, h, textWithEmoji, untilOf } from './util.js';

const MOVE_DEBOUNCE_MS = 300;
/** Data files relative to this module: the gateway serves assets under a content-hashed prefix. */
const WORLD_URL = new URL('../vendor/world-atlas/countries-110m.json', import.meta.url);
/** Leaflet, the cluster plugin and topojson-client, and their styles: bundles (scripts/web-bundle.mjs). */
const MAP_LIBS = new URL('../dist/map-libs.js', import.meta.url);
const MAP_STYLES = new URL('../dist/map.css', import.meta.url);
/** The whole world, for the first load (whatever the view: the view is fitted to the answer). */
const WORLD_BOX = [-180, -90, 180, 90];
/** Deepest zoom on the basemap alone (1:110m data; enough to tell people a street apart). */
const MAX_ZOOM_BASEMAP = 12;
const MAX_ZOOM_TILES = 18;
/** The first view around the statuses: room for a pin (30 px above its point) at every edge. */
const PAD = { paddingTopLeft: [28, 46], paddingBottomRight: [28, 26] };
const FIT = { ...PAD, maxZoom: 7, animate: false };

/** The tile layer the operator configured (meta tags filled by the gateway); url '' = none. */
export function tileConfig(doc = document) {
  const meta = (name) => (doc.querySelector(`meta[name="${name}"]`)?.getAttribute('content') || '').trim();
  return { url: meta('tile-url'), attribution: meta('tile-attribution') };
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

/** A marker's accessible name: the full username, then the status in words. */
export function markerLabel(s) {
  const until = s.expiresAt ? `, ${untilText(s.expiresAt)}` : '';
  return `${s.username} (${availabilityLabel(s.availability)}): ${s.emoji ? `${s.emoji} ` : ''}${s.statusText}${until}`;
}

/** A cluster's accessible name ("12 people") and, as its tooltip, whom it holds. */
export function clusterWords(names) {
  const n = names.length;
  const label = t('map.people', { count: n });
  const shown = [...names].sort((a, b) => a.localeCompare(b)).slice(0, 5);
  const rest = n - shown.length;
  return { label, title: `${label}: ${shown.join(', ')}${rest > 0 ? ` ${t('map.cluster.more', { n: rest })}` : ''}` };
}

/**
 * A ring or line without jumps across the antimeridian: where it steps from 180° to −180° (as
 * Russia's and Fiji's outlines do), the rest continues beyond 180°, so that Leaflet's flat map
 * does not draw a band across the whole world. A ring round a pole (Antarctica's) stays as it is.
 */
export function unwrapRing(points, closed) {
  let shift = 0;
  let prev = null;
  const out = points.map(([lon, lat]) => {
    if (prev !== null) {
      const d = lon + shift - prev;
      if (d > 180) shift -= 360;
      else if (d < -180) shift += 360;
    }
    prev = lon + shift;
    return [prev, lat];
  });
  return closed && shift !== 0 ? points : out;
}

/** unwrapRing over a GeoJSON geometry's rings and lines, in place. */
function unwrapGeometry(g) {
  if (!g) return;
  if (g.type === 'Polygon') g.coordinates = g.coordinates.map((r) => unwrapRing(r, true));
  else if (g.type === 'MultiPolygon') g.coordinates = g.coordinates.map((p) => p.map((r) => unwrapRing(r, true)));
  else if (g.type === 'LineString') g.coordinates = unwrapRing(g.coordinates, false);
  else if (g.type === 'MultiLineString') g.coordinates = g.coordinates.map((l) => unwrapRing(l, false));
}

let styles = null;
/** The map's style sheet, loaded once, before the page's own (which override some of its rules). */
function loadStyles() {
  styles ||= new Promise((resolve, reject) => {
    const el = Object.assign(document.createElement('link'), { rel: 'stylesheet', href: MAP_STYLES.href });
    el.onload = resolve;
    el.onerror = () => reject(new Error('the map\'s styles could not be loaded'));
    document.head.insertBefore(el, document.head.querySelector('link[rel="stylesheet"]'));
  });
  return styles;
}

let libs = null;
/**
 * Leaflet (window.L), the cluster plugin and topojson-client (dist/map-libs.js, made of
 * js/map-libs.js) with their styles, all requested at once. Not in the page's HTML: the list and the form need
 * none of it, so the page's first data waits for none of it.
 */
export function loadLeaflet() {
  libs ||= Promise.all([import(MAP_LIBS.href), loadStyles()]).then(([m]) => {
    if (!m.L?.markerClusterGroup) throw new Error('Leaflet did not load');
    return m;
  });
  return libs;
}

const escapeHtml = (v) => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** How far the sticky header covers the top of `el` (0 when it does not). */
function headerOverlap(el) {
  const bar = document.querySelector('.topbar');
  if (!bar || getComputedStyle(bar).position !== 'sticky') return 0;
  return Math.max(0, bar.getBoundingClientRect().bottom - el.getBoundingClientRect().top);
}

export class StatusMap {
  /**
   * @param el the container
   * @param onPick fn({lat, lon}) when the user clicks the map
   * @param onOpen fn(username) when a marker's popup asks to open a status
   * @param load fn(boxes) → Promise of the statuses in those boxes (an array; `complete`: none left out)
   * @param onLoad fn(list) after each load; onError fn(err) when one fails
   */
  constructor(el, { onPick, onOpen, load, onLoad = () => {}, onError = () => {} }) {
    this.el = el;
    this.markers = new Map();
    this.pick = null;
    Object.assign(this, { onPick, onOpen, load, onLoad, onError });
    this.boxes = null;    // what the markers were loaded for
    this.seq = 0;
    this.fitted = false;  // the first load (the whole world, then the view fitted to it) is done
    this.touched = false; // the user moved the map: no more fitting
    this.basemap = null;  // Promise of the basemap's layers
    this.seen = null;     // the observer that loads it when the map comes near the screen
    this.map = null;      // the Leaflet map, once Leaflet is loaded
    this.L = null;
    this.ready = null;    // see whenReady()
  }

  /**
   * Loads Leaflet (the first time) and makes the map; settles when the map is there or could not
   * be made (then `ok` stays false). The first refresh() calls it: the page asks for that after
   * its list is shown, so Leaflet's 150 KB of script are neither fetched nor run before.
   */
  whenReady() {
    this.ready ||= loadLeaflet().then(({ L, topojson }) => this.init(L, topojson), (e) => {
      console.warn(`The map could not be loaded: ${e.message}`);
      this.el.replaceChildren(Object.assign(document.createElement('p'), {
        className: 'map-fallback', textContent: t('map.unavailable'),
      }));
    });
    return this.ready;
  }

  /** Makes the Leaflet map in the container (once Leaflet is loaded). */
  init(L, topojson) {
    const { el, onPick } = this;
    this.L = L;
    this.topojson = topojson;
    // Cluster icons are named but no tab stops either (Leaflet would make each a button in the tab order).
    L.MarkerCluster.mergeOptions({ keyboard: false });
    const tiles = tileConfig();
    // At first the whole width of the world, as far as the container allows.
    const zoom = Math.max(1, Math.floor(Math.log2(Math.max(el.clientWidth, 256) / 256)));
    // "Reduce motion": Leaflet's own zoom, fade and cluster animations off (CSS stops the rest).
    const still = typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
    this.map = L.map(el, {
      zoomAnimation: !still, fadeAnimation: !still, markerZoomAnimation: !still,
      worldCopyJump: true, minZoom: 1, maxZoom: tiles.url ? MAX_ZOOM_TILES : MAX_ZOOM_BASEMAP,
      zoomControl: false, attributionControl: false,
      // Quarter steps: the first view fits the statuses closely (the keys and buttons still zoom by one).
      zoomSnap: 0.25,
    }).setView([30, 10], zoom);
    // +/− and the arrow keys work on the focused map: its buttons are for the mouse, not more tab stops.
    L.control.zoom({ zoomInTitle: t('map.zoomIn'), zoomOutTitle: t('map.zoomOut') }).addTo(this.map);
    for (const a of el.querySelectorAll('.leaflet-control-zoom a')) a.tabIndex = -1;
    L.control.attribution({ prefix: false }).addTo(this.map);

    // The basemap lies under the tiles (if any): where tiles fail or are missing, land still shows.
    const pane = this.map.createPane('basemap');
    pane.style.zIndex = 150;
    pane.style.pointerEvents = 'none';
    this.tiles = null;
    if (tiles.url) {
      this.tiles = L.tileLayer(tiles.url, { maxZoom: MAX_ZOOM_TILES, attribution: escapeHtml(tiles.attribution) });
      // After the load event: a tile server that never answers must not hold the page's load up.
      const add = () => this.tiles.addTo(this.map);
      if (document.readyState === 'complete') add();
      else window.addEventListener('load', add, { once: true });
    }

    this.group = L.markerClusterGroup({
      // The plugin's radius (80 px at whole zooms): clusters stay apart at the quarter zooms too.
      showCoverageOnHover: false, maxClusterRadius: 80, spiderfyOnMaxZoom: false, zoomToBoundsOnClick: false,
      animate: !still,
      spiderfyDistanceMultiplier: 1.6, iconCreateFunction: (c) => this.clusterIcon(c),
    }).addTo(this.map);
    this.group.on('clusterclick', (e) => this.openCluster(e.layer));

    this.map.on('click', (e) => onPick({ lat: round(e.latlng.lat), lon: round(wrapLon(e.latlng.lng)) }));
    // Any move of the user's own (drag, wheel, keys, a tap) ends the fitting to the statuses.
    const moves = (e) => e.type !== 'keydown' || /^(Arrow|[-+=]$)/.test(e.key);
    for (const ev of ['pointerdown', 'wheel', 'keydown']) {
      el.addEventListener(ev, (e) => { if (moves(e)) this.touched = true; }, { passive: true });
    }
    this.refreshSoon = debounce(() => this.refresh(), MOVE_DEBOUNCE_MS);
    this.map.on('moveend', () => {
      this.rewrap();
      if (this.settled) return; // the first fit of a complete world: everything is in hand
      this.seq++; // an answer for the view before this move would only take markers away
      this.refreshSoon();
    });
    if (this.picked) this.setPick(...this.picked);
  }

  /**
   * The basemap as soon as the map is (nearly) on screen: at once on a wide screen, on a phone
   * (where the map comes after the list) only when the user scrolls towards it.
   */
  basemapWhenSeen() {
    if (this.basemap || this.seen) return;
    if (!('IntersectionObserver' in window)) {
      this.loadBasemap();
      return;
    }
    this.seen = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      this.seen.disconnect();
      this.loadBasemap();
    }, { rootMargin: '300px' });
    this.seen.observe(this.el);
  }

  /**
   * Loads and draws the basemap (once): countries as land, their shared edges as borders. Called
   * after the first statuses are in, so it does not hold up the list.
   */
  loadBasemap() {
    if (!this.map) return Promise.resolve(null);
    this.basemap ||= (async () => {
      const r = await fetch(WORLD_URL);
      if (!r.ok) throw new Error(`basemap: ${r.status}`);
      const topo = await r.json();
      const { L, topojson } = this;
      const renderer = L.svg({ pane: 'basemap', padding: 0.5 });
      const opts = { pane: 'basemap', renderer, interactive: false };
      const countries = topojson.feature(topo, topo.objects.countries);
      for (const f of countries.features) unwrapGeometry(f.geometry);
      const mesh = topojson.mesh(topo, topo.objects.countries, (a, b) => a !== b);
      unwrapGeometry(mesh);
      const land = L.geoJSON(countries, {
        ...opts, style: { className: 'basemap-land', stroke: false, fillOpacity: 1 },
      });
      const borders = L.geoJSON(mesh, {
        ...opts, style: { className: 'basemap-border', fill: false, weight: 0.8, opacity: 1 },
      });
      land.getAttribution = () => t('map.attribution.basemap');
      land.addTo(this.map);
      borders.addTo(this.map);
      return { land, borders };
    })().catch((e) => {
      // Without the basemap the markers still work on the plain sea colour.
      this.basemap = null;
      console.warn(`The map's basemap could not be loaded: ${e.message}`);
      return null;
    });
    return this.basemap;
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
      if (lon !== m.at[1]) {
        m.at = [m.status.latitude, lon];
        m.setLatLng(m.at);
      }
    }
  }

  get ok() { return !!this.map; }

  /** The boxes of the current view (see viewBoxes). */
  viewBoxes() {
    const b = this.map.getBounds();
    return viewBoxes(b.getSouth(), b.getWest(), b.getNorth(), b.getEast());
  }

  /**
   * Loads the statuses in view and shows exactly those. The first time (until the user moves the
   * map) the whole world, and the view is then fitted to them.
   */
  async refresh() {
    this.refreshSoon?.cancel();
    const seq = ++this.seq;
    const first = !this.fitted && !this.touched;
    if (!first && !this.map) return;
    // The first load needs no view (the whole world): it runs while Leaflet still loads.
    const boxes = first ? [WORLD_BOX] : this.viewBoxes();
    try {
      const [list] = await Promise.all([this.load(boxes), this.whenReady()]);
      if (!this.map) return;
      if (seq !== this.seq) return; // the view moved on meanwhile
      this.boxes = boxes;
      this.replaceAll(list);
      this.onLoad(list);
      if (first) {
        this.fitted = true;
        // The whole world's statuses, none cut off (`list.complete`): the view fitted to them
        // needs no load of its own. Later moves load what is in view, as always.
        this.settled = !!list.complete;
        if (!this.touched) this.fit();
        this.settled = false;
      }
    } catch (e) {
      if (seq === this.seq) this.onError(e);
    } finally {
      if (first && this.map) this.basemapWhenSeen();
    }
  }

  /** The view around every marker (the world view stays when there are none). */
  fit() {
    if (!this.markers.size) return;
    const b = this.L.latLngBounds([...this.markers.values()].map((m) => m.getLatLng()));
    this.map.fitBounds(b, FIT);
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
    const looks = (x) => `${x.availability || 'available'} ${x.emoji || ''} ${markerLabel(x)}`;
    const at = [s.latitude, this.drawnLon(s.longitude)];
    if (!m) {
      m = this.L.marker(at, { icon: this.icon(s, fresh), keyboard: false, riseOnHover: true });
      m.bindPopup(new this.Popup());
      m.status = s;
      m.at = at;
      this.markers.set(s.username, m);
      this.group.addLayer(m);
    } else {
      // Only real changes: a move takes the marker out of its cluster and back (closing its popup).
      // Compared with where it was put, not where it is drawn (spread out from a cluster, it is elsewhere).
      if (m.at[0] !== at[0] || m.at[1] !== at[1]) m.setLatLng(at);
      m.at = at;
      if (fresh || looks(m.status) !== looks(s)) m.setIcon(this.icon(s, fresh));
      if (m.status.version === s.version && m.getPopup().getContent()) return;
    }
    m.status = s;
    m.setPopupContent(this.popup(s));
  }

  /** A popup that opens below the sticky header, however the page is scrolled. */
  get Popup() {
    const map = this;
    this._Popup ||= this.L.Popup.extend({
      _adjustPan() {
        const top = headerOverlap(map.el);
        this.options.autoPanPaddingTopLeft = map.L.point(10, Math.ceil(top) + 10);
        map.L.Popup.prototype._adjustPan.call(this);
      },
    });
    return this._Popup;
  }

  remove(username) {
    const m = this.markers.get(username);
    if (m) {
      this.group.removeLayer(m);
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

  /** Centres the map on a status (from the feed) and opens its popup, out of its cluster if need be. */
  focus(s) {
    if (!this.map || typeof s.latitude !== 'number') return;
    this.touched = true;
    // Not animated: the view is where it should be at once, so the marker can be placed in it.
    this.map.setView([s.latitude, this.drawnLon(s.longitude)], Math.max(this.map.getZoom(), 5), { animate: false });
    // The view now contains it: show it at once, the reload after the move keeps it.
    this.boxes = this.viewBoxes();
    this.upsert(s);
    const m = this.markers.get(s.username);
    if (m) this.group.zoomToShowLayer(m, () => m.openPopup());
  }

  /** Shows (or hides, with null) the position chosen in the form. */
  setPick(pos, { pan = false } = {}) {
    if (!this.map) {
      this.picked = [pos, { pan }]; // shown once the map is there
      return;
    }
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
    if (pan) {
      this.touched = true;
      this.map.setView([pos.lat, pos.lon], Math.max(this.map.getZoom(), 8));
    }
  }

  get count() { return this.markers.size; }

  /** An icon element named for screen readers, neither a tab stop (the map is one) nor unnamed. */
  get NamedIcon() {
    const L = this.L;
    this._NamedIcon ||= L.DivIcon.extend({
      createIcon(old) {
        const el = L.DivIcon.prototype.createIcon.call(this, old);
        const o = this.options;
        el.setAttribute('role', 'button');
        el.tabIndex = -1;
        el.setAttribute('aria-label', o.label);
        el.title = o.title || o.label;
        for (const [k, v] of Object.entries(o.data || {})) el.setAttribute(`data-${k}`, v);
        // A click leaves the focus on the map (Leaflet focuses it), not on the icon: Escape then
        // closes the popup and the arrow keys go on moving the map.
        if (!old) el.addEventListener('mousedown', (e) => e.preventDefault());
        return el;
      },
    });
    return this._NamedIcon;
  }

  /** A pin in the user's colour with their emoji (or initial), and a dot for the availability. */
  icon(s, fresh) {
    // Leaflet positions the icon element with a transform: the shape is an inner element.
    const emoji = s.emoji && !isShortcode(s.emoji);
    const html = h('div', { class: 'pin-body', 'aria-hidden': 'true' },
      h('div', { class: `pin-shape${fresh ? ' fresh' : ''}${emoji ? ' has-emoji' : ''}`,
        style: `background:${colorOf(s.username)}` },
      h('span', { text: emoji ? s.emoji : s.username.slice(0, 1) })),
      availabilityDot(s.availability));
    return new this.NamedIcon({
      className: 'pin', html, iconSize: [30, 30], iconAnchor: [15, 30], popupAnchor: [0, -30],
      label: markerLabel(s), data: { username: s.username, availability: s.availability || 'available' },
    });
  }

  /**
   * A click on a cluster: people at one place are spread out around it (spiderfied), at any zoom;
   * otherwise the view zooms in to show all of them with room for their pins at the edges (at
   * least one step deeper, so that every click takes the user closer).
   */
  openCluster(c) {
    const map = this.map;
    const all = c.getAllChildMarkers();
    const one = all.every((m) => m.getLatLng().equals(all[0].getLatLng()));
    if (one || map.getZoom() >= map.getMaxZoom()) {
      c.spiderfy();
      return;
    }
    this.touched = true;
    const b = c.getBounds();
    const zoom = map.getZoom();
    const size = map.getSize();
    const room = this.L.point(size.x - PAD.paddingTopLeft[0] - PAD.paddingBottomRight[0],
      size.y - PAD.paddingTopLeft[1] - PAD.paddingBottomRight[1]);
    const fits = map.getBoundsZoom(b, false, size.subtract(room));
    if (fits >= zoom + 1) map.fitBounds(b, { ...PAD, maxZoom: map.getMaxZoom() });
    else map.setView(b.getCenter(), Math.min(zoom + 1, map.getMaxZoom()));
  }

  /** A cluster: the number of people in it, in a circle that grows with it. */
  clusterIcon(cluster) {
    const names = cluster.getAllChildMarkers().map((m) => m.status.username);
    const n = names.length;
    const size = n < 10 ? 32 : n < 50 ? 38 : 44;
    const { label, title } = clusterWords(names);
    return new this.NamedIcon({
      className: `cluster cluster-${n < 10 ? 's' : n < 50 ? 'm' : 'l'}`,
      html: h('span', { 'aria-hidden': 'true', text: String(n) }),
      iconSize: [size, size], label, title, data: { count: String(n) },
    });
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
