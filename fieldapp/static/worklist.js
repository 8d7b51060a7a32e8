// The worklist (ordered by what matters) and a household's page with its history.
import { h, replace } from './dom.js';
import { t, number, dateTime } from './i18n.js';

export const PERIOD_DAYS = 30; // "visited in the period": a completed visit in the last 30 days, as coverage counts
const CLOSED = ['closed'];
const CHINA_OFFSET_MS = 8 * 3600 * 1000; // Asia/Shanghai: UTC+8 all year (no daylight saving since 1991)
let collator = null; // made when first needed: creating one costs a cold start tens of milliseconds

/** Today's date in Asia/Shanghai, minus `days`, as YYYY-MM-DD (how the server dates completions).
 *  Plain arithmetic: an Intl.DateTimeFormat with a time zone is slow to make on a cold start. */
export function localDay(days = 0, now = Date.now()) {
  return new Date(now + CHINA_OFFSET_MS - days * 86400000).toISOString().slice(0, 10);
}

/** Metres between two lon/lat points (haversine). */
export function distance(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b[1] - a[1]) * rad;
  const dLon = (b[0] - a[0]) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(s));
}

/** Households in the order to visit them: an open warning first, then vulnerable households not
 *  visited in the period, then the others not visited, then the visited; nearest first within
 *  each group when the position is known, else by address: by the `order` the store numbered
 *  them with at the last download (shared.js), so no Chinese text is compared here but that of
 *  households registered on the phone since (after the others of their group). */
export function orderHouseholds(households, warnedHouseholds, position, now = Date.now()) {
  const since = localDay(PERIOD_DAYS - 1, now);
  const rows = households.map((household) => {
    const visited = household.last_completed_on && household.last_completed_on >= since;
    let rank = 3;
    if (warnedHouseholds.has(household.id)) rank = 0;
    else if (!visited && household.tags && household.tags.length) rank = 1;
    else if (!visited) rank = 2;
    const point = household.location && household.location.coordinates;
    const metres = position && point ? distance(position, point) : null;
    return { household, rank, metres, visited };
  });
  rows.sort((a, b) => a.rank - b.rank
    || (a.metres !== null && b.metres !== null ? a.metres - b.metres : 0)
    || (a.household.order ?? Infinity) - (b.household.order ?? Infinity) // NaN when neither has one: next key
    || (collator ||= new Intl.Collator('zh-CN', { numeric: true }))
      .compare(String(a.household.address || ''), String(b.household.address || ''))
    || String(a.household.id).localeCompare(String(b.household.id)));
  return rows;
}

/** Ids of households with a warning not yet closed, among `warnings`. */
export function warnedAmong(warnings) {
  return new Set(warnings.filter((w) => !CLOSED.includes(w.status) && w.household_id).map((w) => w.household_id));
}

/** Ids of households with a warning not yet closed. */
export async function warnedHouseholds(app) {
  return warnedAmong(await app.db.warnings.toArray());
}

/** Watch the phone's position while the app is open (for "nearest first"), starting from the one
 *  kept in the store (`kept`, as the cold start read it); each fix is kept. */
export function startPositionWatch(app, kept) {
  if (kept && !app.position) app.position = kept;
  if (!navigator.geolocation) return;
  navigator.geolocation.watchPosition((fix) => {
    const first = !app.position;
    app.position = { lon: fix.coords.longitude, lat: fix.coords.latitude, accuracy: fix.coords.accuracy,
      at: new Date(fix.timestamp).toISOString() };
    app.store.setMeta('position', app.position);
    if (first && (location.hash === '' || location.hash === '#/')) app.rerender();
  }, () => undefined, { enableHighAccuracy: true, maximumAge: 60_000, timeout: 30_000 });
}

function lastVisitText(household, now = Date.now(), said = {}) {
  if (!household.last_visit_at) return said.never ||= t('never_visited');
  const days = Math.max(0, Math.floor((now - Date.parse(household.last_visit_at)) / 86400000));
  return said[days] ||= days === 0 ? t('visited_today') : t('visited_days_ago', { days });
}

