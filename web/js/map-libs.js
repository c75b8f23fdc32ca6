// The map's libraries in one bundle (web/dist/map-libs.js), which map.js loads once the list is
// shown: Leaflet (the parts the map uses, from Leaflet's own ES modules), the cluster plugin and
// topojson-client. The plugin (a UMD script) finds Leaflet as the global `L`, as it would beside
// leaflet.js.
//
// Leaflet here is built from npm leaflet 1.9.4's src/ (tests/browser's devDependency; the
// bundle in web/dist/ is what the browser gets, see scripts/web-bundle.mjs) with what the page
// draws with: the map and its handlers but box zoom, the zoom and attribution controls,
// markers with div icons, popups, feature groups, GeoJSON, SVG paths, tile layers, and the
// Web Mercator CRS. Left out, 5 KB of brotli: the canvas renderer, tooltips, image, video and
// SVG overlays, the layers and scale controls, WMS and the other CRSs.
/*! Leaflet 1.9.4 (a part of it), Copyright (c) 2010-2023 Volodymyr Agafonkin, (c) 2010-2011
    CloudMade, BSD-2-Clause; Leaflet.markercluster 1.5.3, Copyright 2012 David Leaver, MIT;
    topojson-client 3.1.0, Copyright 2012-2019 Michael Bostock, ISC. The licences:
    web/vendor/leaflet/LICENSE, web/vendor/leaflet.markercluster/LICENSE,
    web/vendor/topojson-client/LICENSE. */
import './leaflet-global.js';
import '../vendor/leaflet.markercluster/leaflet.markercluster.js';
import * as topojson from '../vendor/topojson-client/topojson-client.min.js';

export const L = globalThis.L;
export { topojson };
