// The field app's shell: sign-in, the tabs and hash routes, the service worker, the network
// indicator and when the queue is sent (on opening, on reconnecting, after each record, with
// backoff after a failure, and through Background Sync where the browser has it).
//
// A cold start draws the worklist first, from what boot.js read out of IndexedDB while these
// modules loaded; only then come the store library (Dexie and shared.js), the other views' modules,
// the service worker's registration, the position, the sync and the notifications.
import { h, replace, field } from './dom.js';
import { t, setLanguage, currentLanguage } from './i18n.js';
import { drawWorklist, renderWorklist, renderHousehold, startPositionWatch, warnedAmong } from './worklist.js';

performance.mark('grids-modules'); // the first screen's modules are loaded and evaluated
const STORE_SCRIPTS = ['/m/vendor/dexie/dexie.min.js', '/m/static/shared.js'];
// The other screens, imported when first opened (and fetched ahead once the first screen is up).
const VIEWS = {
  visit: () => import('./visit.js'),
  warnings: () => import('./warnings.js'),
  queue: () => import('./queue.js'),
  notify: () => import('./notify.js'),
};
let store = null; // self.FieldShared once loaded
let storeLoading = null;
const main = document.getElementById('main');
const tabs = document.getElementById('tabs');
const network = document.getElementById('network');
const toast = document.getElementById('toast');
const RETRY_MAX_MS = 5 * 60 * 1000;

export const app = {
  store: null, // self.FieldShared, after loadStore()
  db: null,
  session: null,
  syncing: false,
  failures: 0,
  retryTimer: null,
  lastReport: null,
  navigate(hash) {
    document.body.dataset.state = 'loading';
    if (location.hash === hash) route(); else location.hash = hash;
  },
  say(message) {
    toast.textContent = message;
    toast.classList.add('shown');
    clearTimeout(app.toastTimer);
    app.toastTimer = setTimeout(() => toast.classList.remove('shown'), 4000);
  },
  /** Something was recorded: send it now if possible, and ask Background Sync to see to it. */
  async queued() {
    await registerBackgroundSync();
    updateTabs();
    app.syncSoon(0);
  },
  syncSoon(delay) {
    clearTimeout(app.retryTimer);
    app.retryTimer = setTimeout(() => runSync(), delay);
  },
  rerender: () => route(),
};
window.fieldApp = app; // for the browser tests and the benchmark

/** Load the store (Dexie, then shared.js, in order) once; resolves to self.FieldShared. */
function loadStore() {
  if (!storeLoading) {
    storeLoading = Promise.all(STORE_SCRIPTS.map((src) => new Promise((resolve, reject) => {
      if (src.endsWith('shared.js') && self.FieldShared) { resolve(); return; }
      const script = document.createElement('script');
      script.src = src;
      script.async = false; // run in the order inserted
      script.onload = resolve;
      script.onerror = () => reject(new Error(src));
      document.head.appendChild(script);
    }))).then(() => {
      performance.mark('grids-store');
      store = self.FieldShared;
      app.store = store;
      app.db = store.open();
      return store;
    }, (error) => { storeLoading = null; throw error; });
  }
  return storeLoading;
}

async function registerBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.ready;
    if (registration && registration.sync) await registration.sync.register(store.SYNC_TAG);
  } catch (error) { /* no Background Sync here: the page's own retries carry on */ }
}

/** Send the queue; on failure retry with exponential backoff (2 s … 5 min, with jitter). */
async function runSync() {
  await loadStore();
  if (!app.session) return;
  if (app.syncing) { app.again = true; return; } // what was just queued goes right after this round
  app.syncing = true;
  showNetwork();
  try {
    app.lastReport = await store.sync();
    app.failures = 0;
    const total = app.lastReport.created + app.lastReport.duplicate + app.lastReport.conflict + app.lastReport.rejected;
    if (total) app.say(t('sent_report', app.lastReport));
  } catch (error) {
    if (error instanceof store.SignedOut) {
      app.session = await store.getMeta('session', null);
    } else {
      app.failures += 1;
      const delay = Math.min(RETRY_MAX_MS, 2000 * 2 ** (app.failures - 1)) * (0.75 + Math.random() / 2);
      clearTimeout(app.retryTimer);
      if ((await store.pendingCount()) > 0 || !(error instanceof store.Offline)) {
        app.retryTimer = setTimeout(() => runSync(), delay);
      }
      if (await store.pendingCount()) app.say(error instanceof store.Offline ? t('sync_failed_offline') : t('sync_failed'));
    }
  } finally {
    app.syncing = false;
    if (app.again) { app.again = false; app.syncSoon(0); }
    showNetwork();
    updateTabs();
    route({ keepScroll: true });
  }
}

function showNetwork() {
  const online = navigator.onLine;
  network.textContent = app.syncing ? t('syncing') : online ? t('online') : t('offline');
  network.className = 'network ' + (online ? 'online' : 'offline');
}

async function updateTabs() {
  if (!app.session || app.session.expired) { tabs.hidden = true; return; }
  drawTabs(await store.pendingCount(), await app.db.warnings.filter((w) => w.status === 'open').count());
}

