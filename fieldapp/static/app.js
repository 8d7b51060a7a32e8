// The field app's shell: sign-in, the tabs and hash routes, the service worker, the network
// indicator and when the queue is sent (on opening, on reconnecting, after each record, with
// backoff after a failure, and through Background Sync where the browser has it).
import { h, replace, field } from './dom.js';
import { t, setLanguage, currentLanguage } from './i18n.js';
import { renderWorklist, renderHousehold, startPositionWatch } from './worklist.js';
import { renderVisitForm } from './visit.js';
import { renderWarnings, renderWarning } from './warnings.js';
import { renderQueue } from './queue.js';
import { connectNotifications } from './notify.js';

performance.mark('grids-modules'); // every module of the app is loaded and evaluated
const store = self.FieldShared;
const main = document.getElementById('main');
const tabs = document.getElementById('tabs');
const network = document.getElementById('network');
const toast = document.getElementById('toast');
const RETRY_MAX_MS = 5 * 60 * 1000;

export const app = {
  store,
  db: store.open(),
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

async function registerBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.ready;
    if (registration && registration.sync) await registration.sync.register(store.SYNC_TAG);
  } catch (error) { /* no Background Sync here: the page's own retries carry on */ }
}

/** Send the queue; on failure retry with exponential backoff (2 s … 5 min, with jitter). */
async function runSync() {
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
  const pending = await store.pendingCount();
  const warnings = await app.db.warnings.filter((w) => w.status === 'open').count();
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
  connectNotifications(app);
  app.syncSoon(0);
}

async function signOut() {
  const unsent = await store.pendingCount();
  if (unsent) { app.say(t('unsent_sign_out', { n: unsent })); app.syncSoon(0); return; } // never lose a visit
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
  app.session = await store.getMeta('session', null);
  if (turn !== routes) return;
  if (!app.session || app.session.expired) { renderSignIn(); document.body.dataset.state = 'signed-out'; return; }
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, id, extra] = path.split('/');
  const params = new URLSearchParams(query || '');
  const views = {
    '': (into) => renderWorklist(app, into),
    household: (into) => renderHousehold(app, into, id),
    visit: (into) => renderVisitForm(app, into, { household: params.get('household'), edit: id === 'edit' ? extra : null }),
    register: (into) => renderVisitForm(app, into, { register: true }),
    warnings: (into) => renderWarnings(app, into),
    warning: (into) => renderWarning(app, into, Number(id)),
    queue: (into) => renderQueue(app, into),
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

async function start() {
  setLanguage(await store.getMeta('language', 'zh'));
  applyLanguage();
  document.getElementById('language').addEventListener('click', async () => {
    setLanguage(currentLanguage() === 'en' ? 'zh' : 'en');
    await store.setMeta('language', currentLanguage());
    applyLanguage();
    route();
  });
  window.addEventListener('hashchange', () => route());
  window.addEventListener('online', () => { showNetwork(); app.failures = 0; app.syncSoon(0); });
  window.addEventListener('offline', showNetwork);
  if (typeof BroadcastChannel === 'function') {
    // The service worker's Background Sync (or another tab) changed the store.
    new BroadcastChannel('grids-field').addEventListener('message', () => {
      clearTimeout(app.redrawTimer);
      app.redrawTimer = setTimeout(() => route({ keepScroll: true }), 300);
    });
  }
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/m/sw.js', { scope: '/m/' })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { document.body.dataset.offlineReady = 'true'; })
      .catch(() => { document.body.dataset.offlineReady = 'false'; });
  }
  showNetwork();
  startPositionWatch(app);
  await route();
  if (app.session && !app.session.expired) {
    connectNotifications(app);
    app.syncSoon(0); // on opening: whatever is waiting goes now
  }
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
