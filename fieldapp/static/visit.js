// Logging a visit (with the phone's position and its accuracy), registering a household found in
// the field, and correcting a rejected visit before sending it again (same client id).
import { h, replace, field, choices } from './dom.js';
import { t } from './i18n.js';
import { localDay } from './worklist.js';

export const OUTCOMES = ['completed', 'nobody_home', 'refused'];
export const TOPICS = ['investment', 'order_brushing', 'impersonating_police', 'impersonating_customer_service',
  'romance', 'loan', 'gaming', 'fake_refund', 'app_install', 'vulnerable_care', 'other'];
export const TAGS = ['elderly_alone', 'elderly', 'student', 'left_behind', 'disabled', 'previous_victim'];

/** Whether a lon/lat point lies in a GeoJSON Polygon or MultiPolygon (even-odd rule). */
export function contains(geometry, point) {
  if (!geometry) return false;
  const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
  const [x, y] = point;
  return polygons.some((rings) => rings.reduce((inside, ring) => {
    let crossing = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) crossing = !crossing;
    }
    return crossing ? !inside : inside;
  }, false));
}

function localInputValue(iso) {
  const date = iso ? new Date(iso) : new Date();
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

function wholeOrNull(input) {
  return input.value === '' ? null : Number(input.value);
}

export async function renderVisitForm(app, main, { household: householdKey, edit, register }) {
  const item = edit ? await app.db.queue.get(edit) : null;
  const registering = register || Boolean(item && item.body.new_household);
  let household = null;
  if (item && !registering) household = await app.db.households.get(item.household_id);
  else if (householdKey) household = await app.db.households.get(/^\d+$/.test(householdKey) ? Number(householdKey) : householdKey);
  if ((edit && !item) || (!registering && !household)) {
    replace(main, h('p', { class: 'error' }, t('not_found')), h('a', { href: '#/' }, t('back')));
    return;
  }
  const body = item ? item.body : {};
  const newHousehold = body.new_household || {};
  const cells = (await app.db.cells.toArray()).filter((c) => c.tier === 3);
  let fix = body.location ? { lon: body.location.lon, lat: body.location.lat, accuracy: body.location.accuracy_m } : null;

  const visitedAt = h('input', { id: 'visited-at', type: 'datetime-local', required: true, value: localInputValue(body.visited_at) });
  const appInstalled = h('select', { id: 'app-installed' },
    [['', t('app_unknown')], ['true', t('app_yes')], ['false', t('app_no')]].map(([value, label]) =>
      h('option', { value, selected: String(body.app_installed ?? '') === value }, label)));
  const residentsReached = h('input', { id: 'residents-reached', type: 'number', min: 0, max: 100, inputmode: 'numeric',
    value: body.residents_reached ?? '' });
  const vulnerableReached = h('input', { id: 'vulnerable-reached', type: 'number', min: 0, max: 100, inputmode: 'numeric',
    value: body.vulnerable_reached ?? '' });
  const notes = h('textarea', { id: 'notes', maxlength: 1000, rows: 2 });
  notes.value = body.notes || '';
  const positionStatus = h('p', { id: 'position-status', class: 'hint', role: 'status' });
  const errors = h('div', { id: 'form-errors', class: 'error', role: 'alert' });
  const address = h('input', { id: 'address', maxlength: 200, value: newHousehold.address || '' });
  const householdResidents = h('input', { id: 'household-residents', type: 'number', min: 0, max: 100,
    inputmode: 'numeric', value: newHousehold.residents ?? 1 });
  const gridCode = h('select', { id: 'grid-code', required: true },
    cells.map((c) => h('option', { value: c.code, selected: c.code === body.grid_code }, c.name || c.code)));
  const showFix = () => {
    positionStatus.textContent = fix ? t('located', { accuracy: fix.accuracy == null ? '?' : Math.round(fix.accuracy) }) : t('locating');
    if (fix && registering && !body.grid_code) {
      const cell = cells.find((c) => contains(c.geometry, [fix.lon, fix.lat]));
      if (cell) gridCode.value = cell.code;
    }
  };
  const locate = () => {
    positionStatus.textContent = t('locating');
    if (!navigator.geolocation) { positionStatus.textContent = t('locate_failed', { reason: '—' }); return; }
    navigator.geolocation.getCurrentPosition((position) => {
      fix = { lon: position.coords.longitude, lat: position.coords.latitude, accuracy: position.coords.accuracy };
      showFix();
    }, (problem) => { if (!fix) positionStatus.textContent = t('locate_failed', { reason: problem.message || problem.code }); },
    { enableHighAccuracy: true, timeout: 20_000, maximumAge: 30_000 });
  };

  const form = h('form', { class: 'card record', id: 'visit-form', novalidate: true },
    h('h2', {}, registering ? t('register_title') : t('visit_title')),
    household ? h('p', { class: 'subtitle', id: 'visit-household' }, household.address || t('household_no', { id: household.id })) : null,
    registering ? [
      field(t('address'), address),
      field(t('household_residents'), householdResidents),
      choices(t('tags'), 'tags', TAGS.map((tag) => [tag, t('tag_' + tag)]), { checked: newHousehold.tags || [] }),
      field(t('choose_cell'), gridCode),
    ] : null,
    h('div', { class: 'position' }, positionStatus,
      h('button', { type: 'button', id: 'locate', class: 'link', onclick: locate }, t('locate_again'))),
    field(t('visited_at'), visitedAt),
    choices(t('outcome'), 'outcome', OUTCOMES.map((o) => [o, t('outcome_' + o)]),
      { type: 'radio', checked: [body.outcome || 'completed'] }),
    choices(t('topics'), 'topics', TOPICS.map((topic) => [topic, t('topic_' + topic)]), { checked: body.topics || [] }),
    field(t('app_installed'), appInstalled),
    h('div', { class: 'pair' }, field(t('residents_reached'), residentsReached), field(t('vulnerable_reached'), vulnerableReached)),
    field(t('notes'), notes),
    item && item.errors && item.errors.length ? h('ul', { class: 'error', id: 'previous-errors' },
      item.errors.map((e) => h('li', {}, e.reason))) : null,
    errors,
    h('button', { type: 'submit', class: 'primary', id: 'save-visit' }, t('save')));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errors.textContent = '';
    if (!fix) { errors.textContent = t('need_position'); return; }
    if (registering && !gridCode.value) { errors.textContent = t('need_cell'); return; }
    const when = new Date(visitedAt.value);
    if (Number.isNaN(when.getTime())) { errors.textContent = t('field_visited_at'); return; }
    const checked = (name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
    const id = item ? item.id : crypto.randomUUID();
    const location = { lon: fix.lon, lat: fix.lat, crs: 'wgs84', accuracy_m: fix.accuracy == null ? null : Math.round(fix.accuracy * 10) / 10 };
    const visit = {
      id, grid_code: registering ? gridCode.value : household.grid_code, visited_at: when.toISOString(),
      outcome: checked('outcome')[0] || 'completed', location, topics: checked('topics'),
      app_installed: appInstalled.value === '' ? null : appInstalled.value === 'true',
      residents_reached: wholeOrNull(residentsReached), vulnerable_reached: wholeOrNull(vulnerableReached),
      notes: notes.value.trim() || null,
    };
    let ref = item ? item.household_ref : null;
    let key = household ? household.id : null;
    if (registering) {
      visit.household_id = null;
      visit.new_household = { location: { type: 'Point', coordinates: [fix.lon, fix.lat] }, address: address.value.trim() || null,
        residents: wholeOrNull(householdResidents) ?? 1, tags: checked('tags') };
      ref = ref || 'new:' + id;
      key = ref;
    } else if (household.local) {
      visit.household_id = null; // sent once the registration is accepted (shared.js resolves it)
      ref = household.id;
    } else {
      visit.household_id = household.id;
    }
    // Unset answers are left out (the server's defaults): a smaller body on a slow network.
    for (const name of ['app_installed', 'residents_reached', 'vulnerable_reached', 'notes']) {
      if (visit[name] === null) delete visit[name];
    }
    await saveVisit(app, { id, visit, ref, key, registering, createdAt: item ? item.created_at : null });
    app.say(t('saved'));
    await app.queued();
    app.navigate(registering || !household ? '#/' : '#/household/' + encodeURIComponent(key));
  });

  replace(main, h('p', {}, h('a', { href: household ? '#/household/' + encodeURIComponent(household.id) : '#/', class: 'back' }, '‹ ' + t('back'))), form);
  if (fix) showFix(); else locate();
}

async function saveVisit(app, { id, visit, ref, key, registering, createdAt }) {
  const db = app.db;
  const completedOn = visit.outcome === 'completed' ? localDay(0, new Date(visit.visited_at).getTime()) : null;
  await db.transaction('rw', db.queue, db.households, async () => {
    await db.queue.put({ id, kind: 'visit', body: visit, state: 'waiting', created_at: createdAt || new Date().toISOString(),
      household_id: key, household_ref: ref, errors: [], flags: [], tries: 0 });
    if (registering) {
      const nh = visit.new_household;
      await db.households.put({ id: key, local: true, grid_code: visit.grid_code, address: nh.address,
        location: nh.location, residents: nh.residents, tags: nh.tags, last_visit_at: visit.visited_at,
        last_completed_on: completedOn });
      return;
    }
    const household = await db.households.get(key);
    if (household) {
      const changes = {};
      if (!household.last_visit_at || household.last_visit_at < visit.visited_at) changes.last_visit_at = visit.visited_at;
      if (completedOn && (!household.last_completed_on || household.last_completed_on < completedOn)) changes.last_completed_on = completedOn;
      await db.households.update(key, changes);
    }
  });
}