function drawTabs(pending, warnings) {
  const items = [
    ['#/', t('tab_worklist'), null], ['#/map', t('tab_map'), null],
    ['#/warnings', t('tab_warnings'), warnings || null], ['#/queue', t('tab_queue'), pending || null],
  ];
  const current = '#/' + (location.hash.replace(/^#\//, '').split('/')[0] || '');
  replace(tabs, items.map(([href, label, count]) => h('a', {
    href, class: 'tab' + (current === href ? ' active' : ''), 'aria-current': current === href ? 'page' : null,
  }, label, count ? h('span', { class: 'badge', 'aria-label': `(${count})` }, String(count)) : null)));
  tabs.hidden = false;
}

function renderSignIn() {
  const expired = app.session && app.session.expired;
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true,
    maxlength: 64, value: expired ? app.session.user.username : '' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', required: true,
    autocomplete: 'current-password', maxlength: 200 });
  const error = h('p', { id: 'signin-error', class: 'error', role: 'alert' });
  const submit = h('button', { id: 'signin-submit', type: 'submit', class: 'primary' }, t('sign_in'));
  const form = h('form', { id: 'signin-form', class: 'card signin' },
    h('h2', {}, t('sign_in_title')),
    expired ? h('p', { class: 'notice' }, t('sign_in_again')) : null,
    field(t('username'), username), field(t('password'), password), submit, error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = t('signing_in');
    try {
      await signIn(username.value.trim(), password.value);
      error.textContent = '';
      app.navigate('#/');
    } catch (problem) {
      error.textContent = problem.message;
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, form);
  tabs.hidden = true;
}

async function signIn(username, password) {
  const language = currentLanguage() === 'en' ? 'en' : 'zh-CN';
  let response;
  try {
    response = await fetch('/api/v1/auth/token', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Accept-Language': language },
      body: JSON.stringify({ username, password }), cache: 'no-store',
    });
  } catch (problem) {
    throw new Error(t('offline_first_sign_in'));
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || String(response.status));
  if (body.user.role !== 'grid_worker') throw new Error(t('wrong_role'));
  const me = await fetch('/api/v1/me', { headers: { Authorization: 'Bearer ' + body.access_token }, cache: 'no-store' })
    .then((r) => r.json());
  const previous = await store.getMeta('session', null);
  if (previous && previous.user.username !== username) {
    // Another member's data on this phone: forgotten, but never while some of it is unsent.
    const unsent = await store.pendingCount();
    if (unsent) throw new Error(t('unsent_of_other', { n: unsent, username: previous.user.username }));
    await store.forgetAll();
  }
  app.session = { access_token: body.access_token, refresh_token: body.refresh_token, user: body.user,
    member_id: me.member_id, expired: false };
  await store.setMeta('session', app.session);
  await store.refresh();
  keepTilesForOffline();
  connectNotifications();
  app.syncSoon(0);
}

/** The live stream and Web Push (notify.js), once signed in. */
function connectNotifications() {
  VIEWS.notify().then((notify) => notify.connectNotifications(app)).catch(() => undefined);
}

async function signOut() {
  const unsent = await store.pendingCount();
  if (unsent) { app.say(t('unsent_sign_out', { n: unsent })); app.syncSoon(0); return; } // never lose a visit
  // This phone stops receiving the member's pushes (the next member subscribes for their own).
  await (await VIEWS.notify()).disablePush(app, { quiet: true }).catch(() => undefined);
  if (app.stopListening) app.stopListening();
  if (navigator.onLine && app.session) {
    fetch('/api/v1/auth/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + app.session.refresh_token } })
      .catch(() => undefined);
  }
  await store.forgetAll();
  app.session = null;
  app.navigate('#/');
}

/** Fetch the vector tiles over the member's cells (z12-16) once, so the service worker keeps them. */
async function keepTilesForOffline() {
  const { tilesToKeep } = await import('./map.js');
  const tiles = await tilesToKeep(app);
  const token = app.session.access_token;
  for (const url of tiles) {
    try { await fetch(url, { headers: { Authorization: 'Bearer ' + token } }); } catch (error) { return; }
  }
}

let routes = 0;

/** Draw the view the hash names. Views draw into a detached element that replaces the page's only
 *  if no later navigation overtook this one (views read IndexedDB, so they finish out of order). */
async function route({ keepScroll = false } = {}) {
  const scroll = window.scrollY;
  // A background redraw (after a sync) never overtakes a navigation under way, nor redraws a form
  // being filled in under the member's fingers.
  if (keepScroll && (document.body.dataset.state === 'loading' || main.querySelector('form.record'))) return;
  const turn = ++routes;
  if (!keepScroll) document.body.dataset.state = 'loading';
  await loadStore();
  app.session = await store.getMeta('session', null);
  if (turn !== routes) return;
  if (!app.session || app.session.expired) { renderSignIn(); document.body.dataset.state = 'signed-out'; return; }
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, id, extra] = path.split('/');
  const params = new URLSearchParams(query || '');
  const views = {
    '': (into) => renderWorklist(app, into),
    household: (into) => renderHousehold(app, into, id),
    visit: async (into) => (await VIEWS.visit()).renderVisitForm(app, into,
      { household: params.get('household'), edit: id === 'edit' ? extra : null }),
    register: async (into) => (await VIEWS.visit()).renderVisitForm(app, into, { register: true }),
    warnings: async (into) => (await VIEWS.warnings()).renderWarnings(app, into),
    warning: async (into) => (await VIEWS.warnings()).renderWarning(app, into, Number(id)),
    queue: async (into) => (await VIEWS.queue()).renderQueue(app, into),
  };
  if (name === 'map') {
    main.replaceChildren(); // MapLibre needs its container in the page
    await (await import('./map.js')).renderMap(app, main);
  } else {
    const into = document.createElement('div');
    await (views[name] || views[''])(into);
    if (turn !== routes) return;
    main.replaceChildren(...into.childNodes);
  }
  await updateTabs();
  if (turn !== routes) return;
  if (keepScroll) window.scrollTo(0, scroll);
  document.body.dataset.state = 'ready';
  // The first interactive worklist since the page opened (the benchmark's cold start).
  if (!name && !performance.getEntriesByName('grids-ready').length) performance.mark('grids-ready');
}

