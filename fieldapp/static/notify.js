// Notifications (API.md, "Notifications"): while the app is open, the live stream
// GET /me/notifications/stream (Server-Sent Events, read with fetch so the token goes in a header,
// never in a URL); when it is closed, Web Push through the service worker (sw-extra.js shows them),
// which the member turns on with a button (the browser asks for the permission only after a tap).
// A notification heard both ways, or again after a reconnection, is kept once (by its id); it is
// marked read when the member opens what it is about.
import { h } from './dom.js';
import { t } from './i18n.js';

const RETRY_MAX_MS = 5 * 60 * 1000;
const SUBSCRIBE_TIMEOUT_MS = 30_000; // a browser whose push service cannot be reached never answers
const FIRST_LISTED = 50; // notifications fetched the first time, so the inbox knows what is unread

/** Parse one Server-Sent Events block into {id, event, data}. */
export function parseEvent(block) {
  const event = { id: null, event: 'message', data: '' };
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (name === 'data') data.push(value);
    else if (name === 'id') event.id = value;
    else if (name === 'event') event.event = value;
  }
  event.data = data.join('\n');
  return event;
}

function live(on) {
  document.body.dataset.live = on ? 'true' : 'false';
}

/** A notification heard on the stream: kept, told (a toast), and what it is about fetched. */
async function heard(app, item) {
  if (!item || item.id == null || !(await app.store.keepNotification(item))) return; // known already
  app.say([item.title, item.body].filter(Boolean).join(' — '));
  const about = item.object || {};
  if (about.type === 'warning') {
    // The new (or reassigned, escalated) warning into the inbox, for offline use too.
    await app.store.refreshNow().catch(() => undefined);
    if (location.hash === `#/warning/${about.id}`) await app.store.markNotificationsRead(about);
    app.rerender();
  } else if (String(item.kind || '').startsWith('assignment_')) {
    app.store.refreshNow().then(() => app.rerender()).catch(() => undefined);
  }
}

/** The first time on this phone: the latest notifications, so the inbox knows what is unread. */
async function catchUp(app) {
  const answer = await app.store.api(`/me/notifications?page_size=${FIRST_LISTED}`);
  if (answer.status !== 200 || !Array.isArray(answer.body)) return null;
  for (const item of answer.body) await app.store.keepNotification(item);
  return answer.body.length ? String(Math.max(...answer.body.map((item) => item.id))) : null;
}

async function listen(app) {
  if (app.listening) return;
  app.listening = true;
  let failures = 0;
  try {
    while (app.session && !app.session.expired && navigator.onLine) {
      const controller = new AbortController();
      app.stopListening = () => controller.abort();
      try {
        let lastId = await app.store.getMeta('notification_last_id', null);
        if (!lastId) {
          lastId = await catchUp(app);
          if (lastId) await app.store.setMeta('notification_last_id', lastId);
        }
        const session = await app.store.getMeta('session', null); // the token may have been refreshed
        if (!session || session.expired) break;
        const response = await fetch('/api/v1/me/notifications/stream', {
          headers: { Authorization: 'Bearer ' + session.access_token, Accept: 'text/event-stream',
            'Accept-Language': document.documentElement.lang === 'en' ? 'en' : 'zh-CN',
            ...(lastId ? { 'Last-Event-ID': lastId } : {}) },
          cache: 'no-store', signal: controller.signal });
        if (response.status === 404 || response.status === 403) return; // a server without the stream
        if (response.status === 401) {
          await app.store.api('/me').catch(() => undefined); // refreshes the token (or finds the session over)
          throw new Error('401');
        }
        if (!response.ok || !response.body) throw new Error(String(response.status));
        live(true);
        failures = 0;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = parseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (!event.data || event.event !== 'notification') continue;
            let item = null;
            try { item = JSON.parse(event.data); } catch (error) { continue; }
            await heard(app, item);
            if (event.id) await app.store.setMeta('notification_last_id', event.id);
          }
        }
      } catch (error) {
        if (error && error.name === 'AbortError') break;
        failures += 1;
      } finally {
        live(false);
      }
      // The server ends a stream every few minutes: read on at once; after a failure, back off.
      const delay = failures ? Math.min(RETRY_MAX_MS, 2000 * 2 ** (failures - 1)) : 1000;
      await new Promise((resolve) => setTimeout(resolve, delay));
      app.session = await app.store.getMeta('session', null);
    }
  } finally {
    app.listening = false;
  }
}

// --- Web Push -----------------------------------------------------------------------------------

