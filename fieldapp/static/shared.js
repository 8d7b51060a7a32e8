/* The field app's store on the phone (IndexedDB through Dexie) and its sync with the server.
 *
 * A classic script, because the service worker loads it with importScripts (Background Sync
 * runs the same sync there) and the page with a <script> tag: it defines self.FieldShared.
 *
 * What the phone keeps (database "grids-field"):
 *   meta        the session (tokens, user, member), the worklist's `next` token, the language,
 *               the last known position
 *   cells       the member's cells (code, tier, name, role, GeoJSON boundary)
 *   households  the households of those cells (address, location, residents, tags, last visit),
 *               and those registered in the field not yet synced (id "new:<uuid>")
 *   queue       every visit and warning event made on the phone, with its own client id, its
 *               state (waiting, sent, created, duplicate, conflict, rejected) and the server's
 *               answer (flags, reasons); kept after sending as the phone's history
 *   warnings    the member's fund warnings, as last read from the server
 *   history     visits of a household read from the server (the household page's history)
 *   notifications  the member's notifications heard on the live stream or by Web Push (the
 *               newest 200), each with its read mark and whether that mark still has to be sent
 *
 * boot.js reads meta, households, cells, warnings and the queue's `state` index directly (without
 * Dexie) at a cold start: keep those names and the {key, value} rows of meta as they are.
 *
 * A visit is marked `sent` before its request leaves and only an answer moves it on: a lost
 * answer leaves it `sent`, and the retry (same client id, same content) answers `duplicate`.
 */