/** The cold start's first screen: the worklist drawn from what boot.js read, before the store library
 *  is loaded. False when there is nothing to draw it from (first start, signed out, another page
 *  asked for, or the read failed): the ordinary route then does it. */
function drawFirstScreen(boot) {
  const name = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  if (!boot || !boot.session || boot.session.expired || name || !boot.households) return false;
  app.session = boot.session;
  app.position = boot.position || null;
  const into = document.createElement('div');
  drawWorklist(app, into, { households: boot.households, cells: boot.cells || [], pending: boot.pending,
    warned: warnedAmong(boot.warnings || []) });
  main.replaceChildren(...into.childNodes);
  drawTabs(boot.pending, (boot.warnings || []).filter((w) => w.status === 'open').length);
  performance.mark('grids-ready'); // the benchmark's cold start: 500 rows in the page, tabs drawn
  return true;
}

async function start() {
  const boot = await (self.fieldBoot || Promise.resolve(null)).catch(() => null);
  setLanguage(boot && boot.language ? boot.language : 'zh');
  applyLanguage();
  const drawn = drawFirstScreen(boot);
  // A tap on the first screen may come before the store is loaded: route() waits for it.
  window.addEventListener('hashchange', () => route());
  document.getElementById('language').addEventListener('click', async () => {
    setLanguage(currentLanguage() === 'en' ? 'zh' : 'en');
    applyLanguage();
    await loadStore();
    await store.setMeta('language', currentLanguage());
    route();
  });
  window.addEventListener('online', () => { showNetwork(); app.failures = 0; app.syncSoon(0); });
  window.addEventListener('offline', showNetwork);
  await loadStore();
  if (!boot) {
    setLanguage(await store.getMeta('language', 'zh'));
    applyLanguage();
  }
  if (typeof BroadcastChannel === 'function') {
    // The service worker's Background Sync (or another tab) changed the store.
    new BroadcastChannel('grids-field').addEventListener('message', () => {
      clearTimeout(app.redrawTimer);
      app.redrawTimer = setTimeout(() => route({ keepScroll: true }), 300);
    });
  }
  if ('serviceWorker' in navigator) {
    // A tap on a notification of a warning: the service worker asks this page to open it.
    navigator.serviceWorker.addEventListener('message', (event) => {
      if (event.data && event.data.type === 'open' && /^#\/[\w/%-]*$/.test(event.data.hash || '')) {
        app.navigate(event.data.hash);
      }
    });
    navigator.serviceWorker.register('/m/sw.js', { scope: '/m/' })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { document.body.dataset.offlineReady = 'true'; })
      .catch(() => { document.body.dataset.offlineReady = 'false'; });
  }
  showNetwork();
  startPositionWatch(app, boot ? boot.position : await store.getMeta('position', null));
  if (drawn) document.body.dataset.state = 'ready';
  else await route();
  if (app.session && !app.session.expired) {
    connectNotifications();
    app.syncSoon(0); // on opening: whatever is waiting goes now
  }
  // The other screens' modules, fetched and compiled while the member looks at the worklist.
  setTimeout(() => Object.values(VIEWS).forEach((load) => load().catch(() => undefined)), 1000);
  setInterval(() => { if (app.session && !app.syncing) store.pendingCount().then((n) => n && runSync()); }, 60_000);
}

function applyLanguage() {
  document.title = t('title');
  document.getElementById('title').textContent = t('title');
  document.getElementById('language').textContent = t('switch_language');
  document.getElementById('language').lang = currentLanguage() === 'en' ? 'zh-CN' : 'en';
  tabs.setAttribute('aria-label', t('title'));
  showNetwork();
}

app.signOut = signOut;
start();
