// Notifications (issue 17's contract in API.md): the in-app stream GET /me/notifications/stream
// (Server-Sent Events, read with fetch so the token goes in a header, never in a URL) and Web Push
// through the service worker (POST /me/push-subscriptions). A server without them answers 404 and
// the app simply does without.
import { t } from './i18n.js';

const RETRY_MAX_MS = 5 * 60 * 1000;

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

async function listen(app, failures = 0) {
  if (!app.session || app.session.expired) return;
  let lastId = await app.store.getMeta('notification_last_id', null);
  try {
    const response = await fetch('/api/v1/me/notifications/stream', {
      headers: { Authorization: 'Bearer ' + app.session.access_token, Accept: 'text/event-stream',
        ...(lastId ? { 'Last-Event-ID': lastId } : {}) }, cache: 'no-store' });
    if (response.status === 404 || response.status === 403) return; // no stream on this server
    if (response.status === 401) { await app.store.refresh().catch(() => undefined); throw new Error('401'); }
    if (!response.ok || !response.body) throw new Error(String(response.status));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    failures = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (!event.data) continue;
        if (event.id) { lastId = event.id; await app.store.setMeta('notification_last_id', lastId); }
        let item = {};
        try { item = JSON.parse(event.data); } catch (error) { item = { title: event.data }; }
        app.say(item.title || item.body || '');
        if (String(item.kind || '').startsWith('warning_') || String(item.kind || '').startsWith('assignment_')) {
          app.store.refresh().then(() => app.rerender()).catch(() => undefined);
        }
      }
    }
  } catch (error) {
    failures += 1;
  }
  const delay = Math.min(RETRY_MAX_MS, 2000 * 2 ** failures);
  setTimeout(() => listen(app, failures), delay);
}

function urlBase64ToBytes(text) {
  const padded = (text + '='.repeat((4 - (text.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** Subscribe this phone to Web Push when the member allowed notifications (never asks by itself). */
export async function subscribePush(app) {
  if (!('PushManager' in window) || !('Notification' in window) || Notification.permission !== 'granted') return false;
  const registration = await navigator.serviceWorker.ready;
  const key = await app.store.api('/push/vapid-public-key').catch(() => null);
  if (!key || key.status !== 200 || !key.body) return false;
  const publicKey = typeof key.body === 'string' ? key.body : key.body.public_key || key.body.key;
  if (!publicKey) return false;
  const subscription = (await registration.pushManager.getSubscription())
    || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(publicKey) });
  const json = subscription.toJSON();
  const answer = await app.store.api('/me/push-subscriptions', { method: 'POST',
    body: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } } });
  if (answer.status === 201 || answer.status === 200) await app.store.setMeta('push_subscription_id', answer.body && answer.body.id);
  return answer.status === 201 || answer.status === 200;
}

/** Ask for permission (from a tap) and subscribe. */
export async function enableNotifications(app) {
  if (!('Notification' in window)) return false;
  if ((await Notification.requestPermission()) !== 'granted') return false;
  const done = await subscribePush(app);
  if (done) app.say(t('notifications_on'));
  return done;
}

export function connectNotifications(app) {
  if (app.notificationsStarted || !navigator.onLine) return;
  app.notificationsStarted = true;
  listen(app);
  subscribePush(app).catch(() => undefined);
}