(function (global) {
  'use strict';

  const API = '/api/v1';
  const BATCH = 500; // the server's limit per sync request
  const GZIP_FROM = 4096; // bytes of JSON from which a request body is sent gzipped
  const SYNC_TAG = 'grids-field-sync';
  const FINAL = ['created', 'duplicate', 'conflict', 'rejected'];
  const PENDING = ['waiting', 'sent'];
  const NOTIFICATIONS_KEPT = 200;
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('grids-field') : null;
  // Addresses in the worklist's order (pinyin, numbers as numbers), compared once per download
  // and kept on each household as `order`, so a cold start sorts numbers, not Chinese text.
  let collator = null;
  let database = null;

  /** The one Dexie database of the app (opened once per page or worker). */
  function open() {
    if (database) return database;
    const db = new global.Dexie('grids-field');
    db.version(1).stores({
      meta: 'key',
      cells: 'code',
      households: 'id, grid_code',
      queue: 'id, state, kind, created_at, household_id, household_ref, warning_id',
      warnings: 'id, status',
      history: 'id, household_id',
    });
    db.version(2).stores({ notifications: 'id, read_pending' });
    database = db;
    return db;
  }

  async function getMeta(key, fallback) {
    const row = await open().meta.get(key);
    return row === undefined ? fallback : row.value;
  }

  function setMeta(key, value) {
    return open().meta.put({ key, value });
  }

  /** Tell every open page (and the worker) that the store changed. */
  function announce(what) {
    if (channel) channel.postMessage({ type: 'changed', what });
  }

  class Offline extends Error {}
  class SignedOut extends Error {}
  class Retry extends Error {}

  /** A request to the API with the session's token (refreshed once on a 401); {status, body}. */
  /** A JSON body, gzipped when it is large and the browser can (the server inflates it). */
  async function encode(body) {
    const json = JSON.stringify(body);
    if (json.length < GZIP_FROM || typeof CompressionStream !== 'function') return { data: json, headers: {} };
    const stream = new Blob([json]).stream().pipeThrough(new CompressionStream('gzip'));
    return { data: await new Response(stream).arrayBuffer(), headers: { 'Content-Encoding': 'gzip' } };
  }

  async function api(path, { method = 'GET', body, headers = {} } = {}) {
    const session = await getMeta('session', null);
    if (!session) throw new SignedOut('no session');
    const language = await getMeta('language', 'zh');
    const encoded = body !== undefined ? await encode(body) : null;
    const send = (token) => fetch(API + path, {
      method,
      headers: {
        'Accept-Language': language === 'en' ? 'en' : 'zh-CN',
        Authorization: 'Bearer ' + token,
        ...(encoded ? { 'Content-Type': 'application/json', ...encoded.headers } : {}),
        ...headers,
      },
      body: encoded ? encoded.data : undefined,
      cache: 'no-store',
    });
    let response;
    try {
      response = await send(session.access_token);
      if (response.status === 401) {
        const token = await refreshAccess(session);
        response = await send(token);
      }
    } catch (error) {
      if (error instanceof SignedOut) throw error;
      throw new Offline(String(error && error.message));
    }
    if (response.status === 401) throw new SignedOut('token refused');
    let parsed = null;
    const type = response.headers.get('Content-Type') || '';
    if (type.includes('json')) {
      try { parsed = await response.json(); } catch (error) { parsed = null; }
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  async function refreshAccess(session) {
    const response = await fetch(API + '/auth/refresh', {
      method: 'POST', headers: { Authorization: 'Bearer ' + session.refresh_token }, cache: 'no-store',
    });
    if (response.status === 401 || response.status === 422) {
      await setMeta('session', { ...session, expired: true });
      announce('session');
      throw new SignedOut('refresh refused');
    }
    if (!response.ok) throw new Offline('refresh answered ' + response.status);
    const tokens = await response.json();
    await setMeta('session', { ...session, access_token: tokens.access_token, expired: false });
    return tokens.access_token;
  }

  /** The reasons of an answer's `errors` (nested by field) as one line each. */
  function reasons(errors, message) {
    const lines = [];
    const walk = (value, path) => {
      if (Array.isArray(value)) {
        for (const item of value) {
          if (typeof item === 'string') lines.push({ field: path.join('.'), reason: item });
          else walk(item, path);
        }
      } else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) walk(inner, key === 'json' ? path : path.concat(key));
      } else if (typeof value === 'string') {
        lines.push({ field: path.join('.'), reason: value });
      }
    };
    walk(errors || {}, []);
    if (!lines.length && message) lines.push({ field: '', reason: message });
    return lines;
  }

  /** Put household ids of visits to households registered in the field once the server gave them. */
  async function resolveHouseholds(items) {
    const db = open();
    const refs = await getMeta('household_refs', {});
    const ready = [];
    for (const item of items) {
      if (item.kind === 'visit' && item.household_ref && !item.body.new_household && item.body.household_id == null) {
        const id = refs[item.household_ref];
        if (id == null) continue; // its registration has not been accepted yet
        item.body.household_id = id;
        item.household_id = id;
        await db.queue.update(item.id, { body: item.body, household_id: id });
      }
      ready.push(item);
    }
    return ready;
  }

  /** What a created registration means on the phone: the household gets its server id. */
  async function householdCreated(db, item, householdId) {
    const refs = await getMeta('household_refs', {});
    refs[item.household_ref] = householdId;
    await setMeta('household_refs', refs);
    const local = await db.households.get(item.household_ref);
    if (local) {
      await db.households.delete(item.household_ref);
      await db.households.put({ ...local, id: householdId, local: false });
    }
    const dependants = await db.queue.where('household_ref').equals(item.household_ref).toArray();
    for (const other of dependants) {
      if (other.id === item.id) continue;
      if (!other.body.new_household) {
        other.body.household_id = householdId;
        await db.queue.update(other.id, { body: other.body, household_id: householdId });
      }
    }
  }

  async function sendVisits(db, report) {
    for (let round = 0; round < 1000; round += 1) {
      const pending = await db.queue.where('state').anyOf(PENDING).filter((i) => i.kind === 'visit').sortBy('created_at');
      const ready = (await resolveHouseholds(pending)).slice(0, BATCH);
      if (!ready.length) return;
      const now = new Date().toISOString();
      for (const item of ready) Object.assign(item, { state: 'sent', sent_at: now, tries: (item.tries || 0) + 1 });
      // Inside the lock nothing else writes these items: one bulk write instead of 500.
      await db.queue.bulkPut(ready);
      announce('queue');
      const answer = await api('/visits/sync', { method: 'POST', body: { visits: ready.map((i) => i.body), sent_at: now } });
      if (answer.status === 429 || answer.status >= 500) throw new Retry('sync answered ' + answer.status);
      if (answer.status !== 200) {
        // The whole batch was refused (never expected from this app): show why on each visit.
        const why = reasons(answer.body && answer.body.errors, answer.body && answer.body.message);
        await db.queue.bulkPut(ready.map((i) => ({ ...i, state: 'rejected', errors: why, answered_at: now })));
        report.rejected += ready.length;
        continue;
      }
      const results = answer.body.results;
      const answeredAt = new Date().toISOString();
      await db.transaction('rw', db.queue, db.households, db.meta, async () => {
        for (let index = 0; index < ready.length; index += 1) {
          const item = ready[index];
          const result = results[index] || {};
          const state = FINAL.includes(result.status) ? result.status : 'rejected';
          Object.assign(item, { state, flags: result.flags || [], errors: reasons(result.errors), answered_at: answeredAt });
          if (result.household_id != null && item.household_ref && item.body.new_household) {
            item.household_id = result.household_id;
            if (state === 'created' || state === 'duplicate') await householdCreated(db, item, result.household_id);
          }
          report[state] = (report[state] || 0) + 1;
        }
        await db.queue.bulkPut(ready);
      });
      announce('queue');
    }
  }

  async function sendEvents(db, report) {
    const pending = await db.queue.where('state').anyOf(PENDING).filter((i) => i.kind === 'event').sortBy('created_at');
    for (const item of pending) {
      const now = new Date().toISOString();
      await db.queue.update(item.id, { state: 'sent', sent_at: now, tries: (item.tries || 0) + 1 });
      announce('queue');
      const answer = await api(`/warnings/${item.warning_id}/events`, { method: 'POST', body: item.body });
      if (answer.status === 429 || answer.status >= 500) throw new Retry('event answered ' + answer.status);
      let state = 'rejected';
      if (answer.status === 201) state = 'created';
      else if (answer.status === 200) state = 'duplicate';
      else if (answer.status === 409 && answer.body && answer.body.rule === 'event_conflict') state = 'conflict';
      const errors = state === 'created' || state === 'duplicate' ? []
        : reasons(answer.body && answer.body.errors, answer.body && answer.body.message);
      await db.queue.update(item.id, { state, errors, answered_at: now });
      report[state] = (report[state] || 0) + 1;
      announce('queue');
    }
  }

  /** Apply a worklist download (everything, or the changes since the last token). */
  async function storeWorklist(db, worklist) {
    await db.transaction('rw', db.cells, db.households, db.meta, async () => {
      if (worklist.full) {
        await db.cells.clear();
        // Households registered here and not yet accepted stay.
        await db.households.filter((h) => !h.local).delete();
      }
      if (worklist.removed_cells && worklist.removed_cells.length) await db.cells.bulkDelete(worklist.removed_cells);
      if (worklist.removed_households && worklist.removed_households.length) {
        await db.households.bulkDelete(worklist.removed_households);
      }
      await db.cells.bulkPut(worklist.cells || []);
      const fresh = worklist.households || [];
      const known = await db.households.bulkGet(fresh.map((h) => h.id));
      // A visit the phone made after the server's figure keeps the newer "last visit".
      await db.households.bulkPut(fresh.map((h, i) => {
        const mine = known[i];
        if (mine && mine.last_visit_at && (!h.last_visit_at || mine.last_visit_at > h.last_visit_at)) {
          return { ...h, last_visit_at: mine.last_visit_at,
            last_completed_on: [mine.last_completed_on, h.last_completed_on].filter(Boolean).sort().pop() || null };
        }
        return h;
      }));
      await setMeta('worklist_next', worklist.next);
      await setMeta('worklist_at', new Date().toISOString());
      await keepAddressOrder(db);
    });
  }

  /** Number every household by address (`order`), writing back only those whose number moved. */
  async function keepAddressOrder(db) {
    collator = collator || new Intl.Collator('zh-CN', { numeric: true });
    const all = await db.households.toArray();
    all.sort((a, b) => collator.compare(String(a.address || ''), String(b.address || ''))
      || String(a.id).localeCompare(String(b.id)));
    const moved = [];
    all.forEach((household, index) => {
      if (household.order !== index) moved.push({ ...household, order: index });
    });
    if (moved.length) await db.households.bulkPut(moved);
  }

  /** Download the worklist (changes only when a token is kept) and the member's warnings. */
  async function refresh() {
    const db = open();
    const since = await getMeta('worklist_next', null);
    const query = new URLSearchParams({ crs: 'wgs84' });
    if (since) query.set('since', since);
    let answer = await api('/me/worklist?' + query);
    if (answer.status === 422 && since) { // an old token: start again from everything
      await setMeta('worklist_next', null);
      answer = await api('/me/worklist?crs=wgs84');
    }
    if (answer.status !== 200) throw new Retry('worklist answered ' + answer.status);
    await storeWorklist(db, answer.body);
    const fetchedAt = new Date().toISOString(); // events recorded after this are not in the answer
    const warnings = await api('/me/warnings?page_size=1000');
    if (warnings.status === 200) {
      await db.transaction('rw', db.warnings, async () => {
        const phones = new Map((await db.warnings.toArray()).map((w) => [w.id, w.full_phone]));
        await db.warnings.clear();
        await db.warnings.bulkPut(warnings.body.map((w) => ({ ...w, fetched_at: fetchedAt, full_phone: phones.get(w.id) || null })));
      });
      // The resident's full number, for calling from the field with no signal: read once per open
      // warning of this member (the server audits each reading).
      for (const warning of warnings.body) {
        if (warning.status === 'closed' || !warning.phone) continue;
        if ((await db.warnings.get(warning.id)).full_phone) continue;
        const answer = await api(`/warnings/${warning.id}/phone`);
        if (answer.status === 404 || answer.status === 405) break; // a server without it: the masked number stays
        if (answer.status === 200 && answer.body && answer.body.phone) {
          await db.warnings.update(warning.id, { full_phone: answer.body.phone });
        }
      }
    }
    announce('worklist');
  }

  /** Fetch the worklist and warnings again under the sync's lock (a notification says something
   *  changed): never at the same time as a sync, whose own refresh may come before the change. */
  function refreshNow() {
    return withLock(() => refresh());
  }

  function withLock(work) {
    const locks = global.navigator && global.navigator.locks;
    return locks ? locks.request(SYNC_TAG, work) : work();
  }

  /** Send everything waiting (and what was sent but never answered), then refresh the worklist.
   *  Resolves to a report {created, duplicate, conflict, rejected}; rejects with Offline,
   *  SignedOut or Retry when it has to stop (what is queued stays queued). */
  function sync({ refreshAfter = true } = {}) {
    return withLock(async () => {
      // Known to be offline: nothing is marked sent (a request that cannot leave is no attempt).
      if (global.navigator && global.navigator.onLine === false) throw new Offline('offline');
      const db = open();
      const report = { created: 0, duplicate: 0, conflict: 0, rejected: 0 };
      await setMeta('sync_started_at', new Date().toISOString());
      await sendVisits(db, report);
      await sendEvents(db, report);
      await sendReadMarks();
      await setMeta('synced_at', new Date().toISOString());
      if (refreshAfter) await refresh();
      announce('synced');
      return report;
    });
  }

  /** Keep a notification heard on the stream or by push; false when it was known already (the
   *  same notification arrives by both, and again after a reconnection: its id tells). */
  async function keepNotification(item) {
    const db = open();
    const known = await db.notifications.get(item.id);
    if (known) return false;
    await db.notifications.put({ id: item.id, kind: item.kind, title: item.title || '', body: item.body || '',
      object: item.object || null, urgent: Boolean(item.urgent), created_at: item.created_at || new Date().toISOString(),
      read_at: item.read_at || null, read_pending: 0 });
    const count = await db.notifications.count();
    if (count > NOTIFICATIONS_KEPT) {
      const oldest = await db.notifications.orderBy('id').limit(count - NOTIFICATIONS_KEPT).primaryKeys();
      await db.notifications.bulkDelete(oldest);
    }
    announce('notifications');
    return true;
  }

  /** Mark read every unread notification about an object (a warning opened on the phone or from
   *  its notification), or the given ids; the marks are sent now or with the next sync. */
  async function markNotificationsRead({ type, id, ids } = {}) {
    const db = open();
    const now = new Date().toISOString();
    const unread = await db.notifications.filter((n) => !n.read_at && (ids ? ids.includes(n.id)
      : Boolean(n.object) && n.object.type === type && String(n.object.id) === String(id))).toArray();
    if (!unread.length) return 0;
    await db.notifications.bulkPut(unread.map((n) => ({ ...n, read_at: now, read_pending: 1 })));
    announce('notifications');
    await sendReadMarks().catch(() => undefined); // offline: they go with the next sync
    return unread.length;
  }

  /** Send the read marks made on the phone (POST /me/notifications/{id}/read). */
  async function sendReadMarks() {
    const db = open();
    const pending = await db.notifications.where('read_pending').equals(1).toArray();
    for (const notification of pending) {
      if (global.navigator && global.navigator.onLine === false) throw new Offline('offline');
      const answer = await api(`/me/notifications/${notification.id}/read`, { method: 'POST' });
      if (answer.status === 429 || answer.status >= 500) throw new Retry('read mark answered ' + answer.status);
      // 204, or 404 (gone, or another member's on this phone): nothing more to send either way
      await db.notifications.update(notification.id, { read_pending: 0 });
    }
    return pending.length;
  }

  async function pendingCount() {
    return open().queue.where('state').anyOf(PENDING).count();
  }

  /** Forget everything of the signed-in member (sign-out, or another member signs in). */
  async function forgetAll() {
    const db = open();
    const tables = [db.meta, db.cells, db.households, db.queue, db.warnings, db.history, db.notifications];
    await db.transaction('rw', tables, async () => {
      const language = await getMeta('language', 'zh');
      await Promise.all(tables.map((table) => table.clear()));
      await setMeta('language', language);
    });
    if (global.caches) await global.caches.delete('grids-field-tiles');
    announce('session');
  }

  global.FieldShared = {
    open, getMeta, setMeta, api, sync, refresh, refreshNow, reasons, pendingCount, forgetAll, announce,
    keepNotification, markNotificationsRead, sendReadMarks,
    Offline, SignedOut, Retry, SYNC_TAG, FINAL, PENDING, BATCH,
  };
})(self);