function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function urlBase64ToBytes(text) {
  const padded = (text + '='.repeat((4 - (text.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const kept = new Uint8Array(buffer);
  return kept.length === bytes.length && kept.every((value, index) => value === bytes[index]);
}

function withTimeout(promise, ms, message) {
  return Promise.race([promise, new Promise((resolve, reject) => setTimeout(() => reject(new Error(message)), ms))]);
}

/** 'unsupported', 'denied', 'off' or 'on' (this browser is subscribed and the server knows it). */
export async function pushStatus(app) {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const kept = await app.store.getMeta('push', null);
  if (!kept || Notification.permission !== 'granted') return 'off';
  const registration = await navigator.serviceWorker.getRegistration('/m/');
  const subscription = registration && await registration.pushManager.getSubscription();
  return subscription && subscription.endpoint === kept.endpoint ? 'on' : 'off';
}

/** Subscribe this browser with the server's VAPID key and tell the server (POST
 *  /me/push-subscriptions; it answers 201, or 200 for a browser it knows). Throws with a reason. */
async function subscribe(app) {
  const key = await app.store.api('/push/vapid-public-key');
  if (key.status !== 200 || !key.body || !key.body.public_key) throw new Error(t('notifications_no_server'));
  const applicationServerKey = urlBase64ToBytes(key.body.public_key);
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options && subscription.options.applicationServerKey, applicationServerKey)) {
    await subscription.unsubscribe(); // made for another key (the server's key changed)
    subscription = null;
  }
  subscription = subscription || await withTimeout(
    registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey }),
    SUBSCRIBE_TIMEOUT_MS, t('notifications_no_push_service'));
  const json = subscription.toJSON();
  const answer = await app.store.api('/me/push-subscriptions', { method: 'POST',
    body: { endpoint: json.endpoint, expirationTime: json.expirationTime ?? null,
      keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } } });
  if (answer.status !== 201 && answer.status !== 200) {
    throw new Error((answer.body && answer.body.message) || String(answer.status));
  }
  await app.store.setMeta('push', { id: answer.body.id, endpoint: json.endpoint });
  return answer.body;
}

/** The member tapped "turn on": ask for the permission (this must follow the tap), subscribe. */
export async function enablePush(app) {
  if (!pushSupported()) { app.say(t('notifications_unsupported')); return false; }
  if (!navigator.onLine) { app.say(t('notifications_need_network')); return false; }
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') { app.say(t('notifications_denied')); return false; }
  await app.store.setMeta('push_wanted', true);
  try {
    await subscribe(app);
  } catch (error) {
    app.say(error instanceof app.store.Offline ? t('notifications_need_network')
      : t('notifications_failed', { reason: error.message }));
    return false;
  }
  app.say(t('notifications_turned_on'));
  return true;
}

/** Stop Web Push on this phone: the server forgets the subscription, the browser drops it. */
export async function disablePush(app, { quiet = false } = {}) {
  const kept = await app.store.getMeta('push', null);
  if (kept && navigator.onLine) {
    const answer = await app.store.api(`/me/push-subscriptions/${kept.id}`, { method: 'DELETE' }).catch(() => null);
    if (!quiet && (!answer || (answer.status !== 204 && answer.status !== 404))) {
      app.say(answer ? t('notifications_failed', { reason: String(answer.status) }) : t('notifications_need_network'));
      return false;
    }
  } else if (kept && !quiet) {
    app.say(t('notifications_need_network'));
    return false;
  }
  // Signing out offline: the browser drops the subscription all the same; the push service then
  // refuses the server's next message to it, and the server forgets it (the relay does, on 404/410).
  const registration = pushSupported() ? await navigator.serviceWorker.getRegistration('/m/') : null;
  const subscription = registration && await registration.pushManager.getSubscription();
  if (subscription) await subscription.unsubscribe();
  await app.store.setMeta('push', null);
  await app.store.setMeta('push_wanted', false);
  if (!quiet) app.say(t('notifications_turned_off'));
  return true;
}

/** The inbox's panel: what this phone receives and the button to change it. */
export async function notificationPanel(app) {
  const status = await pushStatus(app);
  const redraw = () => app.rerender();
  const button = status === 'on'
    ? h('button', { type: 'button', id: 'notifications-disable',
      onclick: async () => { await disablePush(app); redraw(); } }, t('notifications_disable'))
    : status === 'off' ? h('button', { type: 'button', id: 'notifications-enable', class: 'primary',
      onclick: async (event) => { event.currentTarget.disabled = true; await enablePush(app); redraw(); } },
    t('notifications_enable')) : null;
  return h('section', { class: 'card notify', id: 'notifications-panel', dataset: { push: status } },
    h('p', { id: 'notifications-status' }, t('notifications_' + status)), button);
}

/** Once signed in (and again whenever the network comes back): the live stream, and the push
 *  subscription renewed if the member turned it on. */
export function connectNotifications(app) {
  if (!app.notificationsStarted) {
    app.notificationsStarted = true;
    window.addEventListener('online', () => connectNotifications(app));
    window.addEventListener('offline', () => app.stopListening && app.stopListening());
  }
  if (!navigator.onLine || !app.session || app.session.expired) return;
  listen(app);
  app.store.getMeta('push_wanted', false).then((wanted) => {
    if (wanted && pushSupported() && Notification.permission === 'granted') return subscribe(app);
    return null;
  }).catch(() => undefined); // the button shows it is off; nothing to tell unasked
}
