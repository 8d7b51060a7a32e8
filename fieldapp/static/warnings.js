// The fund-warning inbox: urgent first with a countdown to the deadline; acknowledge, call
// (a tel: link), met and the outcome, recorded on the phone with their own client ids and sent
// in order when there is a network.
import { h, replace, field, choices } from './dom.js';
import { t, dateTime } from './i18n.js';
import { notificationPanel } from './notify.js';

const LEVELS = ['urgent', 'high', 'medium', 'low'];
const OUTCOMES = ['dissuaded', 'transferred', 'refused', 'not_found', 'false_alarm'];
const WITHOUT_MEETING = ['refused', 'not_found', 'false_alarm']; // may follow acknowledged or called
const CHECKLIST = ['screen_sharing', 'verification_codes_given', 'transfers_made', 'unknown_apps_installed', 'links_clicked'];
let ticker = null;

/** A warning as the phone sees it: the server's state with the events recorded here since. */
export function withLocalEvents(warning, events) {
  const seen = { ...warning };
  for (const event of events) {
    if (['rejected', 'conflict'].includes(event.state)) continue;
    if (warning.fetched_at && event.created_at <= warning.fetched_at && !['waiting', 'sent'].includes(event.state)) continue;
    const type = event.body.type;
    if ((type === 'acknowledged' || type === 'called') && seen.status === 'open') {
      seen.status = 'acknowledged';
      seen.acknowledged_at = event.body.at;
    } else if (type === 'met') {
      seen.status = 'met';
      seen.met_at = event.body.at;
    } else if (type === 'outcome') {
      seen.outcome = event.body.outcome;
      seen.status = event.body.outcome === 'refused' ? 'revisit' : 'closed';
    }
  }
  return seen;
}

function deadlineOf(warning) {
  if (warning.status === 'open') return warning.ack_deadline || warning.deadline;
  if (['acknowledged', 'revisit'].includes(warning.status)) return warning.meet_deadline || warning.deadline;
  return null;
}

function countdown(deadline, now = Date.now()) {
  const left = new Date(deadline).getTime() - now;
  const seconds = Math.floor(Math.abs(left) / 1000);
  const text = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60]
    .map((n, i) => (i === 0 ? String(n) : String(n).padStart(2, '0'))).join(':');
  return left >= 0 ? t('deadline_in', { time: text }) : t('overdue_by', { time: text });
}

function startTicker() {
  clearInterval(ticker);
  const tick = () => {
    for (const element of document.querySelectorAll('[data-deadline]')) {
      element.textContent = countdown(element.dataset.deadline);
      element.classList.toggle('overdue', new Date(element.dataset.deadline).getTime() < Date.now());
    }
  };
  tick();
  ticker = setInterval(tick, 1000);
}

async function localWarnings(app) {
  const [warnings, events] = await Promise.all([app.db.warnings.toArray(),
    app.db.queue.where('kind').equals('event').sortBy('created_at')]);
  return warnings.map((w) => withLocalEvents(w, events.filter((e) => e.warning_id === w.id)));
}

/** Open ones first, urgent first, then the nearest deadline. */
export function orderWarnings(warnings) {
  const closed = (w) => (w.status === 'closed' ? 1 : 0);
  return warnings.slice().sort((a, b) => closed(a) - closed(b) || LEVELS.indexOf(a.level) - LEVELS.indexOf(b.level)
    || String(deadlineOf(a) || '9').localeCompare(String(deadlineOf(b) || '9')));
}

/** Ids of the warnings an unread notification is about. */
async function unreadWarnings(app) {
  const unread = await app.db.notifications.filter((n) => !n.read_at && n.object && n.object.type === 'warning').toArray();
  return new Set(unread.map((n) => String(n.object.id)));
}

export async function renderWarnings(app, main) {
  const warnings = orderWarnings(await localWarnings(app));
  const households = new Map((await app.db.households.bulkGet(warnings.map((w) => w.household_id).filter(Boolean)))
    .filter(Boolean).map((hh) => [hh.id, hh]));
  const [unread, panel] = await Promise.all([unreadWarnings(app), notificationPanel(app)]);
  replace(main, h('h2', {}, t('warnings_title')), panel,
    warnings.length ? h('ol', { class: 'warnings', id: 'warnings' }, warnings.map((w) => {
      const deadline = deadlineOf(w);
      const household = households.get(w.household_id);
      const isNew = unread.has(String(w.id));
      return h('li', { class: 'level-' + w.level + ' status-' + w.status + (isNew ? ' unread' : ''), dataset: { id: String(w.id) } },
        h('a', { href: '#/warning/' + w.id, class: 'row-link' },
          h('span', { class: 'row-title' }, h('span', { class: 'chip level level-' + w.level }, t('level_' + w.level)), ' ',
            household ? household.address || t('household_no', { id: household.id }) : w.reason),
          h('span', { class: 'row-meta' }, isNew ? h('span', { class: 'chip new' }, t('unread')) : null,
            h('span', { class: 'chip' }, t('status_' + w.status)),
            deadline ? h('span', { class: 'countdown', dataset: { deadline } }, countdown(deadline)) : null)));
    })) : h('p', {}, t('no_warnings')));
  startTicker();
}

async function recordEvent(app, warning, body) {
  await app.db.queue.put({ id: body.id, kind: 'event', body, warning_id: warning.id, state: 'waiting',
    created_at: new Date().toISOString(), household_id: warning.household_id || null, errors: [], tries: 0 });
  app.say(t('warning_saved'));
  await app.queued();
  app.rerender();
}

