// Build the field app's service worker with Workbox (workbox-build from npm): it precaches the
// app shell, its scripts and the libraries it loads, so the app opens with no network after the
// first sign-in, and keeps the map's vector tiles it has seen for offline use.
// Run by `make fieldapp`; writes build/sw.js and the Workbox runtime beside it.
import { generateSW } from 'workbox-build';

const { count, size, warnings } = await generateSW({
  swDest: 'build/sw.js',
  globDirectory: '.',
  globPatterns: [
    'shell/index.html', 'shell/manifest.webmanifest',
    'static/*.{js,css,png,svg}',
    'node_modules/dexie/dist/dexie.min.js',
    'node_modules/maplibre-gl/dist/maplibre-gl.{js,css}',
  ],
  globIgnores: ['build/**'], // node_modules is ignored by default; only the two files above are taken
  maximumFileSizeToCacheInBytes: 4 * 1024 * 1024, // MapLibre is ~1 MB
  // The URLs the server gives those files (fieldapp/views.py).
  modifyURLPrefix: {
    'shell/': '/m/',
    'static/': '/m/static/',
    'node_modules/dexie/dist/': '/m/vendor/dexie/',
    'node_modules/maplibre-gl/dist/': '/m/vendor/maplibre-gl/',
  },
  navigateFallback: '/m/index.html',
  navigateFallbackAllowlist: [/^\/m\//],
  cacheId: 'grids-field',
  cleanupOutdatedCaches: true,
  clientsClaim: true,
  skipWaiting: true,
  sourcemap: false,
  mode: 'production',
  // The shared store and sync (Background Sync runs them here too), then push and notifications.
  importScripts: ['/m/vendor/dexie/dexie.min.js', '/m/static/shared.js', '/m/static/sw-extra.js'],
  runtimeCaching: [{
    // Vector tiles of the member's cells: from the network when it answers, else what was kept.
    urlPattern: ({ url }) => url.pathname.startsWith('/api/v1/tiles/'),
    handler: 'NetworkFirst',
    options: {
      cacheName: 'grids-field-tiles',
      networkTimeoutSeconds: 4,
      expiration: { maxEntries: 3000, maxAgeSeconds: 60 * 24 * 3600 },
      cacheableResponse: { statuses: [200] },
    },
  }],
});
for (const warning of warnings) console.warn(warning);
console.log(`field app service worker: ${count} files precached, ${(size / 1024).toFixed(0)} KiB`);
