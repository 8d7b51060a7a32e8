// The outbox: every visit and warning event made on the phone with its state (waiting, sent,
// created, duplicate, conflict, rejected with the server's reason); a rejected visit opens its
// form to be corrected and sent again under the same client id.
import { h, replace } from './dom.js';
import { t, has, dateTime, number } from './i18n.js';

const SHOWN = 300; // the newest; the counts cover everything

function fieldName(field) {
  const last = field.split('.').filter((part) => !/^\d+$/.test(part)).pop() || '';
  return last && has('field_' + last) ? t('field_' + last) : last;
}

export async function renderQueue(app, main) {
  const all = await app.db.queue.orderBy('created_at').reverse().toArray();
  const count = (states) => all.filter((i) => states.includes(i.state)).length;
  const households = new Map((await app.db.households.toArray()).map((hh) => [hh.id, hh]));
  const send = h('button', { type: 'button', class: 'primary', id: 'send-now', onclick: () => app.syncSoon(0) }, t('send_now'));
  const list = h('ol', { class: 'queue', id: 'queue' }, all.slice(0, SHOWN).map((item) => {
    const household = households.get(item.household_id);
    const what = item.kind === 'event' ? t('kind_event') + ' · ' + t('event_' + item.body.type)
      : (item.body.new_household ? t('kind_register') : t('kind_visit')) + ' · ' + t('outcome_' + item.body.outcome);
    const where = item.body.new_household ? item.body.new_household.address
      : household ? household.address || t('household_no', { id: household.id }) : '';
    const when = item.kind === 'event' ? item.body.at : item.body.visited_at;
    return h('li', { class: 'state-' + item.state, dataset: { id: item.id, state: item.state } },
      h('div', { class: 'row-title' }, what, where ? ' · ' + where : ''),
      h('div', { class: 'row-meta' },
        h('span', { class: 'chip state state-' + item.state }, t('state_' + item.state)),
        h('span', { class: 'when' }, dateTime(when)),
        item.flags && item.flags.length ? h('span', { class: 'hint' }, t('flags') + ': ' + item.flags.join(', ')) : null),
      item.errors && item.errors.length ? h('ul', { class: 'reasons' }, item.errors.map((e) => h('li', { class: 'error reason' },
        fieldName(e.field) ? h('span', { class: 'reason-field' }, fieldName(e.field) + '：') : null,
        h('span', { class: 'reason-text' }, e.reason)))) : null,
      item.state === 'rejected' && item.kind === 'visit'
        ? h('a', { class: 'button', href: '#/visit/edit/' + item.id, 'aria-label': t('correct_resend') + ' ' + what }, t('correct_resend')) : null,
      ['rejected', 'conflict'].includes(item.state) && item.kind === 'event' ? h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: async () => { await app.db.queue.update(item.id, { state: 'waiting', errors: [] }); app.queued(); app.rerender(); } }, t('resend')),
        h('button', { type: 'button', onclick: async () => { await app.db.queue.delete(item.id); app.rerender(); } }, t('discard'))) : null);
  }));
  replace(main, h('h2', {}, t('queue_title')),
    h('p', { id: 'queue-counts' }, t('queue_counts', { pending: number(count(['waiting', 'sent'])),
      done: number(count(['created', 'duplicate'])), rejected: number(count(['rejected', 'conflict'])) })),
    h('div', { class: 'actions' }, send),
    all.length ? list : h('p', {}, t('queue_empty')));
}
