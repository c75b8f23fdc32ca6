// Leaflet as the global `L` (a plain object, as leaflet.js makes it: plugins add to it), before
// the cluster plugin runs (map-libs.js imports this first).
import * as Leaflet from './leaflet-lean.js';

globalThis.L = { ...Leaflet };
