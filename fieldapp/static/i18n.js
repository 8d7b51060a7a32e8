// The field app's words: Chinese first, English from the switch in the top bar.
const WORDS = {
  zh: {
    title: '反诈网格员', switch_language: 'English', sign_in_title: '网格员登录', username: '用户名', password: '密码',
    sign_in: '登录', sign_out: '退出登录', signing_in: '正在登录…', sign_in_again: '登录已过期，请重新登录（未发送的记录会保留）',
    wrong_role: '此应用仅供网格员账号使用。', offline_first_sign_in: '首次登录需要网络。',
    online: '在线', offline: '离线', syncing: '同步中…',
    tab_worklist: '走访清单', tab_map: '地图', tab_warnings: '预警', tab_queue: '待发送',
    worklist_summary: '{households} 户 · 待走访 {todo} 户 · 待发送 {pending} 条',
    position_unknown: '位置未知', position: '当前位置 ±{accuracy} 米',
    register_household: '登记新住户', search: '搜索地址', all_cells: '全部网格',
    never_visited: '从未走访', visited_days_ago: '{days} 天前走访', visited_today: '今天已走访',
    open_warning: '有预警', distance_m: '{n} 米', distance_km: '{n} 公里', household_no: '住户 #{id}', not_yet_synced: '未同步',
    residents: '人口', tags: '标签', cell: '网格', address: '地址', last_visit: '最近走访', history: '走访记录',
    no_history: '暂无走访记录', log_visit: '记录走访', back: '返回', history_offline: '离线时只显示本机记录',
    visit_title: '走访记录', register_title: '登记新住户并走访', visited_at: '走访时间', outcome: '走访结果',
    topics: '宣传内容', app_installed: '国家反诈中心App', app_unknown: '未询问', app_yes: '已安装', app_no: '未安装',
    residents_reached: '见到人数', vulnerable_reached: '其中重点人群', notes: '备注', save: '保存',
    locating: '正在定位…', located: '已定位 ±{accuracy} 米', locate_failed: '无法定位：{reason}', locate_again: '重新定位',
    need_position: '需要定位后才能保存。', need_cell: '请选择网格。', saved: '已保存，联网后自动发送。',
    choose_cell: '所在网格', household_residents: '住户人口',
    outcome_completed: '已宣传', outcome_nobody_home: '无人在家', outcome_refused: '拒绝',
    topic_investment: '投资理财', topic_order_brushing: '刷单返利', topic_impersonating_police: '冒充公检法',
    topic_impersonating_customer_service: '冒充客服', topic_romance: '网络交友', topic_loan: '网络贷款',
    topic_gaming: '游戏交易', topic_fake_refund: '虚假退款', topic_app_install: '安装反诈App',
    topic_vulnerable_care: '重点人群关爱', topic_other: '其他',
    tag_elderly_alone: '独居老人', tag_elderly: '老人', tag_student: '学生', tag_left_behind: '留守人员',
    tag_disabled: '残障人士', tag_previous_victim: '曾受骗',
    queue_title: '发送队列', send_now: '立即发送', queue_empty: '没有记录。', queue_counts: '待发送 {pending} · 已接收 {done} · 被拒 {rejected}',
    state_waiting: '等待发送', state_sent: '已发出', state_created: '已接收', state_duplicate: '重复（已接收）',
    state_conflict: '冲突', state_rejected: '被拒绝', correct_resend: '修改后重发', resend: '重新发送', discard: '放弃',
    kind_visit: '走访', kind_event: '预警处置', kind_register: '新住户', flags: '提示',
    warnings_title: '资金预警', no_warnings: '没有预警。', deadline_in: '剩余 {time}', overdue_by: '已超时 {time}',
    level_urgent: '紧急', level_high: '高', level_medium: '中', level_low: '低',
    status_open: '待签收', status_acknowledged: '已签收', status_met: '已见面', status_revisit: '需再访', status_closed: '已办结',
    acknowledge: '签收', call: '拨打电话', met: '已见面劝阻', record_outcome: '登记处置结果', reason: '预警原因',
    phone: '电话', phone_masked: '号码已隐藏', deadline: '期限',
    outcome_dissuaded: '成功劝阻', outcome_transferred: '已转账', outcome_not_found: '未找到', outcome_false_alarm: '误报',
    amount_yuan: '转账金额（元）', stop_payment_requested: '已申请止付', checklist: '核查项',
    check_screen_sharing: '共享屏幕', check_verification_codes_given: '提供过验证码', check_transfers_made: '已转账',
    check_unknown_apps_installed: '安装了陌生App', check_links_clicked: '点过陌生链接',
    event_acknowledged: '签收', event_called: '已致电', event_met: '已见面', event_outcome: '处置结果',
    events: '处置记录', warning_saved: '已记录，联网后自动发送。', map_title: '我的网格', map_loading: '地图加载中…',
    map_offline: '离线：显示已缓存的地图', sent_report: '已发送：新建 {created}，重复 {duplicate}，冲突 {conflict}，被拒 {rejected}',
    sync_failed_offline: '离线，稍后自动重试', sync_failed: '发送失败，稍后自动重试', not_found: '找不到该记录。',
    install_app: '添加到主屏幕', notifications_on: '预警通知已开启：应用关闭时也会提醒您。',
    notifications_off: '开启预警通知后，应用关闭时也会收到紧急预警。', notifications_denied: '浏览器已禁止本应用发送通知，请在浏览器设置中允许。',
    notifications_unsupported: '此浏览器不支持推送通知；打开应用时仍会实时收到预警。', notifications_enable: '开启预警通知',
    notifications_disable: '关闭预警通知', notifications_turned_on: '预警通知已开启。', notifications_turned_off: '预警通知已关闭。',
    notifications_need_network: '需要联网才能更改通知设置。', notifications_failed: '无法更改通知设置：{reason}',
    notifications_no_server: '服务器未提供推送', notifications_no_push_service: '浏览器的推送服务没有响应', unread: '新',
    household_location: '住户位置',
    field_visited_at: '走访时间', field_household_id: '住户', field_location: '位置', field_grid_code: '网格',
    field_residents_reached: '见到人数', field_vulnerable_reached: '重点人群', field_notes: '备注',
    field_new_household: '新住户', field_outcome: '结果', field_topics: '宣传内容',
    unsent_sign_out: '还有 {n} 条记录未发送，联网发送后才能退出。', unsent_of_other: '本机还有 {username} 的 {n} 条未发送记录，请先由其登录发送。',
  },
  en: {
    title: 'Grid worker', switch_language: '中文', sign_in_title: 'Grid worker sign-in', username: 'Username',
    password: 'Password', sign_in: 'Sign in', sign_out: 'Sign out', signing_in: 'Signing in…',
    sign_in_again: 'Your session expired: sign in again (unsent records are kept)',
    wrong_role: 'This app is for grid worker accounts.', offline_first_sign_in: 'The first sign-in needs a network.',
    online: 'Online', offline: 'Offline', syncing: 'Syncing…',
    tab_worklist: 'Worklist', tab_map: 'Map', tab_warnings: 'Warnings', tab_queue: 'Outbox',
    worklist_summary: '{households} households · {todo} to visit · {pending} unsent',
    position_unknown: 'Position unknown', position: 'Position ±{accuracy} m',
    register_household: 'Register a household', search: 'Search addresses', all_cells: 'All cells',
    never_visited: 'Never visited', visited_days_ago: 'Visited {days} days ago', visited_today: 'Visited today',
    open_warning: 'Warning', distance_m: '{n} m', distance_km: '{n} km', household_no: 'Household #{id}', not_yet_synced: 'not synced',
    residents: 'Residents', tags: 'Tags', cell: 'Cell', address: 'Address', last_visit: 'Last visit', history: 'Visits',
    no_history: 'No visits yet', log_visit: 'Log a visit', back: 'Back', history_offline: 'Offline: visits from this phone only',
    visit_title: 'Visit', register_title: 'Register a household and visit it', visited_at: 'Visited at', outcome: 'Outcome',
    topics: 'Topics', app_installed: 'Anti-fraud app', app_unknown: 'Not asked', app_yes: 'Installed', app_no: 'Not installed',
    residents_reached: 'Residents reached', vulnerable_reached: 'Vulnerable reached', notes: 'Notes', save: 'Save',
    locating: 'Locating…', located: 'Located ±{accuracy} m', locate_failed: 'No position: {reason}', locate_again: 'Locate again',
    need_position: 'A position is needed to save.', need_cell: 'Choose a cell.', saved: 'Saved; it is sent when online.',
    choose_cell: 'Cell', household_residents: 'Residents',
    outcome_completed: 'Completed', outcome_nobody_home: 'Nobody home', outcome_refused: 'Refused',
    topic_investment: 'Investment', topic_order_brushing: 'Order brushing', topic_impersonating_police: 'Fake police',
    topic_impersonating_customer_service: 'Fake customer service', topic_romance: 'Romance', topic_loan: 'Loans',
    topic_gaming: 'Gaming', topic_fake_refund: 'Fake refunds', topic_app_install: 'App install',
    topic_vulnerable_care: 'Vulnerable care', topic_other: 'Other',
    tag_elderly_alone: 'Elderly alone', tag_elderly: 'Elderly', tag_student: 'Student', tag_left_behind: 'Left behind',
    tag_disabled: 'Disabled', tag_previous_victim: 'Previous victim',
    queue_title: 'Outbox', send_now: 'Send now', queue_empty: 'Nothing here.', queue_counts: '{pending} unsent · {done} accepted · {rejected} rejected',
    state_waiting: 'Waiting', state_sent: 'Sent', state_created: 'Created', state_duplicate: 'Duplicate (stored)',
    state_conflict: 'Conflict', state_rejected: 'Rejected', correct_resend: 'Correct and re-send', resend: 'Re-send', discard: 'Discard',
    kind_visit: 'Visit', kind_event: 'Warning event', kind_register: 'New household', flags: 'Flags',
    warnings_title: 'Fund warnings', no_warnings: 'No warnings.', deadline_in: '{time} left', overdue_by: 'Overdue by {time}',
    level_urgent: 'Urgent', level_high: 'High', level_medium: 'Medium', level_low: 'Low',
    status_open: 'Open', status_acknowledged: 'Acknowledged', status_met: 'Met', status_revisit: 'Revisit', status_closed: 'Closed',
    acknowledge: 'Acknowledge', call: 'Call', met: 'Met the resident', record_outcome: 'Record the outcome', reason: 'Reason',
    phone: 'Phone', phone_masked: 'number hidden', deadline: 'Deadline',
    outcome_dissuaded: 'Dissuaded', outcome_transferred: 'Transferred', outcome_not_found: 'Not found', outcome_false_alarm: 'False alarm',
    amount_yuan: 'Amount (yuan)', stop_payment_requested: 'Stop payment requested', checklist: 'Checklist',
    check_screen_sharing: 'Screen sharing', check_verification_codes_given: 'Gave verification codes',
    check_transfers_made: 'Transfers made', check_unknown_apps_installed: 'Unknown apps installed',
    check_links_clicked: 'Clicked links',
    event_acknowledged: 'Acknowledged', event_called: 'Called', event_met: 'Met', event_outcome: 'Outcome',
    events: 'What was done', warning_saved: 'Recorded; it is sent when online.', map_title: 'My cells', map_loading: 'Loading the map…',
    map_offline: 'Offline: the map as kept on the phone', sent_report: 'Sent: {created} created, {duplicate} duplicate, {conflict} conflict, {rejected} rejected',
    sync_failed_offline: 'Offline; retrying later', sync_failed: 'Sending failed; retrying later', not_found: 'Not found.',
    install_app: 'Add to home screen', notifications_on: 'Warning notifications are on: you are told even when the app is closed.',
    notifications_off: 'Turn on warning notifications to be told of urgent warnings when the app is closed.',
    notifications_denied: 'This browser blocks notifications from the app: allow them in its settings.',
    notifications_unsupported: 'This browser cannot receive push notifications; warnings still arrive live while the app is open.',
    notifications_enable: 'Turn on warning notifications', notifications_disable: 'Turn off warning notifications',
    notifications_turned_on: 'Warning notifications are on.', notifications_turned_off: 'Warning notifications are off.',
    notifications_need_network: 'Changing notifications needs the network.', notifications_failed: 'Could not change notifications: {reason}',
    notifications_no_server: 'the server offers no push', notifications_no_push_service: "the browser's push service did not answer",
    unread: 'New', household_location: 'Household location',
    field_visited_at: 'Visited at', field_household_id: 'Household', field_location: 'Location', field_grid_code: 'Cell',
    field_residents_reached: 'Residents reached', field_vulnerable_reached: 'Vulnerable reached', field_notes: 'Notes',
    field_new_household: 'New household', field_outcome: 'Outcome', field_topics: 'Topics',
    unsent_sign_out: '{n} records are unsent: sign out once they are sent.', unsent_of_other: 'This phone holds {n} unsent records of {username}: they must sign in and send them first.',
  },
};

let language = 'zh';

export function setLanguage(value) {
  language = value === 'en' ? 'en' : 'zh';
  document.documentElement.lang = language === 'en' ? 'en' : 'zh-CN';
}

export function currentLanguage() {
  return language;
}

/** The word for `key` in the chosen language, with {placeholders} filled from `values`. */
export function t(key, values = {}) {
  const template = WORDS[language][key] ?? WORDS.zh[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (values[name] ?? ''));
}

/** Whether a word exists (field names of server errors fall back to the raw name). */
export function has(key) {
  return key in WORDS[language];
}

/** A count or a rounded distance as both languages write it (1,234.5). By hand: making the first
 *  Intl.NumberFormat costs a cold start ~0.1 s on a slow phone, more than the whole worklist's rows. */
export function number(value) {
  const [whole, fraction] = String(value).split('.');
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (fraction ? '.' + fraction : '');
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(language === 'en' ? 'en' : 'zh-CN', {
    month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit',
  }).format(new Date(iso));
}
