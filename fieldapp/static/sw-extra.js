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

// Web Push: show what the server sent (title and body in the payload, in the server's language).
// The tag is the notification's id, so a message the push service delivers twice (the server
// sends at least once) replaces the first instead of showing twice, and silently (no renotify).
self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = { body: event.data.text() }; }
  const about = data.object || {};
  const hash = about.type === 'warning' && about.id != null ? `#/warning/${encodeURIComponent(about.id)}` : '#/warnings';
  event.waitUntil(Promise.all([
    self.registration.showNotification(data.title || '反诈网格', {
      body: data.body || '', tag: data.id != null ? String(data.id) : undefined, renotify: false,
      requireInteraction: Boolean(data.urgent), lang: 'zh-CN', timestamp: Date.parse(data.created_at) || Date.now(),
      data: { id: data.id ?? null, hash }, icon: '/m/static/icon-192.png', badge: '/m/static/icon-192.png',
    }),
    // Kept on the phone (the inbox marks it new) and, for a warning, the warning fetched now so the
    // inbox has it even if the phone goes offline before the member opens the app.
    data.id != null ? FieldShared.keepNotification(data).catch(() => undefined) : Promise.resolve(),
    about.type === 'warning' ? FieldShared.refreshNow().catch(() => undefined) : Promise.resolve(),
  ]));
});

/** What a tap on a notification does: open what it is about in the app (in the open window if
 *  there is one, else a new one) and mark it read. Named, so the browser test, which cannot tap a
 *  notification, can run it on a shown one. */
function openNotification(notification) {
  const { id, hash } = notification.data || {};
  const target = /^#\/[\w/%-]*$/.test(hash || '') ? hash : '#/warnings';
  return Promise.all([
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).pathname.startsWith('/m/'));
      if (!open) return self.clients.openWindow('/m/' + target);
      open.postMessage({ type: 'open', hash: target });
      return open.focus();
    }),
    id != null ? FieldShared.markNotificationsRead({ ids: [id] }).catch(() => undefined) : Promise.resolve(),
  ]);
}
self.openNotification = openNotification;

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openNotification(event.notification));
});
