// The parts of Leaflet 1.9.4 the map draws with, from Leaflet's own ES modules (npm leaflet, see
// map-libs.js); bundled by scripts/web-bundle.mjs, never loaded as it is.
//
// Leaflet is © 2010-2023 Vladimir Agafonkin, © 2010-2011 CloudMade (BSD-2-Clause, see
// web/vendor/leaflet/LICENSE). This file picks its modules; the renderer choice at the end is
// Leaflet's own (src/layer/vector/Renderer.getRenderer.js) without the canvas renderer.
export { version } from 'leaflet/package.json';
export * from 'leaflet/src/core/index';
export * from 'leaflet/src/dom/index';
export * from 'leaflet/src/geometry/index';
export { LatLng, toLatLng as latLng } from 'leaflet/src/geo/LatLng';
export { LatLngBounds, toLatLngBounds as latLngBounds } from 'leaflet/src/geo/LatLngBounds';
import { CRS } from 'leaflet/src/geo/crs/CRS';
import { Earth } from 'leaflet/src/geo/crs/CRS.Earth';
import { EPSG3857 } from 'leaflet/src/geo/crs/CRS.EPSG3857';
import { Map } from 'leaflet/src/map/Map';
import { DoubleClickZoom } from 'leaflet/src/map/handler/Map.DoubleClickZoom';
import { Drag } from 'leaflet/src/map/handler/Map.Drag';
import { Keyboard } from 'leaflet/src/map/handler/Map.Keyboard';
import { ScrollWheelZoom } from 'leaflet/src/map/handler/Map.ScrollWheelZoom';
import { TapHold } from 'leaflet/src/map/handler/Map.TapHold';
import { TouchZoom } from 'leaflet/src/map/handler/Map.TouchZoom';
import { Control, control } from 'leaflet/src/control/Control';
import { Zoom, zoom } from 'leaflet/src/control/Control.Zoom';
import { Attribution, attribution } from 'leaflet/src/control/Control.Attribution';
import { GeoJSON, geoJSON, geoJson, geometryToLayer, coordsToLatLng, coordsToLatLngs, latLngToCoords,
  latLngsToCoords, getFeature, asFeature } from 'leaflet/src/layer/GeoJSON';
import { svg } from 'leaflet/src/layer/vector/SVG';

Object.assign(CRS, { Earth, EPSG3857 });
export { CRS };
Object.assign(Map, { DoubleClickZoom, Drag, Keyboard, ScrollWheelZoom, TapHold, TouchZoom });
export { Map, createMap as map } from 'leaflet/src/map/Map';
Object.assign(Control, { Zoom, Attribution });
Object.assign(control, { zoom, attribution });
export { Control, control };
export { Layer } from 'leaflet/src/layer/Layer';
export { LayerGroup, layerGroup } from 'leaflet/src/layer/LayerGroup';
export { FeatureGroup, featureGroup } from 'leaflet/src/layer/FeatureGroup';
Object.assign(GeoJSON, { geometryToLayer, coordsToLatLng, coordsToLatLngs, latLngToCoords, latLngsToCoords,
  getFeature, asFeature });
export { GeoJSON, geoJSON, geoJson };
export { DivOverlay } from 'leaflet/src/layer/DivOverlay';
export { Popup, popup } from 'leaflet/src/layer/Popup';
export { Icon, icon } from 'leaflet/src/layer/marker/Icon';
export { DivIcon, divIcon } from 'leaflet/src/layer/marker/DivIcon';
export { Marker, marker } from 'leaflet/src/layer/marker/Marker';
export { GridLayer, gridLayer } from 'leaflet/src/layer/tile/GridLayer';
export { TileLayer, tileLayer } from 'leaflet/src/layer/tile/TileLayer';
export { Renderer } from 'leaflet/src/layer/vector/Renderer';
export { SVG, svg } from 'leaflet/src/layer/vector/SVG';
export { Path } from 'leaflet/src/layer/vector/Path';
export { CircleMarker, circleMarker } from 'leaflet/src/layer/vector/CircleMarker';
export { Circle, circle } from 'leaflet/src/layer/vector/Circle';
export { Polyline, polyline } from 'leaflet/src/layer/vector/Polyline';
export { Polygon, polygon } from 'leaflet/src/layer/vector/Polygon';

// Which renderer draws a path: the path's own, its pane's, the map's, else one SVG renderer.
Map.include({
  getRenderer(layer) {
    let renderer = layer.options.renderer || this._getPaneRenderer(layer.options.pane) || this.options.renderer
      || this._renderer;
    if (!renderer) renderer = this._renderer = this._createRenderer();
    if (!this.hasLayer(renderer)) this.addLayer(renderer);
    return renderer;
  },
  _getPaneRenderer(name) {
    if (name === 'overlayPane' || name === undefined) return false;
    let renderer = this._paneRenderers[name];
    if (renderer === undefined) {
      renderer = this._createRenderer({ pane: name });
      this._paneRenderers[name] = renderer;
    }
    return renderer;
  },
  _createRenderer(options) { return svg(options); },
});