function distanceText(metres) {
  if (metres === null) return null;
  return metres < 1000 ? t('distance_m', { n: number(Math.round(metres)) })
    : t('distance_km', { n: number(Math.round(metres / 100) / 10) });
}

function householdName(household) {
  return household.address || t('household_no', { id: household.local ? '—' : household.id });
}

/** What the worklist shows, from the store. */
export async function readWorklist(app) {
  const [households, cells, pending, warned] = await Promise.all([
    app.db.households.toArray(), app.db.cells.toArray(), app.store.pendingCount(), warnedHouseholds(app)]);
  return { households, cells, pending, warned };
}

export async function renderWorklist(app, main) {
  drawWorklist(app, main, await readWorklist(app));
}

/** Draw the worklist from {households, cells, pending, warned} (read from the store, or by boot.js
 *  at a cold start). */
export function drawWorklist(app, main, { households, cells, pending, warned }) {
  if (!performance.getEntriesByName('grids-worklist-read').length) performance.mark('grids-worklist-read');
  const position = app.position ? [app.position.lon, app.position.lat] : null;
  const rows = orderHouseholds(households, warned, position);
  if (!performance.getEntriesByName('grids-worklist-ordered').length) performance.mark('grids-worklist-ordered');
  const todo = rows.filter((r) => !r.visited).length;
  const filter = app.worklistFilter || { text: '', cell: '' };
  const search = h('input', { type: 'search', id: 'search', value: filter.text, placeholder: t('search'),
    'aria-label': t('search') });
  const cellSelect = h('select', { id: 'cell-filter', 'aria-label': t('cell') },
    h('option', { value: '' }, t('all_cells')),
    cells.filter((c) => c.tier === 3).map((c) => h('option', { value: c.code, selected: c.code === filter.cell },
      c.name || c.code)));
  const list = h('ol', { id: 'worklist', class: 'worklist', 'aria-label': t('tab_worklist') });
  // 500 rows on a slow phone: built with the plain DOM API and labels looked up once.
  const labels = { warn: t('open_warning'), local: t('not_yet_synced'), tags: {} };
  const el = (tag, className, text) => {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  };
  const draw = () => {
    const text = search.value.trim();
    const now = Date.now();
    const said = {}; // "n days ago", worded once per n
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      const household = row.household;
      if (cellSelect.value && !String(household.grid_code).startsWith(cellSelect.value)) continue;
      if (text && !String(household.address || '').includes(text)) continue;
      const item = el('li', 'rank-' + row.rank);
      item.setAttribute('data-id', household.id); // attributes, not properties: an href property resolves a URL
      const link = el('a', 'row-link');
      link.setAttribute('href', '#/household/' + household.id);
      const meta = el('span', 'row-meta');
      if (row.rank === 0) meta.appendChild(el('span', 'chip warn', labels.warn));
      for (const tag of household.tags || []) {
        meta.appendChild(el('span', 'chip', labels.tags[tag] || (labels.tags[tag] = t('tag_' + tag))));
      }
      if (household.local) meta.appendChild(el('span', 'chip', labels.local));
      meta.appendChild(el('span', 'when', lastVisitText(household, now, said)));
      if (row.metres !== null) meta.appendChild(el('span', 'far', distanceText(row.metres)));
      link.append(el('span', 'row-title', householdName(household)), meta);
      item.appendChild(link);
      fragment.appendChild(item);
    }
    list.replaceChildren(fragment);
  };
  const remember = () => { app.worklistFilter = { text: search.value, cell: cellSelect.value }; draw(); };
  search.addEventListener('input', remember);
  cellSelect.addEventListener('change', remember);
  draw();
  const positionText = app.position ? t('position', { accuracy: Math.round(app.position.accuracy) }) : t('position_unknown');
  replace(main,
    h('section', { class: 'summary' },
      h('p', { id: 'worklist-summary' }, t('worklist_summary', { households: number(households.length), todo: number(todo), pending: number(pending) })),
      h('p', { class: 'hint' }, positionText),
      h('div', { class: 'actions' },
        h('a', { href: '#/register', class: 'button', id: 'register' }, t('register_household')))),
    h('div', { class: 'filters' }, search, cellSelect),
    list,
    h('p', { class: 'footer' }, h('button', { type: 'button', class: 'link', id: 'signout', onclick: () => app.signOut() }, t('sign_out'))));
}

