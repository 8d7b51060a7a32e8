/* The field app's cold start: the first screen's data, read from IndexedDB the moment the page
 * starts, in one read-only transaction with the browser's own API, while the app's modules are
 * still arriving and before the store library (Dexie, ~96 KB to parse) is loaded at all.
 *
 * A classic script at the top of the page's head. It defines self.fieldBoot, a promise of
 *   {session, language, position, households, cells, warnings, pending}
 * or null when nothing is stored yet (first start: the database is not even created here, Dexie
 * does that) or the read fails (the app then reads through Dexie as usual). The stores and the
 * {key, value} rows of `meta` are those shared.js declares for Dexie.
 */
(function () {
  'use strict';
  const STORES = ['meta', 'households', 'cells', 'warnings', 'queue'];

  function read(resolve) {
    const request = indexedDB.open('grids-field'); // no version: whatever Dexie last made it
    request.onupgradeneeded = () => request.transaction.abort(); // nothing stored yet: leave it to Dexie
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => db.close(); // never hold up Dexie's upgrade of the schema
      if (!STORES.every((name) => db.objectStoreNames.contains(name))) { db.close(); resolve(null); return; }
      const out = { pending: 0 };
      const transaction = db.transaction(STORES, 'readonly');
      const take = (request, keep) => { request.onsuccess = () => keep(request.result); };
      const meta = transaction.objectStore('meta');
      for (const key of ['session', 'language', 'position']) {
        take(meta.get(key), (row) => { out[key] = row === undefined ? null : row.value; });
      }
      take(transaction.objectStore('households').getAll(), (rows) => { out.households = rows; });
      take(transaction.objectStore('cells').getAll(), (rows) => { out.cells = rows; });
      take(transaction.objectStore('warnings').getAll(), (rows) => { out.warnings = rows; });
      const states = transaction.objectStore('queue').index('state');
      for (const state of ['waiting', 'sent']) take(states.count(state), (n) => { out.pending += n; });
      transaction.oncomplete = () => { db.close(); resolve(out); };
      transaction.onerror = () => { db.close(); resolve(null); };
      transaction.onabort = transaction.onerror;
    };
  }

  self.fieldBoot = new Promise((resolve) => {
    try { read(resolve); } catch (error) { resolve(null); }
  });
})();
