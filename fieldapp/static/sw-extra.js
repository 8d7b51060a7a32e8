/* What the field app's service worker does besides Workbox's precache (loaded by importScripts):
 * Background Sync of the queue (the same sync as the page's, in shared.js), Web Push
 * notifications and what a tap on one opens. */
/* global FieldShared */
'use strict';

// Background Sync: the browser fires this when it is back online, even with the app closed.
// A rejected promise asks the browser to try again later (with its own backoff).
self.addEventListener('sync', (event) => {
  if (event.tag !== FieldShared.SYNC_TAG) return;
  event.waitUntil(FieldShared.sync().catch((error) => {
    if (error instanceof FieldShared.SignedOut) return undefined; // the member must sign in again first
    throw error;
  }));
});

// The page asks for a sync when it cannot register Background Sync itself.
self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'sync') event.waitUntil(FieldShared.sync().catch(() => undefined));
});

// Web Push (issue 17's notifications): show what the server sent; tapping opens the right page.
self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = { body: event.data.text() }; }
  const object = data.object || {};
  const target = object.type === 'warning' ? `/m/#/warning/${object.id}` : '/m/#/';
  event.waitUntil(Promise.all([
    self.registration.showNotification(data.title || '反诈网格', {
      body: data.body || '', tag: data.id ? String(data.id) : undefined, data: { url: target },
      icon: '/m/static/icon-192.png', badge: '/m/static/icon-192.png',
    }),
    // A new warning: fetch it now so the inbox has it even if the phone goes offline.
    object.type === 'warning' ? FieldShared.refresh().catch(() => undefined) : Promise.resolve(),
  ]));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/m/';
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
    for (const client of windows) {
      if (new URL(client.url).pathname.startsWith('/m/')) {
        client.navigate(url);
        return client.focus();
      }
    }
    return self.clients.openWindow(url);
  }));
});