export async function renderHousehold(app, main, rawId) {
  const id = /^\d+$/.test(rawId) ? Number(rawId) : decodeURIComponent(rawId);
  const household = await app.db.households.get(id);
  if (!household) { replace(main, h('p', { class: 'error' }, t('not_found')), h('a', { href: '#/' }, t('back'))); return; }
  const cell = await app.db.cells.get(household.grid_code);
  const warnings = (await app.db.warnings.toArray()).filter((w) => w.household_id === household.id);
  const history = h('ul', { class: 'history', id: 'history' });
  const note = h('p', { class: 'hint' });
  const drawHistory = async () => {
    const mine = await app.db.queue.where('household_id').equals(household.id).filter((i) => i.kind === 'visit').toArray();
    const server = await app.db.history.where('household_id').equals(household.id).toArray();
    const known = new Set(mine.map((i) => i.id));
    const items = [
      ...mine.map((i) => ({ at: i.body.visited_at, outcome: i.body.outcome, state: i.state, notes: i.body.notes })),
      ...server.filter((v) => !known.has(v.id)).map((v) => ({ at: v.visited_at, outcome: v.outcome, state: null, notes: v.notes })),
    ].sort((a, b) => (a.at < b.at ? 1 : -1));
    history.replaceChildren(...(items.length ? items.map((v) => h('li', {},
      h('span', { class: 'when' }, dateTime(v.at)), ' ', t('outcome_' + v.outcome),
      v.state ? h('span', { class: 'chip state-' + v.state }, t('state_' + v.state)) : null,
      v.notes ? h('span', { class: 'hint' }, ' ' + v.notes) : null)) : [h('li', {}, t('no_history'))]));
  };
  await drawHistory();
  replace(main,
    h('p', {}, h('a', { href: '#/', class: 'back' }, '‹ ' + t('back'))),
    h('section', { class: 'card' },
      h('h2', { id: 'household-title' }, householdName(household)),
      h('dl', { class: 'facts' },
        h('dt', {}, t('cell')), h('dd', {}, cell ? cell.name || cell.code : household.grid_code),
        h('dt', {}, t('residents')), h('dd', {}, String(household.residents ?? '—')),
        h('dt', {}, t('tags')), h('dd', {}, (household.tags || []).map((tag) => t('tag_' + tag)).join('、') || '—'),
        h('dt', {}, t('last_visit')), h('dd', {}, household.last_visit_at ? dateTime(household.last_visit_at) : t('never_visited'))),
      warnings.map((w) => h('p', {}, h('a', { href: '#/warning/' + w.id, class: 'chip warn' },
        t('level_' + w.level) + ' · ' + t('status_' + w.status)))),
      h('a', { href: '#/visit?household=' + encodeURIComponent(household.id), class: 'button primary', id: 'log-visit' },
        t('log_visit'))),
    h('section', { class: 'card' }, h('h3', {}, t('history')), history, note));
  // The server's history of this household (this member's visits), kept for offline.
  if (!household.local && navigator.onLine) {
    app.store.api(`/visits?household=${household.id}&page_size=50`).then(async (answer) => {
      if (answer.status !== 200 || !Array.isArray(answer.body)) return;
      const visits = answer.body.filter((v) => v.household_id === household.id);
      await app.db.history.where('household_id').equals(household.id).delete();
      await app.db.history.bulkPut(visits.map((v) => ({ id: v.id, household_id: v.household_id,
        visited_at: v.visited_at, outcome: v.outcome, notes: v.notes })));
      if (history.isConnected) drawHistory();
    }).catch(() => { note.textContent = t('history_offline'); });
  } else if (!navigator.onLine) {
    note.textContent = t('history_offline');
  }
}
