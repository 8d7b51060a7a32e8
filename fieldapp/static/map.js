// The map of the member's own cells: MapLibre (from npm, loaded only when the map is opened) over
// the server's vector tiles, which the service worker keeps for offline use; households from the
// phone's store on top, coloured by what the worklist ranks first.
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { orderHouseholds, warnedHouseholds } from './worklist.js';

const KEEP_ZOOMS = [12, 13, 14, 15, 16];
const KEEP_MAX = 600; // tiles kept for offline use at most
let library = null;

function loadLibrary() {
  if (window.maplibregl) return Promise.resolve(window.maplibregl);
  if (!library) {
    library = new Promise((resolve, reject) => {
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = '/m/vendor/maplibre-gl/maplibre-gl.css';
      document.head.appendChild(css);
      const script = document.createElement('script');
      script.src = '/m/vendor/maplibre-gl/maplibre-gl.js';
      script.onload = () => resolve(window.maplibregl);
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }
  return library;
}

function bounds(cells) {
  let box = null;
  const visit = (coordinates) => {
    if (typeof coordinates[0] === 'number') {
      const [x, y] = coordinates;
      box = box ? [Math.min(box[0], x), Math.min(box[1], y), Math.max(box[2], x), Math.max(box[3], y)] : [x, y, x, y];
    } else coordinates.forEach(visit);
  };
  cells.forEach((c) => c.geometry && visit(c.geometry.coordinates));
  return box;
}

function tileOf(lon, lat, z) {
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const rad = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  return [Math.min(n - 1, Math.max(0, x)), Math.min(n - 1, Math.max(0, y))];
}

/** URLs of the grid tiles over the member's cells, coarse zooms first, at most KEEP_MAX. */
export async function tilesToKeep(app) {
  const box = bounds(await app.db.cells.toArray());
  if (!box) return [];
  const urls = [];
  for (const z of KEEP_ZOOMS) {
    const [x0, y0] = tileOf(box[0], box[3], z);
    const [x1, y1] = tileOf(box[2], box[1], z);
    for (let x = x0; x <= x1; x += 1) {
      for (let y = y0; y <= y1; y += 1) urls.push(`/api/v1/tiles/grids/${z}/${x}/${y}.pbf`);
    }
    if (urls.length >= KEEP_MAX) break;
  }
  return urls.slice(0, KEEP_MAX);
}

export async function renderMap(app, main) {
  const status = h('p', { class: 'hint', id: 'map-status', role: 'status' }, navigator.onLine ? t('map_loading') : t('map_offline'));
  const container = h('div', { id: 'map', class: 'map', role: 'region', 'aria-label': t('map_title') });
  replace(main, h('h2', { class: 'visually-hidden' }, t('map_title')), status, container);
  let maplibregl;
  try { maplibregl = await loadLibrary(); } catch (error) { status.textContent = t('map_offline'); return; }
  const [cells, households, warned] = await Promise.all([app.db.cells.toArray(), app.db.households.toArray(), warnedHouseholds(app)]);
  const box = bounds(cells);
  const session = app.session;
  const ranked = orderHouseholds(households, warned, null);
  const points = { type: 'FeatureCollection', features: ranked.filter((r) => r.household.location).map((r) => ({
    type: 'Feature', geometry: r.household.location, properties: { id: String(r.household.id), rank: r.rank } })) };
  const map = new maplibregl.Map({
    container, attributionControl: false, maxZoom: 18,
    bounds: box ? [[box[0], box[1]], [box[2], box[3]]] : undefined, fitBoundsOptions: { padding: 20 },
    center: box ? undefined : [108.9, 32.7], zoom: box ? undefined : 12,
    transformRequest: (url) => (url.includes('/api/v1/tiles/') ? { url, headers: { Authorization: 'Bearer ' + session.access_token } } : { url }),
    style: {
      version: 8,
      sources: {
        grids: { type: 'vector', tiles: [location.origin + '/api/v1/tiles/grids/{z}/{x}/{y}.pbf'], minzoom: 10, maxzoom: 16 },
        households: { type: 'geojson', data: points },
        cells: { type: 'geojson', data: { type: 'FeatureCollection', features: cells.filter((c) => c.geometry).map((c) => ({ type: 'Feature', geometry: c.geometry, properties: { code: c.code } })) } },
      },
      layers: [
        { id: 'background', type: 'background', paint: { 'background-color': '#f4f1ea' } },
        { id: 'cells-fill', type: 'fill', source: 'grids', 'source-layer': 'grids', filter: ['==', ['get', 'tier'], 3],
          paint: { 'fill-color': ['interpolate', ['linear'], ['coalesce', ['get', 'coverage'], 0], 0, '#f2b8b5', 0.6, '#f9dd9a', 0.9, '#b6dfb0'], 'fill-opacity': 0.7 } },
        { id: 'cells-line', type: 'line', source: 'grids', 'source-layer': 'grids', paint: { 'line-color': '#6b4f3a', 'line-width': 1 } },
        // The phone's own copy of the boundaries, so the cells show even before any tile is kept.
        { id: 'own-cells', type: 'line', source: 'cells', paint: { 'line-color': '#b3261e', 'line-width': 2 } },
        { id: 'households', type: 'circle', source: 'households',
          paint: { 'circle-radius': 5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1,
            'circle-color': ['match', ['get', 'rank'], 0, '#b3261e', 1, '#e8710a', 2, '#1a73e8', '#5f6368'] } },
      ],
    },
  });
  app.map = map;
  map.on('load', () => { status.textContent = navigator.onLine ? '' : t('map_offline'); });
  map.on('click', 'households', (event) => {
    const feature = event.features && event.features[0];
    if (feature) app.navigate('#/household/' + encodeURIComponent(feature.properties.id));
  });
}