function event(type, extra = {}) {
  return { id: crypto.randomUUID(), type, at: new Date().toISOString(), ...extra };
}

export async function renderWarning(app, main, id) {
  let stored = await app.db.warnings.get(id);
  if (!stored && navigator.onLine) { // opened from a notification before the inbox was fetched
    await app.store.refreshNow().catch(() => undefined);
    stored = await app.db.warnings.get(id);
  }
  if (!stored) { replace(main, h('p', { class: 'error' }, t('not_found')), h('a', { href: '#/warnings' }, t('back'))); return; }
  // Opened: whatever notified the member of this warning is read (sent now, or with the next sync).
  app.store.markNotificationsRead({ type: 'warning', id }).catch(() => undefined);
  const events = (await app.db.queue.where('kind').equals('event').sortBy('created_at')).filter((e) => e.warning_id === id);
  const warning = withLocalEvents(stored, events);
  const household = warning.household_id ? await app.db.households.get(warning.household_id) : null;
  const deadline = deadlineOf(warning);
  const phone = warning.full_phone || warning.phone || '';
  const dialable = /^\+?[\d\s-]{6,}$/.test(phone);
  const status = warning.status;
  const actions = h('div', { class: 'actions' },
    status === 'open' ? h('button', { type: 'button', id: 'acknowledge', class: 'primary',
      onclick: () => recordEvent(app, warning, event('acknowledged')) }, t('acknowledge')) : null,
    ['open', 'acknowledged', 'revisit'].includes(status) && dialable ? h('a', { id: 'call', class: 'button',
      href: 'tel:' + phone.replace(/[\s-]/g, ''), onclick: () => recordEvent(app, warning, event('called')) }, t('call')) : null,
    ['open', 'acknowledged', 'revisit'].includes(status) ? h('button', { type: 'button', id: 'met',
      onclick: () => recordEvent(app, warning, event('met')) }, t('met')) : null);
  const outcomes = status === 'met' ? OUTCOMES : ['acknowledged', 'revisit'].includes(status) ? WITHOUT_MEETING : [];
  let outcomeForm = null;
  if (outcomes.length) {
    const outcome = h('select', { id: 'outcome', required: true }, outcomes.map((o) => h('option', { value: o }, t('outcome_' + o))));
    const amount = h('input', { id: 'amount', type: 'number', min: 0, step: '0.01', inputmode: 'decimal' });
    const stop = h('input', { id: 'stop-payment', type: 'checkbox' });
    const problem = h('p', { class: 'error', role: 'alert' });
    outcomeForm = h('form', { class: 'card record', id: 'outcome-form' }, h('h3', {}, t('record_outcome')),
      field(t('outcome'), outcome), field(t('amount_yuan'), amount),
      h('label', { class: 'choice' }, stop, h('span', {}, t('stop_payment_requested'))),
      choices(t('checklist'), 'checklist', CHECKLIST.map((c) => [c, t('check_' + c)])),
      problem, h('button', { type: 'submit', class: 'primary', id: 'save-outcome' }, t('save')));
    outcomeForm.addEventListener('submit', (submitted) => {
      submitted.preventDefault();
      if (outcome.value === 'transferred' && amount.value === '') { problem.textContent = t('amount_yuan'); return; }
      const checklist = Object.fromEntries(CHECKLIST.map((c) => [c, outcomeForm.querySelector(`input[value="${c}"]`).checked]));
      recordEvent(app, warning, event('outcome', { outcome: outcome.value,
        amount_yuan: amount.value === '' ? null : Number(amount.value), stop_payment_requested: stop.checked,
        checklist: status === 'met' ? checklist : null }));
    });
  }
  replace(main,
    h('p', {}, h('a', { href: '#/warnings', class: 'back' }, '‹ ' + t('back'))),
    h('section', { class: 'card level-' + warning.level },
      h('h2', { id: 'warning-title' }, h('span', { class: 'chip level level-' + warning.level }, t('level_' + warning.level)), ' ',
        household ? household.address || t('household_no', { id: household.id }) : t('warnings_title')),
      h('dl', { class: 'facts' },
        h('dt', {}, t('reason')), h('dd', {}, warning.reason),
        h('dt', {}, t('cell')), h('dd', {}, warning.grid_code),
        h('dt', {}, t('phone')), h('dd', { id: 'warning-phone' }, phone || t('phone_masked')),
        h('dt', {}, t('deadline')), h('dd', {}, deadline ? h('span', { class: 'countdown', dataset: { deadline } }, countdown(deadline)) : '—'),
        h('dt', {}, t('tab_warnings')), h('dd', { id: 'warning-status' }, t('status_' + status))),
      household ? h('a', { href: '#/household/' + household.id }, t('history')) : null,
      actions),
    outcomeForm,
    h('section', { class: 'card' }, h('h3', {}, t('events')), h('ul', { class: 'history', id: 'warning-events' },
      events.length ? events.map((e) => h('li', {}, h('span', { class: 'when' }, dateTime(e.body.at)), ' ',
        t('event_' + e.body.type), e.body.outcome ? ' · ' + t('outcome_' + e.body.outcome) : '',
        h('span', { class: 'chip state-' + e.state }, t('state_' + e.state)),
        e.errors && e.errors.length ? h('span', { class: 'error' }, ' ' + e.errors.map((x) => x.reason).join('；')) : null))
        : h('li', {}, '—'))));
  startTicker();
}
