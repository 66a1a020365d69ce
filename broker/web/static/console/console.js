// Why one long file: the console is one view state (the open conversation,
// the board, health) that every part reads and redraws, served without a
// build step; splitting it means passing that state between modules, worth
// doing when the admin pages (devices, staff, catalogue) arrive.
//
// The staff console: conversations with customers, the bookings board
// and the store's health, on a shop tablet (or a laptop). It talks to the
// store broker over MQTT (WebSocket) through the shared library in /lib,
// with the ops and topics of PROTOCOL.md: svc/chat/…, chat/+/events,
// svc/booking/…, booking/events, svc/camera/snapshot, devices/+/status,
// cloudsync/status and svc/store/health. The front desk (another day, the
// week, a new booking) is in bookdesk.js, the admins' Activity tab in
// activity.js, closing a conversation and the Reports tab in reports.js.
//
// Only staff roles may use it. A customer's login is refused before it
// connects (its username has the customer prefix); any other device that
// is not staff is refused when its first staff-only call (svc/chat/waiting)
// answers forbidden.
//
// What the page shows is exposed for tests as window.consoleView.

import { StoreLink, StoreError, newId } from '/lib/store.js';
import { makeI18n } from '/lib/i18n.js';
import { uploadBlob, blobURL, resizeImage } from '/lib/media.js';
import { initFAQ } from './faq.js';
import { initBookDesk } from '/console/bookdesk.js';
import { initActivity } from '/console/activity.js';
import { initShop } from '/console/shop.js';
import { setupCustomers, CUSTOMER_STRINGS } from '/console/customers.js';
import { setupHome, HOME_STRINGS } from '/console/home.js';
import { initTeam } from '/console/team.js';
import { initKeep } from '/console/keep.js';
import { initNotices } from '/console/notices.js';
import { initReports } from '/console/reports.js';
import { initSearch } from '/console/search.js';
import { initDesk } from '/console/desk.js';

// Customer ids start with this (broker/mqtt/auth/customer.CustomerPrefix); online
// customers chatting through HQ start with "hq-" and never log in here.
const CUSTOMER_PREFIX = 'cust-';
const REMOTE_PREFIX = 'hq-';

const HEALTH_EVERY = 30000; // svc/store/health is a read; every 30 s is plenty
const HISTORY_WINDOW = 100; // messages shown when a conversation opens
const PHOTO_SIDE = 1600; // px, the longer side of a photo staff send
const PHOTO_QUALITY = 0.85;

const STRINGS = {
  en: {
    title: 'Staff console',
    sections: 'Sections',
    tabChats: 'Conversations',
    tabBoard: 'Bookings',
    tabHealth: 'Store health',
    logout: 'Sign out',
    langButton: '中文',
    loginTitle: 'Sign in with your staff account',
    user: 'Username',
    pass: 'Password',
    signIn: 'Sign in',
    signingIn: 'Signing in…',
    missing: 'Please fill in the username and the password.',
    login: 'Wrong username or password.',
    network: 'Cannot reach the store’s server. Please check the Wi-Fi connection.',
    no_websocket: 'The store’s server does not accept browser connections (the WebSocket listener is off).',
    not_staff: 'This account cannot open the staff console.',
    no_answer: 'The store’s server did not answer. Please try again.',
    generic: 'Something went wrong ({code}).',
    link_connecting: 'Connecting…',
    link_online: 'Online',
    link_reconnecting: 'Reconnecting…',
    link_offline: 'Offline',
    conversations: 'Conversations',
    noConversations: 'No conversations yet.',
    pickConversation: 'Choose a conversation on the left.',
    waiting: 'Waiting for a person',
    unreadCount: '{n} unread',
    assignedTo: 'With {who}',
    takeOver: 'Take over',
    takenOver: 'You have taken over this conversation.',
    takeOverConflict: 'A colleague has already taken this conversation.',
    messages: 'Messages',
    quickReplies: 'Quick replies',
    replyLabel: 'Reply',
    replyPlaceholder: 'Type a reply — Enter sends, Shift+Enter for a new line',
    send: 'Send',
    sendPhoto: 'Photo',
    sendingPhoto: 'Sending the photo…',
    photoFailed: 'The photo could not be sent ({code}).',
    sendFailed: 'The message was not sent ({code}). Press Send to try again.',
    tooLong: 'The message is too long.',
    recall: 'Recall',
    recalled: 'Message recalled',
    recallLate: 'Too late to recall: the recall window has passed.',
    recallFailed: 'The message could not be recalled ({code}).',
    newMessage: 'New message from {who}: {text}',
    fromYou: 'You',
    fromAssistant: 'Assistant',
    fromBooking: 'Bookings',
    fromCustomer: 'Customer',
    autoAnswer: 'automatic answer',
    photo: 'Photo',
    voice: 'Voice message',
    video: 'Video',
    file: 'File',
    cardBooking: 'Booking {event}: {service} at {time}',
    cardProgress: 'Progress: {stage} — {service}',
    cardReminder: 'Reminder: {service} at {time}',
    cardSurvey: 'Survey invitation: {service}',
    cardOther: 'Card: {type}',
    cardMembers: 'Members changed',
    customer: 'Customer',
    profiles: 'Pets and babies',
    noProfiles: 'No profiles.',
    customerBookings: 'Bookings',
    noCustomerBookings: 'No upcoming bookings.',
    allergies: 'Allergies: {list}',
    notAvailable: 'n/a',
    boardTitle: 'Bookings — {date}',
    refresh: 'Refresh',
    noBookings: 'No bookings on this day.',
    status_booked: 'Booked',
    status_checked_in: 'Checked in',
    status_completed: 'Completed',
    status_cancelled: 'Cancelled',
    status_no_show: 'No-show',
    stage: 'Stage: {stage}',
    checkIn: 'Check in',
    postStage: 'Post stage',
    nextStage: 'Next stage',
    withSnapshot: 'With a snapshot from the room camera',
    cameraField: 'Camera',
    cameraAuto: 'automatic (the camera filming this table)',
    complete: 'Check out',
    reschedule: 'Reschedule',
    cancel: 'Cancel booking',
    cancelReason: 'Reason for cancelling',
    confirmCancel: 'Cancel this booking',
    close: 'Close',
    newDate: 'Date',
    freeSlots: 'Free times',
    noSlots: 'No free times on this day.',
    loadingSlots: 'Looking for free times…',
    conflictTaken: 'That time is taken. Free times nearby:',
    wrongState: 'This booking has changed meanwhile; the board is refreshed.',
    done_check_in: 'Checked in.',
    done_progress: 'Posted “{stage}”.',
    done_progress_photo: 'Posted “{stage}” with a snapshot.',
    done_reschedule: 'Moved to {time}.',
    done_cancel: 'Cancelled.',
    done_complete: 'Checked out.',
    snapshotFailed: 'No snapshot: {why}',
    snap_not_found: 'no camera films this booking now — name the camera',
    snap_unavailable: 'the camera is offline',
    opFailed: 'Not done: {message}',
    notes: 'Notes: {text}',
    devices: 'Devices',
    noDevices: 'No device has reported yet.',
    online: 'online',
    offline: 'offline',
    cloudLink: 'Link to headquarters',
    cloudNone: 'Not configured, or no status yet.',
    cloudConnected: 'Connected',
    cloudDisconnected: 'Disconnected',
    cloudState: 'State',
    cloudSince: 'Since',
    cloudBacklog: 'Waiting to send',
    cloudBacklogValue: '{n} entries ({size})',
    cloudOldest: 'Oldest waiting',
    cloudLastError: 'Last error',
    disk: 'Disk and storage',
    diskFree: 'Disk free',
    diskValue: '{free} of {total}',
    dbSize: 'Database',
    mediaSize: 'Photos and media',
    outboxSize: 'Outbox for headquarters',
    checks: 'Checks',
    checksNone: 'No checks yet.',
    checksAllOk: 'All checks passed.',
    checksAttention: '{fails} failing, {warns} to look at.',
    checkedAt: 'checked {time}',
    whatToDo: 'What to do:',
    sev_ok: 'OK',
    sev_warn: 'Warning',
    sev_fail: 'Failing',
    check_config: 'Configuration',
    check_database: 'Database',
    check_keys: 'Sealing keys',
    check_disk: 'Disk space',
    check_inodes: 'File entries',
    check_certificate: 'TLS certificate',
    check_hq: 'Headquarters',
    check_clock: 'Clock',
    check_backup: 'Backups',
    storeFull: 'Not saved: the store\'s storage is full. Nothing saved before is lost; try again once there is room (see Store health).',
    diskFloor: 'Kept free for the system',
    writesRefused: 'Saving',
    refused_disk_full: 'Stopped: the disk is full (less than {min} free). New messages, bookings and photos are refused until there is room: delete files on the box or call support. It starts again by itself.',
    refused_db_full: 'Stopped: the database has reached its size limit. New messages, bookings and photos are refused until old uploads and answers are cleaned up. It starts again by itself.',
  },
  zh: {
    title: '员工工作台',
    sections: '功能区',
    tabChats: '会话',
    tabBoard: '预约',
    tabHealth: '门店状态',
    logout: '退出登录',
    langButton: 'English',
    loginTitle: '请使用员工账号登录',
    user: '用户名',
    pass: '密码',
    signIn: '登录',
    signingIn: '正在登录…',
    missing: '请填写用户名和密码。',
    login: '用户名或密码错误。',
    network: '无法连接门店服务器，请检查 Wi-Fi 连接。',
    no_websocket: '门店服务器未开启浏览器连接（WebSocket 监听未开启）。',
    not_staff: '此账号无法打开员工工作台。',
    no_answer: '门店服务器没有响应，请重试。',
    generic: '出现错误（{code}）。',
    link_connecting: '正在连接…',
    link_online: '在线',
    link_reconnecting: '正在重新连接…',
    link_offline: '离线',
    conversations: '会话',
    noConversations: '暂无会话。',
    pickConversation: '请在左侧选择一个会话。',
    waiting: '等待人工',
    unreadCount: '{n} 条未读',
    assignedTo: '由 {who} 接待',
    takeOver: '接手会话',
    takenOver: '您已接手此会话。',
    takeOverConflict: '已有同事接手了此会话。',
    messages: '消息',
    quickReplies: '快捷回复',
    replyLabel: '回复',
    replyPlaceholder: '输入回复——回车发送，Shift+回车换行',
    send: '发送',
    sendPhoto: '照片',
    sendingPhoto: '正在发送照片…',
    photoFailed: '照片未能发送（{code}）。',
    sendFailed: '消息未发送（{code}）。请再次点击发送。',
    tooLong: '消息太长。',
    recall: '撤回',
    recalled: '消息已撤回',
    recallLate: '已超过可撤回时间，无法撤回。',
    recallFailed: '消息未能撤回（{code}）。',
    newMessage: '{who} 发来新消息：{text}',
    fromYou: '我',
    fromAssistant: '智能助手',
    fromBooking: '预约通知',
    fromCustomer: '顾客',
    autoAnswer: '自动回复',
    photo: '照片',
    voice: '语音消息',
    video: '视频',
    file: '文件',
    cardBooking: '预约{event}：{service}，{time}',
    cardProgress: '服务进度：{stage} —— {service}',
    cardReminder: '预约提醒：{service}，{time}',
    cardSurvey: '满意度调查：{service}',
    cardOther: '卡片：{type}',
    cardMembers: '成员变动',
    customer: '顾客',
    profiles: '宠物与宝宝档案',
    noProfiles: '暂无档案。',
    customerBookings: '预约',
    noCustomerBookings: '暂无预约。',
    allergies: '过敏：{list}',
    notAvailable: '暂无',
    boardTitle: '预约看板 —— {date}',
    refresh: '刷新',
    noBookings: '这一天没有预约。',
    status_booked: '已预约',
    status_checked_in: '已到店',
    status_completed: '已完成',
    status_cancelled: '已取消',
    status_no_show: '未到店',
    stage: '进度：{stage}',
    checkIn: '签到',
    postStage: '发布进度',
    nextStage: '下一步',
    withSnapshot: '附上美容室摄像头的抓拍',
    cameraField: '摄像头',
    cameraAuto: '自动（拍摄此工位的摄像头）',
    complete: '完成离店',
    reschedule: '改期',
    cancel: '取消预约',
    cancelReason: '取消原因',
    confirmCancel: '确认取消此预约',
    close: '关闭',
    newDate: '日期',
    freeSlots: '可预约时间',
    noSlots: '这一天没有空闲时间。',
    loadingSlots: '正在查找空闲时间…',
    conflictTaken: '该时间已被占用。附近的空闲时间：',
    wrongState: '此预约已有变动，看板已刷新。',
    done_check_in: '已签到。',
    done_progress: '已发布“{stage}”。',
    done_progress_photo: '已发布“{stage}”并附上抓拍。',
    done_reschedule: '已改到 {time}。',
    done_cancel: '已取消。',
    done_complete: '已完成离店。',
    snapshotFailed: '未能抓拍：{why}',
    snap_not_found: '目前没有摄像头拍摄此预约——请填写摄像头',
    snap_unavailable: '摄像头离线',
    opFailed: '未完成：{message}',
    notes: '备注：{text}',
    devices: '设备',
    noDevices: '还没有设备上报状态。',
    online: '在线',
    offline: '离线',
    cloudLink: '与总部的连接',
    cloudNone: '未配置，或尚无状态。',
    cloudConnected: '已连接',
    cloudDisconnected: '未连接',
    cloudState: '状态',
    cloudSince: '自',
    cloudBacklog: '待发送',
    cloudBacklogValue: '{n} 条（{size}）',
    cloudOldest: '最早一条已等待',
    cloudLastError: '最近错误',
    disk: '磁盘与存储',
    diskFree: '磁盘可用',
    diskValue: '{free} / 共 {total}',
    dbSize: '数据库',
    mediaSize: '照片与媒体',
    outboxSize: '发往总部的队列',
    checks: '检查项',
    checksNone: '暂无检查结果。',
    checksAllOk: '全部检查通过。',
    checksAttention: '{fails} 项故障，{warns} 项需注意。',
    checkedAt: '检查于 {time}',
    whatToDo: '怎么办：',
    sev_ok: '正常',
    sev_warn: '注意',
    sev_fail: '故障',
    check_config: '配置',
    check_database: '数据库',
    check_keys: '加密密钥',
    check_disk: '磁盘空间',
    check_inodes: '文件条目',
    check_certificate: 'TLS 证书',
    check_hq: '总部连接',
    check_clock: '时钟',
    check_backup: '备份',
    storeFull: '未保存：门店的存储空间已满。之前保存的内容不会丢失；腾出空间后请重试（见“门店状态”）。',
    diskFloor: '为系统保留',
    writesRefused: '保存',
    refused_disk_full: '已暂停：磁盘已满（可用空间不足 {min}）。腾出空间前，新的消息、预约和照片都无法保存：请删除盒子上的文件或联系技术支持。有空间后会自动恢复。',
    refused_db_full: '已暂停：数据库已达到容量上限。清理旧的上传和应答前，新的消息、预约和照片都无法保存。有空间后会自动恢复。',
  },
};

// The words of storeedge doctor's checks (svc/store/health "checks"), by
// code: [what was found, what to do], {name} filled from the check's args.
// The English is broker/doctor's table word for word (a test compares
// them), so the console says what `storeedge doctor` says on the box.
const DOCTOR_WORDS = {
  en: {
    backup_failed: ["The last backup failed: {error}", "Check the backup folder's disk and the backup settings; make one by hand with storeedge backup FILE to see why."],
    backup_none: ["No backup has been made yet.", "The first daily backup runs at backup.daily_at; make one now with storeedge backup FILE."],
    backup_off: ["Backups are not set up.", "Set backup.passphrase_env or backup.recipient in store.yaml (see README) and restart storeedge; until then, make one by hand with storeedge backup FILE."],
    backup_ok: ["The last backup was made {last}; {kept} backups are kept.", ""],
    backup_old: ["The last backup that worked is from {last}, {hours} hours ago.", "Check that storeedge runs at backup.daily_at and that the backup folder has room; make one now with storeedge backup FILE."],
    backup_stopped: ["Not known while storeedge is stopped: the daemon keeps the backups' state.", "Start storeedge and run storeedge doctor again to see the backups."],
    cert_bad: ["The TLS certificate cannot be used: {error}", "Check listeners.tls_cert_file and tls_key_file: a PEM certificate and its private key, readable by storeedge's user."],
    cert_early: ["The TLS certificate {file} is valid only from {from}: the certificate or the box's clock is wrong.", "Check the box's clock (see clock) and the certificate's dates."],
    cert_expired: ["The TLS certificate {file} expired on {until}: devices that use TLS cannot connect.", "Renew it now: put the new certificate and key where listeners.tls_cert_file and tls_key_file point and restart storeedge."],
    cert_none: ["No TLS listener: there is no certificate to check.", ""],
    cert_ok: ["The TLS certificate {file} is valid until {until} ({days} days).", ""],
    cert_soon: ["The TLS certificate {file} expires on {until}, in {days} days.", "Renew it before then: put the new certificate and key where listeners.tls_cert_file and tls_key_file point and restart storeedge."],
    clock_synced: ["The clock is set from a time source (NTP).", ""],
    clock_unknown: ["The kernel does not say whether the clock is set: {error}", "Check the clock with timedatectl status."],
    clock_unsynced: ["The clock has not been set from a time source since the box started: its time may be wrong.", "Check that the box reaches an NTP server (timedatectl status; systemd-timesyncd or chrony). Until then, what the store sends to HQ is marked as made before the clock was set."],
    config_builtin: ["No configuration file: the built-in configuration is in force.", ""],
    config_first: ["Not checked: the configuration must load first.", "Correct the configuration (see config), then run storeedge doctor again."],
    config_invalid: ["A configuration file has a mistake: {error}", "Correct the line named here, then run storeedge doctor again. storeedge reads these files when it starts: with this mistake it will not start again."],
    config_ok: ["{file} and the files it names (device registry, ACL, services, FAQ) have no mistake.", ""],
    database_bad: ["bbolt's consistency check found {count} problems in the database: {error}", "Stop storeedge, copy data_dir somewhere safe, then restore the last backup into an empty data_dir (storeedge restore FILE). Ask support before deleting anything."],
    database_locked: ["The database {path} is held by a storeedge whose admin socket does not answer.", "Restart storeedge (systemctl restart storeedge), then run storeedge doctor again."],
    database_new: ["There is no database in {dir} yet: storeedge has not run with this data_dir.", "Check data_dir in the configuration; storeedge makes the database when it first starts."],
    database_ok: ["bbolt's consistency check found no problem in the database ({size}).", ""],
    database_open: ["The database {path} cannot be opened: {error}", "Stop storeedge, copy data_dir somewhere safe, then restore the last backup into an empty data_dir (storeedge restore FILE). Ask support before deleting anything."],
    database_wait: ["The consistency check of the database is running; its result shows here when it ends.", ""],
    disk_floor: ["Only {free} free on the disk of {dir}: less than the {floor} storeedge keeps free, so new messages, bookings and photos are refused until there is room.", "Make room now: delete old photos and clips in the console, remove other files on this disk, or move data_dir to a larger card. Saving starts again by itself."],
    disk_full: ["{used}% of the disk of {dir} is in use (limit {fail}%); only {free} free.", "Make room now: delete old photos and clips in the console, remove other files on this disk, or move data_dir to a larger card. When the disk is full, new photos and messages are refused."],
    disk_low: ["{used}% of the disk of {dir} is in use (warning at {warn}%); {free} free.", "Make room: delete old photos and clips in the console, remove other files on this disk, or move data_dir to a larger card. When the disk is full, new photos and messages are refused."],
    disk_ok: ["{used}% of the disk of {dir} is in use; {free} free.", ""],
    disk_unknown: ["The disk of {dir} cannot be read: {error}", "Check that data_dir exists and that storeedge's user may read it."],
    hq_connected: ["Connected to HQ since {since}; {backlog} entries wait to be sent.", ""],
    hq_down: ["Not connected to HQ since {since} ({error}); {backlog} entries wait and are sent when the link returns.", "Check the store's internet connection; storeedge reconnects by itself. storeedge doctor on the box's shell says why HQ cannot be reached."],
    hq_off: ["Not linked to HQ (cloud.url is empty): the store works on its own.", ""],
    hq_reachable: ["HQ's broker at {url} accepted the store's login ({ms} ms).", ""],
    hq_refused: ["HQ's broker at {url} refused the store's login: {error}", "Check cloud.username and the password (cloud.password_env, or cloud.password) with HQ."],
    hq_tls: ["The secure connection to HQ's broker at {url} failed: {error}", "Check cloud.ca_file, cloud.server_name, the store's certificate (cloud.cert_file, key_file) and the box's clock."],
    hq_unreachable: ["HQ's broker at {url} cannot be reached: {error}", "Check the store's internet connection and cloud.url. The store keeps working, and sends what waits when HQ can be reached."],
    inodes_low: ["{used}% of the file entries (inodes) of the disk of {dir} are in use (warning at {warn}%).", "Many small files can fill a disk's table of files while space is left: remove stray files (old logs, temporary files) on this disk."],
    inodes_none: ["The file system of {dir} has no fixed number of file entries (inodes).", ""],
    inodes_ok: ["{used}% of the file entries (inodes) of the disk of {dir} are in use.", ""],
    keys_missing: ["The database holds sealed records, but the sealing keys cannot be read: {error}", "Put back the keys this database was sealed with (services.keys_file, by default seal.keys in data_dir, or the variable services.keys_env names), e.g. from a backup: other keys cannot read these records."],
    keys_nodb: ["Not checked: the database could not be read (see database).", "Repair the database first (see database)."],
    keys_ok: ["The sealing keys open the store's records (current key {key}).", ""],
    keys_unused: ["No sealed record yet to try the sealing keys on.", ""],
    keys_wrong: ["The sealing keys do not open the store's records: {error}", "Put back the keys this database was sealed with (services.keys_file, by default seal.keys in data_dir, or the variable services.keys_env names), e.g. from a backup: other keys cannot read these records."],
  },
  zh: {
    backup_failed: ["上一次备份失败：{error}", "请检查备份文件夹所在磁盘和备份设置；用 storeedge backup FILE 手动备份一次，可以看到原因。"],
    backup_none: ["还没有做过备份。", "每日备份在 backup.daily_at 设定的时间进行；现在可用 storeedge backup FILE 立即备份一次。"],
    backup_off: ["尚未设置备份。", "请在 store.yaml 中设置 backup.passphrase_env 或 backup.recipient（见 README）并重启 storeedge；在此之前，请用 storeedge backup FILE 手动备份。"],
    backup_ok: ["上一次备份于 {last} 完成；共保留 {kept} 份备份。", ""],
    backup_old: ["上一次成功的备份在 {last}，已过去 {hours} 小时。", "请确认 storeedge 在 backup.daily_at 时在运行、备份文件夹有足够空间；现在可用 storeedge backup FILE 立即备份一次。"],
    backup_stopped: ["storeedge 已停止，无法得知备份状态：备份状态由运行中的服务保存。", "请启动 storeedge，再运行 storeedge doctor 查看备份。"],
    cert_bad: ["TLS 证书无法使用：{error}", "请检查 listeners.tls_cert_file 和 tls_key_file：应为 PEM 格式的证书及其私钥，且 storeedge 的用户可以读取。"],
    cert_early: ["TLS 证书 {file} 要到 {from} 才生效：证书或本机时钟有误。", "请检查本机时钟（见“时钟”）和证书的日期。"],
    cert_expired: ["TLS 证书 {file} 已于 {until} 过期：使用 TLS 的设备无法连接。", "请立即更换：把新的证书和私钥放到 listeners.tls_cert_file 和 tls_key_file 指向的位置，然后重启 storeedge。"],
    cert_none: ["没有 TLS 监听：无需检查证书。", ""],
    cert_ok: ["TLS 证书 {file} 有效期至 {until}（还有 {days} 天）。", ""],
    cert_soon: ["TLS 证书 {file} 将于 {until} 过期，还有 {days} 天。", "请在此之前更换：把新的证书和私钥放到 listeners.tls_cert_file 和 tls_key_file 指向的位置，然后重启 storeedge。"],
    clock_synced: ["时钟已通过时间源（NTP）校准。", ""],
    clock_unsynced: ["本机启动后时钟尚未通过时间源校准：当前时间可能不准。", "请确认本机能访问 NTP 服务器（timedatectl status；systemd-timesyncd 或 chrony）。在校准之前，发往总部的内容会标记为“时钟校准前产生”。"],
    clock_unknown: ["系统内核没有说明时钟是否已校准：{error}", "请用 timedatectl status 检查时钟。"],
    config_builtin: ["没有配置文件：正在使用内置配置。", ""],
    config_first: ["未检查：需要先能读取配置。", "请先改正配置（见“配置”），再运行 storeedge doctor。"],
    config_invalid: ["配置文件有错误：{error}", "请改正这里指出的那一行，再运行 storeedge doctor。storeedge 启动时读取这些文件：有这个错误它将无法再次启动。"],
    config_ok: ["{file} 及其引用的文件（设备名单、ACL、服务项目、常见问题）没有错误。", ""],
    database_bad: ["bbolt 一致性检查在数据库中发现 {count} 处问题：{error}", "请停止 storeedge，把 data_dir 复制到安全的地方，然后把最近的备份恢复到一个空的 data_dir（storeedge restore FILE）。删除任何文件之前请先联系技术支持。"],
    database_locked: ["数据库 {path} 被一个不响应管理套接字的 storeedge 占用。", "请重启 storeedge（systemctl restart storeedge），再运行 storeedge doctor。"],
    database_new: ["{dir} 中还没有数据库：storeedge 尚未用这个 data_dir 运行过。", "请检查配置中的 data_dir；storeedge 第一次启动时会创建数据库。"],
    database_ok: ["bbolt 一致性检查未发现数据库（{size}）有问题。", ""],
    database_open: ["无法打开数据库 {path}：{error}", "请停止 storeedge，把 data_dir 复制到安全的地方，然后把最近的备份恢复到一个空的 data_dir（storeedge restore FILE）。删除任何文件之前请先联系技术支持。"],
    database_wait: ["正在检查数据库的一致性；检查结束后结果会显示在这里。", ""],
    disk_floor: ["{dir} 所在磁盘仅剩 {free}，低于 storeedge 保留的 {floor}：腾出空间前，新的消息、预约和照片都无法保存。", "请立即腾出空间：在工作台删除旧的照片和视频，删除这块磁盘上的其他文件，或把 data_dir 移到更大的存储卡。有空间后会自动恢复保存。"],
    disk_full: ["{dir} 所在磁盘已使用 {used}%（上限 {fail}%）；仅剩 {free}。", "请立即腾出空间：在工作台删除旧的照片和视频，删除这块磁盘上的其他文件，或把 data_dir 移到更大的存储卡。磁盘满时，新的照片和消息会被拒绝。"],
    disk_low: ["{dir} 所在磁盘已使用 {used}%（{warn}% 时提醒）；剩余 {free}。", "请腾出空间：在工作台删除旧的照片和视频，删除这块磁盘上的其他文件，或把 data_dir 移到更大的存储卡。磁盘满时，新的照片和消息会被拒绝。"],
    disk_ok: ["{dir} 所在磁盘已使用 {used}%；剩余 {free}。", ""],
    disk_unknown: ["无法读取 {dir} 所在磁盘：{error}", "请确认 data_dir 存在，且 storeedge 的用户可以读取。"],
    hq_connected: ["自 {since} 起已连接总部；{backlog} 条待发送。", ""],
    hq_down: ["自 {since} 起未连接总部（{error}）；{backlog} 条在等待，连接恢复后会发送。", "请检查门店的网络连接；storeedge 会自动重连。在本机命令行运行 storeedge doctor 可以查看无法连接总部的原因。"],
    hq_off: ["未连接总部（cloud.url 为空）：门店独立运行。", ""],
    hq_reachable: ["总部服务器 {url} 接受了门店的登录（{ms} 毫秒）。", ""],
    hq_refused: ["总部服务器 {url} 拒绝了门店的登录：{error}", "请与总部核对 cloud.username 和密码（cloud.password_env 或 cloud.password）。"],
    hq_tls: ["与总部服务器 {url} 的安全连接失败：{error}", "请检查 cloud.ca_file、cloud.server_name、门店证书（cloud.cert_file、key_file）以及本机时钟。"],
    hq_unreachable: ["无法连接总部服务器 {url}：{error}", "请检查门店的网络连接和 cloud.url。门店会继续正常工作，能连上总部后再发送等待中的内容。"],
    inodes_low: ["{dir} 所在磁盘的文件条目（inode）已使用 {used}%（{warn}% 时提醒）。", "大量小文件可能在磁盘还有空间时占满文件表：请删除这块磁盘上多余的文件（旧日志、临时文件）。"],
    inodes_none: ["{dir} 所在文件系统没有固定的文件条目（inode）数量。", ""],
    inodes_ok: ["{dir} 所在磁盘的文件条目（inode）已使用 {used}%。", ""],
    keys_missing: ["数据库中有加密记录，但无法读取加密密钥：{error}", "请放回加密这个数据库时使用的密钥（services.keys_file，默认是 data_dir 中的 seal.keys，或 services.keys_env 指定的环境变量），例如从备份中取回：其他密钥无法读取这些记录。"],
    keys_nodb: ["未检查：无法读取数据库（见“数据库”）。", "请先修复数据库（见“数据库”）。"],
    keys_ok: ["加密密钥可以打开门店的记录（当前密钥 {key}）。", ""],
    keys_unused: ["还没有加密记录可用来验证密钥。", ""],
    keys_wrong: ["加密密钥无法打开门店的记录：{error}", "请放回加密这个数据库时使用的密钥（services.keys_file，默认是 data_dir 中的 seal.keys，或 services.keys_env 指定的环境变量），例如从备份中取回：其他密钥无法读取这些记录。"],
  },
};
// Args that hold a time (RFC 3339), shown on the store's clock.
const DOCTOR_TIMES = new Set(['since', 'until', 'from', 'last']);
const DOCTOR_MARKS = { ok: '✓', warn: '!', fail: '✗' };

// Stage and event names as staff read them; the wire has the ids.
const STAGE_NAMES = {
  en: { checked_in: 'checked in', bathing: 'bathing', drying: 'drying', styling: 'styling', ready: 'ready' },
  zh: { checked_in: '已到店', bathing: '洗澡中', drying: '吹干中', styling: '造型中', ready: '可接走' },
};
const EVENT_NAMES = {
  en: { created: 'made', rescheduled: 'moved', cancelled: 'cancelled', no_show: 'no-show', checked_in: 'checked in', completed: 'completed', hq_rejected: 'refused' },
  zh: { created: '已创建', rescheduled: '已改期', cancelled: '已取消', no_show: '未到店', checked_in: '已签到', completed: '已完成', hq_rejected: '被拒绝' },
};

for (const l of Object.keys(CUSTOMER_STRINGS)) Object.assign(STRINGS[l], CUSTOMER_STRINGS[l]);
for (const l of Object.keys(HOME_STRINGS)) Object.assign(STRINGS[l], HOME_STRINGS[l]);
const i18n = makeI18n(STRINGS, 'storeedge.lang');
const t = (k, v) => i18n.t(k, v);
initShop({ getLink: () => link, i18n });
// Names, not ids, wherever a customer appears; her card beside the chat.
const customers = setupCustomers({ link: () => link, t, prefix: CUSTOMER_PREFIX, onNames: () => renderAll() });
const home = setupHome({ link: () => link, t, i18n, prefix: CUSTOMER_PREFIX, time: (ts) => hhmm(ts) });

// ---- state ------------------------------------------------------------

// window.consoleView: what tests and diagnostics read.
const view = {
  state: 'login', // login | ready | error
  error: null, // an error code: login, network, not_staff, …
  conversations: [], // [{conversation, unread, waiting}] in the order shown
  open: null, // {conversation, messages: [{seq, from, kind, text, card, recalled}]}
  board: [], // [{id, status, stage, resources}]
  devices: {}, // id -> 'online' | 'offline'
  cloud: null, // the last cloudsync/status, or null
  health: null, // the last svc/store/health answer, or null (n/a)
};
window.consoleView = view;

let link = null;
let me = ''; // the staff member's device id
let activeView = 'chats';

const convs = new Map(); // conversation id -> entry (see upsertConv)
let open = null; // {id, messages: Map seq -> msg, lastSeq, customer, profiles, bookings, error}
let quickReplies = [];
let stages = [];
let services = new Map(); // id -> catalogue entry
let storeZone = ''; // the store's time zone (IANA name)
let boardDate = '';
let boardWanted = ''; // the day staff chose; '' = the store's today
let bookings = []; // board entries
const ui = new Map(); // booking id -> per-card UI state (panels, fields, messages)
let healthTimer = null;
let pendingSend = null; // {text, id}: a send to repeat with the same id

// ---- small helpers ------------------------------------------------------

const $ = (id) => document.getElementById(id);

// h builds an element: h('button', {class: 'x', onclick: fn}, 'text', child).
function h(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else if (k === 'class') n.className = v;
    else if (k === 'value') n.value = v;
    else if (k === 'checked') n.checked = !!v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

// replace swaps a container's children, keeping the focused control (by
// id) focused: the board and the list are redrawn on every change, and a
// groomer's finger must not lose its place.
function replace(container, nodes) {
  const active = document.activeElement;
  const focusId = active && container.contains(active) ? active.id : null;
  // The caret too: a redraw while a name is being typed must not move
  // the next letter to the start of the field.
  let caret = null;
  try { if (focusId && active.selectionStart != null) caret = [active.selectionStart, active.selectionEnd]; } catch (_) { /* not a text field */ }
  container.replaceChildren(...nodes);
  if (focusId) {
    const again = document.getElementById(focusId);
    if (again) {
      again.focus();
      try { if (caret && again.setSelectionRange) again.setSelectionRange(caret[0], caret[1]); } catch (_) { /* not a text field */ }
    }
  }
}

function errCode(e) {
  return e instanceof StoreError ? e.code : 'generic';
}

// storeFull: a write refused because the store's disk or database is full
// (quota_exceeded without a reason; a client's own quota names one).
function storeFull(e) {
  return e instanceof StoreError && e.code === 'quota_exceeded' && !e.reason;
}

function errText(e) {
  if (storeFull(e)) return t('storeFull');
  if (e instanceof StoreError && STRINGS.en[e.code]) return t(e.code);
  return t('opFailed', { message: (e && e.message) || errCode(e) });
}

// Every time the console shows is on the store's wall clock (its zone from
// svc/booking/services), whatever zone the tablet or phone is set to: a
// booking, a message, the link to headquarters. wallClock gives the date
// (YYYY-MM-DD) and time (HH:MM) of an RFC 3339 timestamp there. Without
// the zone (the catalogue did not answer, or the browser does not know
// it) the timestamp's own digits are read: the store writes bookings with
// its zone's offset, so they are its wall clock already. Never the
// browser's zone.
let zoneFmt = null; // {zone, fmt}: Intl.DateTimeFormat for storeZone

function storeFormat() {
  if (!storeZone) return null;
  if (zoneFmt && zoneFmt.zone === storeZone) return zoneFmt.fmt;
  let fmt = null;
  try {
    fmt = new Intl.DateTimeFormat('en-CA', { timeZone: storeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  } catch (e) { // a zone this browser does not know
    fmt = null;
  }
  zoneFmt = { zone: storeZone, fmt };
  return fmt;
}

function wallClock(s) {
  if (typeof s !== 'string' || s.length < 16) return { date: typeof s === 'string' ? s.slice(0, 10) : '', time: '' };
  const fmt = storeFormat();
  const d = fmt ? new Date(s) : null;
  if (d && !isNaN(d)) {
    const p = {};
    for (const part of fmt.formatToParts(d)) p[part.type] = part.value;
    return { date: p.year + '-' + p.month + '-' + p.day, time: (p.hour === '24' ? '00' : p.hour) + ':' + p.minute };
  }
  return { date: s.slice(0, 10), time: s.slice(11, 16) };
}

function hhmm(s) {
  return wallClock(s).time;
}

function dayOf(s) {
  return wallClock(s).date;
}

// localTime is a message's time of day on the store's clock.
function localTime(ts) {
  return hhmm(ts);
}

// dateTime is a day and time on the store's clock ("2026-11-23 09:12").
function dateTime(ts) {
  const w = wallClock(ts);
  return w.time ? w.date + ' ' + w.time : '';
}

function bytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return t('notAvailable');
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

function stageName(s) {
  return (STAGE_NAMES[i18n.lang] && STAGE_NAMES[i18n.lang][s]) || s;
}

function serviceName(id, names) {
  const n = names || (services.get(id) && services.get(id).name);
  if (n && typeof n === 'object') return n[i18n.lang] || n.en || n.zh || id;
  return id || '';
}

function isCustomer(id) {
  return typeof id === 'string' && (id.startsWith(CUSTOMER_PREFIX) || id.startsWith(REMOTE_PREFIX));
}

let toastTimer = null;
function toast(msg) {
  $('toast').textContent = msg;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $('toast').textContent = ''; }, 6000);
}

// debounce merges bursts of events (a busy Saturday) into one refresh.
function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
}

// ---- language and page frame -----------------------------------------------

function renderStatic() {
  i18n.apply();
  document.title = t('title');
  $('lang').textContent = t('langButton');
  $('lang').setAttribute('lang', i18n.lang === 'zh' ? 'en' : 'zh-CN');
  renderLink();
}

$('lang').addEventListener('click', () => i18n.setLang(i18n.lang === 'zh' ? 'en' : 'zh'));
i18n.onChange(() => {
  renderStatic();
  if (view.state === 'ready') renderAll();
  else if (view.error) $('login-error').textContent = t(view.error);
});

function renderLink() {
  const st = link ? link.status : '';
  $('link').textContent = st ? t('link_' + st) : '';
  $('link').dataset.state = st;
}

function setView(name) {
  activeView = name;
  for (const b of document.querySelectorAll('.tab')) {
    if (b.dataset.view === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  $('chats-view').hidden = name !== 'chats';
  $('board-view').hidden = name !== 'board';
  $('health-view').hidden = name !== 'health';
  // Views in their own modules (activity.js) are sections marked with
  // data-tab-view.
  for (const sec of document.querySelectorAll('[data-tab-view]')) sec.hidden = sec.dataset.tabView !== name;
  if (name === 'activity') activity.onShow();
  // The disk line is fresh when someone looks for why a save failed.
  if (name === 'health') loadHealth();
  if (name === 'reports') reports.onShow();
  if (name === 'chats' && open) markRead();
}

for (const b of document.querySelectorAll('.tab')) {
  b.addEventListener('click', () => setView(b.dataset.view));
}

function setState(state, error) {
  view.state = state;
  view.error = error || null;
  document.body.dataset.state = state;
  const ready = state === 'ready';
  $('login-view').hidden = ready;
  $('tabs').hidden = !ready;
  $('logout').hidden = !ready;
  $('login-error').textContent = error ? t(error) : '';
  if (ready) setView(activeView);
  else for (const n of document.querySelectorAll('#chats-view, #board-view, #health-view, [data-tab-view]')) n.hidden = true;
}

// ---- sign in ---------------------------------------------------------------

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const username = $('user').value.trim();
  const password = $('pass').value;
  if (!username || !password) {
    $('login-error').textContent = t('missing');
    (!username ? $('user') : $('pass')).focus();
    return;
  }
  $('signin').disabled = true;
  $('signin').textContent = t('signingIn');
  try {
    await signIn(username, password);
  } finally {
    $('signin').disabled = false;
    $('signin').textContent = t('signIn');
  }
});

$('logout').addEventListener('click', () => {
  signOut();
  setState('login');
  $('pass').value = '';
  $('user').focus();
});

function signOut() {
  if (link) link.close();
  link = null;
  clearInterval(healthTimer);
  convs.clear();
  open = null;
  bookings = [];
  boardWanted = '';
  bookDesk.reset();
  activity.reset();
  reports.reset();
  searchDesk.reset();
  desk.reset();
  ui.clear();
  Object.assign(view, { conversations: [], open: null, board: [], devices: {}, cloud: null, health: null });
  renderLink();
}

async function signIn(username, password) {
  if (link) signOut();
  setState('login');
  // A customer's login is refused before it connects: customers have
  // their own page, and their role may not call what the console needs.
  if (username.toLowerCase().startsWith(CUSTOMER_PREFIX) || username.toLowerCase().startsWith(REMOTE_PREFIX)) {
    setState('error', 'not_staff');
    return;
  }
  const l = new StoreLink({ username, password, suffix: 'console-' + newId().slice(-8).toLowerCase() });
  link = l;
  l.onStatus((st) => {
    if (link !== l) return;
    renderLink();
    if (st === 'online' && view.state === 'ready') resync();
  });
  try {
    await l.connect();
  } catch (e) {
    if (link === l) { signOut(); setState('error', STRINGS.en[errCode(e)] ? errCode(e) : 'network'); }
    return;
  }
  me = username;
  // The first staff-only call tells whether this device may use the
  // console: a chat tablet, a kiosk or a camera is refused (forbidden, or
  // no answer when the ACL does not let its role reach the service).
  let waiting;
  try {
    waiting = await l.call('chat', 'waiting', {}, { timeoutMs: 8000 });
  } catch (e) {
    if (link !== l) return;
    const code = errCode(e);
    signOut();
    setState('error', code === 'forbidden' || code === 'no_answer' || code === 'not_found' ? 'not_staff' : (STRINGS.en[code] ? code : 'generic'));
    return;
  }
  if (link !== l) return;
  setState('ready');
  $('pass').value = '';
  try {
    await Promise.all([
      l.subscribe('chat/+/events', onChatEvent),
      l.subscribe('booking/events', onBookingEvent),
      l.subscribe('devices/+/status', onDeviceStatus),
      l.subscribe('cloudsync/status', onCloudStatus),
    ]);
  } catch (e) {
    // An admin-made role without one of these grants still gets the rest.
    console.warn('console: subscribe', e);
  }
  mergeWaiting(waiting.conversations || []);
  await Promise.all([loadConversations(), loadCatalogue(), loadQuickReplies(), loadBoard(), loadHealth(), activity.onReady(),
    reports.onReady(), searchDesk.onReady(), desk.onReady()]);
  clearInterval(healthTimer);
  healthTimer = setInterval(loadHealth, HEALTH_EVERY);
  renderAll();
  $('tab-chats').focus();
}

// resync fetches everything again after a reconnect: events sent while the
// link was down are gone (the session is clean).
async function resync() {
  await Promise.all([loadConversations(), loadBoard(), loadHealth()]);
  if (open) await loadHistory(open.id);
  renderAll();
}

function renderAll() {
  renderConversations();
  renderChat();
  renderCustomer();
  renderBoard();
  renderHealth();
}

// ---- conversations -----------------------------------------------------------

// upsertConv keeps one entry per conversation from a view (svc/chat/list,
// waiting, open, assign). Unread is counted from the caller's read pointer;
// for a conversation staff have not joined that pointer is 0, so
// everything in it is unread to them.
function upsertConv(v, waitingKnown) {
  const e = convs.get(v.conversation) || { id: v.conversation, lastTs: '' };
  e.kind = v.kind;
  e.title = v.title || '';
  e.members = v.members || [];
  e.assigned = v.assigned || [];
  e.lastSeq = Math.max(e.lastSeq || 0, v.last_seq || 0);
  e.readUpTo = Math.max(e.readUpTo || 0, v.read_up_to || 0);
  if (waitingKnown) e.waiting = v.waiting || null;
  e.closed = v.closed || null;
  e.member = e.members.includes(me);
  if (!('new' in v)) e.labels = v.labels || []; // staff's labels (search.js); open's answer has none
  e.lastTs = e.lastTs || v.waiting || v.created || '';
  convs.set(e.id, e);
  return e;
}

function unreadOf(e) {
  return Math.max(0, (e.lastSeq || 0) - (e.readUpTo || 0));
}

function mergeWaiting(list) {
  const ids = new Set(list.map((v) => v.conversation));
  for (const e of convs.values()) if (!ids.has(e.id)) e.waiting = null;
  for (const v of list) upsertConv(v, true);
}

async function loadConversations() {
  if (!link) return;
  try {
    const [waiting, mine, remote] = await Promise.all([
      link.call('chat', 'waiting', {}),
      listAll({}),
      // Customers at home: listed from their first message, though no
      // one here has joined and the assistant may have answered.
      listAll({ remote: true }).catch((e) => { console.warn('console: remote conversations', e); return []; }),
    ]);
    for (const v of [...mine, ...remote]) upsertConv(v, false);
    mergeWaiting(waiting.conversations || []);
  } catch (e) {
    console.warn('console: conversations', e);
  }
  renderConversations();
}

async function listAll(req) {
  const out = [];
  let after = '';
  for (let page = 0; page < 20; page++) {
    const ans = await link.call('chat', 'list', after ? { ...req, after } : req);
    out.push(...(ans.conversations || []));
    if (!ans.more) break;
    after = ans.next;
  }
  return out;
}

const refreshWaiting = debounce(async () => {
  if (!link) return;
  try {
    const w = await link.call('chat', 'waiting', {});
    mergeWaiting(w.conversations || []);
    renderConversations();
    renderChat();
  } catch (e) { /* the next event tries again */ }
}, 300);

function sortedConvs() {
  return [...convs.values()].sort((a, b) => {
    // Waiting for a person first, the longest waiting on top; then the
    // most recent activity.
    if (!!a.waiting !== !!b.waiting) return a.waiting ? -1 : 1;
    if (a.waiting && b.waiting) return a.waiting < b.waiting ? -1 : a.waiting > b.waiting ? 1 : 0;
    const d = unreadOf(b) - unreadOf(a);
    if ((unreadOf(a) > 0) !== (unreadOf(b) > 0)) return d;
    return a.lastTs < b.lastTs ? 1 : a.lastTs > b.lastTs ? -1 : 0;
  });
}

function convTitle(e) {
  if (e.title) return e.title;
  const cust = e.members.find(isCustomer) || (isCustomer(e.id) ? e.id : '');
  return cust ? customers.label(cust) : e.id;
}

function renderConversations() {
  const list = sortedConvs().filter(searchDesk.filter);
  view.conversations = list.map((e) => ({ conversation: e.id, unread: unreadOf(e), waiting: !!e.waiting }));
  const total = list.reduce((n, e) => n + unreadOf(e), 0);
  $('tab-chats-count').hidden = total === 0;
  $('tab-chats-count').textContent = String(total);
  $('conv-empty').hidden = list.length > 0;
  replace($('conv-list'), list.map((e) => {
    const n = unreadOf(e);
    const current = open && open.id === e.id;
    return h('li', {},
      h('button', {
        id: 'conv-' + e.id, type: 'button', class: 'conv' + (e.waiting ? ' waiting' : '') + (current ? ' current' : ''),
        'data-conversation': e.id, 'aria-current': current ? 'true' : null,
        onclick: () => openConversation(e.id),
      },
      h('span', { class: 'conv-title' }, convTitle(e)),
      h('span', { class: 'conv-meta' },
        e.waiting ? h('span', { class: 'badge wait' }, t('waiting')) : null,
        e.assigned.length ? h('span', { class: 'small muted' }, t('assignedTo', { who: e.assigned.join(', ') })) : null,
        searchDesk.chips(e)),
      n > 0 ? h('span', { class: 'badge unread', 'aria-label': t('unreadCount', { n }) }, String(n)) : null));
  }));
}

async function onChatEvent(topic, ev) {
  if (!ev || typeof ev !== 'object') return;
  const id = ev.conversation || topic.split('/')[1];
  let e = convs.get(id);
  if (!e) {
    e = { id, kind: 'direct', title: '', members: [], assigned: [], lastSeq: 0, readUpTo: 0, waiting: null, member: false, lastTs: '' };
    convs.set(id, e);
    refreshWaiting(); // its view (members, waiting) comes with the next answer
  }
  desk.onEvent(ev);
  switch (ev.type) {
    case 'message':
      e.lastSeq = Math.max(e.lastSeq, ev.seq || 0);
      e.lastTs = ev.ts || e.lastTs;
      if (ev.from === me) e.readUpTo = Math.max(e.readUpTo, ev.seq || 0);
      // A staff member's send ends the waiting state, with no event of
      // its own: ask the queue again.
      if (e.waiting || ev.from !== me) refreshWaiting();
      if (isCustomer(ev.from)) e.closed = null; // her message reopens it
      if (open && open.id === id) await fetchNew(ev);
      break;
    case 'closed':
      e.closed = ev.ts || new Date().toISOString();
      e.waiting = null;
      break;
    case 'read':
      if (ev.member === me) e.readUpTo = Math.max(e.readUpTo, ev.up_to || 0);
      break;
    case 'recall':
      if (open && open.id === id && open.messages.has(ev.seq)) {
        const m = open.messages.get(ev.seq);
        open.messages.set(ev.seq, { seq: m.seq, id: m.id, from: m.from, ts: m.ts, kind: m.kind, recalled: ev.ts || true });
      }
      break;
    case 'waiting':
      e.waiting = ev.ts || new Date().toISOString();
      break;
    case 'assigned':
      if (!e.assigned.includes(ev.member)) e.assigned = [...e.assigned, ev.member].sort();
      if (ev.member === me) e.member = true;
      break;
    case 'members':
      refreshWaiting();
      break;
  }
  renderConversations();
  if (open && open.id === id) renderChat();
}

// fetchNew reads the message an event announced (events carry no body).
async function fetchNew(ev) {
  const from = Math.min(open.lastSeq, (ev.seq || 1) - 1);
  const before = open.lastSeq;
  await loadHistory(open.id, Math.max(0, from));
  if (ev.from !== me && (ev.seq || 0) > before) {
    const m = open.messages.get(ev.seq);
    $('announce').textContent = t('newMessage', { who: fromName(ev.from), text: m ? messageText(m) : '' });
  }
  markRead();
}

async function openConversation(id) {
  const e = convs.get(id);
  if (!e) return;
  pendingSend = null;
  open = { id, messages: new Map(), lastSeq: 0, customer: customerOf(e), profiles: null, bookings: null, error: '' };
  $('reply').value = '';
  renderConversations();
  renderChat();
  await loadHistory(id, Math.max(0, e.lastSeq - HISTORY_WINDOW));
  markRead();
  searchDesk.onOpen();
  loadCustomer();
  renderCustomer();
  $('reply').focus();
}

function customerOf(e) {
  return e.members.find(isCustomer) || (isCustomer(e.id) ? e.id : '');
}

async function loadHistory(id, after) {
  if (!link || !open || open.id !== id) return;
  let from = after != null ? after : open.lastSeq;
  try {
    for (let page = 0; page < 50; page++) {
      const ans = await link.call('chat', 'history', { conversation: id, after: from });
      if (!open || open.id !== id) return;
      for (const m of ans.messages || []) open.messages.set(m.seq, m);
      open.lastSeq = Math.max(open.lastSeq, ans.last_seq || 0);
      const e = convs.get(id);
      if (e) {
        e.lastSeq = Math.max(e.lastSeq, ans.last_seq || 0);
        e.readUpTo = Math.max(e.readUpTo, ans.read_up_to || 0);
      }
      if (!ans.more) break;
      from = ans.next;
    }
    open.error = '';
  } catch (e) {
    open.error = errText(e);
  }
  renderChat();
  renderConversations();
}

// markRead moves the staff member's read pointer when the conversation is
// on screen. Only members have one: looking at a conversation does not
// join it (replying or taking it over does).
async function markRead() {
  if (!link || !open || activeView !== 'chats' || document.hidden) return;
  const e = convs.get(open.id);
  if (!e || !e.member || open.lastSeq <= e.readUpTo) return;
  const upTo = open.lastSeq;
  try {
    const ans = await link.call('chat', 'read', { conversation: open.id, up_to: upTo });
    e.readUpTo = Math.max(e.readUpTo, ans.up_to || upTo);
    renderConversations();
  } catch (err) { /* the next view of it tries again */ }
}

document.addEventListener('visibilitychange', () => { if (!document.hidden) markRead(); });

function fromName(from) {
  if (from === me) return t('fromYou');
  if (from === 'assistant') return t('fromAssistant');
  if (from === 'booking') return t('fromBooking');
  return customers.label(from);
}

// Booking, progress, reminder and survey cards come from the booking
// service; the same card from anyone else (the server refuses them from
// customers) is shown as a plain card, never as the store's "Booking made".
const SERVICE_CARDS = ['booking', 'progress', 'reminder', 'survey'];

function cardText(c, from) {
  if (!c || typeof c !== 'object') return '';
  if (from !== undefined && from !== 'booking' && SERVICE_CARDS.includes(c.type)) return t('cardOther', { type: c.type });
  const service = serviceName(c.service, c.service_name);
  const time = c.start ? dayOf(c.start) + ' ' + hhmm(c.start) : '';
  switch (c.type) {
    case 'booking': return t('cardBooking', { event: (EVENT_NAMES[i18n.lang] || {})[c.event] || c.event, service, time });
    case 'progress': return t('cardProgress', { stage: stageName(c.stage), service });
    case 'reminder': return t('cardReminder', { service, time });
    case 'survey': return t('cardSurvey', { service });
    case 'members': return t('cardMembers');
    case 'closed': case 'rated': return reports.cardText(c);
    default: return t('cardOther', { type: c.type });
  }
}

function messageText(m) {
  if (m.recalled) return t('recalled');
  if (m.kind === 'card') return cardText(m.card, m.from || '');
  if (m.kind === 'system') return cardText(m.card);
  if (m.kind === 'text') return m.text || '';
  return (m.text ? m.text + ' ' : '') + '[' + t(m.kind === 'image' ? 'photo' : m.kind) + ']';
}

function renderChat() {
  const has = !!open;
  $('chat').hidden = !has;
  $('chat-none').hidden = has;
  $('customer-pane').hidden = !has;
  if (!has) { view.open = null; desk.afterRender(); return; }
  const e = convs.get(open.id);
  const msgs = [...open.messages.values()].sort((a, b) => a.seq - b.seq);
  view.open = {
    conversation: open.id,
    messages: msgs.map((m) => ({ seq: m.seq, from: m.from, kind: m.kind, text: m.recalled ? undefined : m.text, card: m.card, recalled: !!m.recalled })),
  };
  $('chat-title').textContent = e ? convTitle(e) : open.id;
  const sub = [];
  if (e && e.waiting) sub.push(t('waiting'));
  if (e && e.assigned.length) sub.push(t('assignedTo', { who: e.assigned.join(', ') }));
  $('chat-sub').textContent = sub.join(' · ');
  $('take-over').hidden = !(e && e.waiting && !e.assigned.includes(me));
  reports.onChat(open, e);
  $('chat-error').textContent = open.error || '';

  const box = $('messages');
  const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  replace(box, msgs.map((m) => renderMessage(m)));
  if (atEnd || !box.dataset.scrolled) { box.scrollTop = box.scrollHeight; box.dataset.scrolled = '1'; }

  const lang = i18n.lang;
  searchDesk.render();
  replace($('quick'), quickReplies.map((q, i) => h('button', {
    id: 'quick-' + i, type: 'button', class: 'chip', title: q[lang] || q.en || q.zh,
    onclick: () => {
      const r = $('reply');
      r.value = q[lang] || q.en || q.zh || '';
      r.focus();
    },
  }, q.title || q.id)));
  desk.afterRender();
}

function renderMessage(m) {
  const mine = m.from === me;
  const cls = 'msg' + (mine ? ' mine' : '') + (m.from === 'booking' ? ' service' : '') + (m.from === 'assistant' ? ' auto' : '') + searchDesk.msgClass(open.id, m.seq);
  const body = [];
  if (m.recalled) {
    body.push(h('p', { class: 'recalled' }, t('recalled')));
  } else if (m.kind === 'image' && m.media) {
    const img = h('img', { class: 'photo', alt: m.text || t('photo'), 'data-hash': m.media.hash });
    // The thumbnail when the store made one: a quarter of the bytes.
    const hash = m.media.thumbnail || m.media.hash;
    blobURL(link, hash, m.media.thumbnail ? 'image/jpeg' : m.media.type).then((u) => { img.src = u; }).catch(() => { img.alt = t('photo') + ' ✕'; });
    body.push(img);
    if (m.text) body.push(h('p', {}, m.text));
  } else {
    body.push(h('p', { class: m.kind === 'card' ? 'card-text' : null }, searchDesk.mark(open.id, m.seq, messageText(m))));
  }
  return h('li', { class: cls, 'data-seq': m.seq },
    h('div', { class: 'msg-head small' },
      h('span', { class: 'who' }, fromName(m.from)),
      m.auto ? h('span', { class: 'muted' }, ' · ' + t('autoAnswer')) : null,
      h('span', { class: 'muted' }, ' · ' + localTime(m.ts))),
    body,
    mine && !m.recalled && m.kind !== 'system' ? h('button', { id: 'recall-' + m.seq, type: 'button', class: 'plain small-btn', onclick: () => recall(m.seq) }, t('recall')) : null);
}

// ensureMember joins the conversation before staff write in it (only
// members send and have a read pointer); staff who see all may open any.
async function ensureMember(id) {
  const e = convs.get(id);
  if (e && e.member) return;
  const v = await link.call('chat', 'open', { conversation: id });
  upsertConv(v, false);
}

$('composer').addEventListener('submit', (ev) => { ev.preventDefault(); sendText(); });
$('reply').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendText(); }
});

async function sendText() {
  if (!open || !link) return;
  const text = $('reply').value.trim();
  if (!text) return;
  const id = open.id;
  // The same text again after a failure is the same request: a message the
  // store did store before the answer got lost is not stored twice.
  if (!pendingSend || pendingSend.text !== text) pendingSend = { text, id: newId() };
  const reqId = pendingSend.id;
  $('send').disabled = true;
  try {
    await ensureMember(id);
    await link.call('chat', 'send', { conversation: id, kind: 'text', text, lang: i18n.lang }, { id: reqId });
    pendingSend = null;
    if (open && open.id === id) {
      $('reply').value = '';
      open.error = '';
      await loadHistory(id);
    }
  } catch (e) {
    if (open && open.id === id) open.error = errCode(e) === 'too_large' ? t('tooLong') : storeFull(e) ? t('storeFull') : t('sendFailed', { code: errCode(e) });
    renderChat();
  } finally {
    $('send').disabled = false;
  }
}

$('photo').addEventListener('change', async () => {
  const file = $('photo').files && $('photo').files[0];
  $('photo').value = '';
  if (!file || !open || !link) return;
  const id = open.id;
  toast(t('sendingPhoto'));
  try {
    const blob = await resizeImage(file, PHOTO_SIDE, PHOTO_QUALITY);
    const media = await uploadBlob(link, blob, { type: 'image/jpeg', name: (file.name || 'photo').replace(/\.[^.]*$/, '') + '.jpg' });
    await ensureMember(id);
    await link.call('chat', 'send', { conversation: id, kind: 'image', media: { hash: media.hash } });
    toast('');
    if (open && open.id === id) await loadHistory(id);
  } catch (e) {
    if (open && open.id === id) { open.error = storeFull(e) ? t('storeFull') : t('photoFailed', { code: errCode(e) }); renderChat(); }
  }
});

async function recall(seq) {
  if (!open || !link) return;
  const id = open.id;
  try {
    await link.call('chat', 'recall', { conversation: id, seq });
    if (open && open.id === id) {
      const m = open.messages.get(seq);
      if (m) open.messages.set(seq, { seq, id: m.id, from: m.from, ts: m.ts, kind: m.kind, recalled: true });
      open.error = '';
    }
  } catch (e) {
    if (open && open.id === id) open.error = errCode(e) === 'conflict' ? t('recallLate') : t('recallFailed', { code: errCode(e) });
  }
  renderChat();
}

$('take-over').addEventListener('click', async () => {
  if (!open || !link) return;
  const id = open.id;
  try {
    const v = await link.call('chat', 'assign', { conversation: id, staff: me });
    upsertConv(v, true);
    toast(t('takenOver'));
  } catch (e) {
    if (open && open.id === id) open.error = errCode(e) === 'conflict' ? t('takeOverConflict') : errText(e);
  }
  renderConversations();
  renderChat();
  $('reply').focus();
});

async function loadQuickReplies() {
  try {
    const ans = await link.call('chat', 'quick_replies', {});
    quickReplies = ans.quick_replies || [];
  } catch (e) {
    quickReplies = [];
  }
}

// ---- the customer beside the chat -----------------------------------------

async function loadCustomer() {
  if (!open || !open.customer || !link) return;
  const id = open.id;
  const customer = open.customer;
  customers.load(customer);
  home.show(customer);
  const [p, b] = await Promise.allSettled([
    link.call('booking', 'profile_list', { customer }),
    link.call('booking', 'list', { customer }),
  ]);
  if (!open || open.id !== id) return;
  open.profiles = p.status === 'fulfilled' ? (p.value.profiles || []) : [];
  open.bookings = b.status === 'fulfilled' ? (b.value.bookings || []) : [];
  renderCustomer();
}

function renderCustomer() {
  if (!open) return;
  $('customer-id').textContent = open.customer ? customers.label(open.customer) + ' · ' + open.customer : '';
  const profiles = open.profiles || [];
  replace($('profiles'), profiles.length ? profiles.map(profileItem) : [h('li', { class: 'muted' }, open.profiles ? t('noProfiles') : '…')]);
  const bks = open.bookings || [];
  replace($('customer-bookings'), bks.length ? bks.map((b) => h('li', {},
    h('strong', {}, dayOf(b.start) + ' ' + hhmm(b.start)), ' ', serviceName(b.service, b.service_name), ' · ',
    t('status_' + b.status), b.stage ? ' · ' + stageName(b.stage) : '')) : [h('li', { class: 'muted' }, open.bookings ? t('noCustomerBookings') : '…')]);
}

function profileItem(p) {
  const facts = [p.species, p.breed, p.size, p.birth_date].filter(Boolean).join(' · ');
  return h('li', { class: 'profile' },
    h('strong', {}, p.name || p.id), facts ? h('span', { class: 'small muted' }, ' ' + facts) : null,
    p.allergies && p.allergies.length ? h('p', { class: 'warn' }, t('allergies', { list: p.allergies.join(', ') })) : null,
    p.temperament ? h('p', { class: 'warn' }, p.temperament) : null,
    p.notes ? h('p', {}, p.notes) : null);
}

// ---- bookings board ----------------------------------------------------------

async function loadCatalogue() {
  try {
    const ans = await link.call('booking', 'services', {});
    stages = ans.stages || [];
    storeZone = ans.time_zone || '';
    services = new Map((ans.services || []).map((s) => [s.id, s]));
  } catch (e) {
    console.warn('console: services', e);
  }
}

async function loadBoard() {
  if (!link) return;
  const wanted = boardWanted;
  try {
    const ans = await link.call('booking', 'board', wanted ? { date: wanted } : {});
    if (wanted !== boardWanted) return; // another day was chosen meanwhile
    boardDate = ans.date || '';
    bookings = ans.bookings || [];
  } catch (e) {
    console.warn('console: board', e);
  }
  renderBoard();
  bookDesk.onBoard(boardDate, !wanted);
}

// Transfer, typing and group read receipts in the chat pane (desk.js).
const desk = initDesk({
  view, i18n, h, replace, toast, openConversation,
  link: () => link,
  me: () => me,
  current: () => (open ? open.id : null),
  message: (seq) => (open ? open.messages.get(seq) : null),
  conv: (id) => convs.get(id),
  label: (id) => customers.label(id),
  title: (id) => { const e = convs.get(id); return e ? convTitle(e) : customers.label(id); },
  upsert: (v) => { upsertConv(v, false); renderAll(); },
});

// The admins' Activity tab (activity.js).
const activity = initActivity({ view, i18n, h, replace, errText, dateTime, link: () => link });

// Close a conversation, and the Reports tab (reports.js).
const reports = initReports({
  view, i18n, h, replace, errText, toast,
  link: () => link,
  open: () => open,
  conv: (id) => convs.get(id),
  staffName: (id) => (id === me ? t('fromYou') + ' (' + id + ')' : id),
  // A close also takes the conversation out of the waiting queue.
  markClosed: (id, ts) => { const e = convs.get(id); if (e) { e.closed = ts; e.waiting = null; } },
  setError: (id, msg) => { if (open && open.id === id) open.error = msg; },
  rerender: () => { renderConversations(); renderChat(); },
});

// Search, labels and internal notes (search.js).
const searchDesk = initSearch({
  view, i18n, h, replace, errText, dateTime, fromName, link: () => link,
  current: () => (open ? { id: open.id, customer: open.customer } : null),
  convTitle: (id) => { const e = convs.get(id); return e ? convTitle(e) : (isCustomer(id) ? customers.label(id) : id); },
  setLabels: (id, labels) => { const e = convs.get(id); if (e) e.labels = labels; },
  onChange: () => renderConversations(),
  // openAt opens a conversation (one not in the list too) at message seq.
  openAt: async (id, seq) => {
    if (!convs.has(id)) {
      convs.set(id, { id, kind: 'direct', title: '', members: [], assigned: [], lastSeq: 0, readUpTo: 0, waiting: null, member: false, lastTs: '', labels: [] });
    }
    if (activeView !== 'chats') setView('chats');
    if (!open || open.id !== id) await openConversation(id);
    if (open && open.id === id && !open.messages.has(seq)) await loadHistory(id, Math.max(0, seq - 10));
    renderChat();
    const li = document.querySelector('#messages li[data-seq="' + seq + '"]');
    if (li) li.scrollIntoView({ block: 'center' });
  },
});

// The day picker, the week and the new-booking form (bookdesk.js).
const bookDesk = initBookDesk({
  view, i18n, h, replace, errText, wallClock, serviceName,
  link: () => link,
  services: () => services,
  showDay: (date) => { boardWanted = date; ui.clear(); return loadBoard(); },
});

const refreshBoard = debounce(() => {
  loadBoard();
  if (open) loadCustomer();
}, 250);

function onBookingEvent() {
  refreshBoard();
}

$('board-refresh').addEventListener('click', () => loadBoard());

function uiOf(id) {
  let u = ui.get(id);
  if (!u) { u = { panel: null, stage: '', snapshot: false, camera: null, reason: '', date: '', slots: null, alternatives: null, msg: '', err: '' }; ui.set(id, u); }
  return u;
}

function rememberedCamera(resource) {
  try { return localStorage.getItem('storeedge.console.camera.' + resource) || ''; } catch (e) { return ''; }
}

function rememberCamera(resource, cam) {
  try { localStorage.setItem('storeedge.console.camera.' + resource, cam); } catch (e) { /* storage off */ }
}

function nextStage(b) {
  const i = stages.indexOf(b.stage);
  return stages[Math.min(stages.length - 1, i + 1)] || stages[0] || '';
}

// A redraw replaces the board's buttons. One between a finger's press and
// its lift would drop the tap (the click needs both on the same button),
// and the board redraws whenever any booking changes, so a busy morning
// lost taps: while a pointer is down on the board the redraw waits for
// the lift, and runs once, after the click.
let boardHeld = false;
let boardPending = false;
$('board').addEventListener('pointerdown', () => { boardHeld = true; }, true);
function releaseBoard() {
  if (!boardHeld) return;
  boardHeld = false;
  if (boardPending) setTimeout(renderBoard, 0); // after the click the lift makes
}
document.addEventListener('pointerup', releaseBoard, true);
document.addEventListener('pointercancel', releaseBoard, true);

window.addEventListener('blur', releaseBoard); // a lift the page never sees

function renderBoard() {
  view.boardAsked = (view.boardAsked || 0) + 1; // redraws asked for, held or not
  if (boardHeld) {
    boardPending = true;
    return;
  }
  boardPending = false;
  view.board = bookings.map((b) => ({ id: b.id, status: b.status, stage: b.stage || '', resources: b.resources || [] }));
  $('board-title').textContent = t('boardTitle', { date: boardDate });
  $('board-empty').hidden = bookings.length > 0;
  // Grouped by the booking's first resource, its table or room; the
  // people it needs are named on the card.
  const groups = new Map();
  for (const b of bookings) {
    const r = (b.resources && b.resources[0]) || '—';
    if (!groups.has(r)) groups.set(r, []);
    groups.get(r).push(b);
  }
  replace($('board'), [...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([res, list]) => h('section', { class: 'lane', 'aria-label': res },
    h('h3', { class: 'lane-title' }, res),
    h('ol', { class: 'lane-list' }, list.map((b) => h('li', {}, bookingCard(b)))))));
}

function bookingCard(b) {
  const u = uiOf(b.id);
  const p = b.profile && typeof b.profile === 'object' ? b.profile : null;
  const k = 'bk-' + b.id + '-';
  const out = [
    h('div', { class: 'bk-head' },
      h('strong', { class: 'bk-time' }, hhmm(b.start) + '–' + hhmm(b.end)),
      h('span', { class: 'badge status-' + b.status }, t('status_' + b.status)),
      b.stage && b.status === 'checked_in' ? h('span', { class: 'badge stage' }, t('stage', { stage: stageName(b.stage) })) : null),
    h('p', { class: 'bk-service' }, serviceName(b.service, b.service_name), ' · ', p && p.name ? h('strong', {}, p.name) : null, p && p.name ? ' · ' : '', (b.contact && b.contact.name) || customers.label(b.customer)),
    h('p', { class: 'small muted' }, (b.resources || []).join(' · ')),
  ];
  const warn = [];
  if (p && p.allergies && p.allergies.length) warn.push(t('allergies', { list: p.allergies.join(', ') }));
  if (p && p.temperament) warn.push(p.temperament);
  if (p && p.notes) warn.push(p.notes);
  if (b.notes) warn.push(t('notes', { text: b.notes }));
  if (warn.length) out.push(h('ul', { class: 'bk-notes' }, warn.map((w) => h('li', {}, w))));

  const actions = [];
  if (b.status === 'booked') {
    actions.push(h('button', { id: k + 'checkin', type: 'button', class: 'primary', onclick: () => act(b, 'check_in', { booking: b.id }) }, t('checkIn')));
    actions.push(h('button', { id: k + 'reschedule', type: 'button', class: 'secondary', 'aria-expanded': u.panel === 'reschedule' ? 'true' : 'false', onclick: () => togglePanel(b, 'reschedule') }, t('reschedule')));
    actions.push(h('button', { id: k + 'cancel', type: 'button', class: 'danger-outline', 'aria-expanded': u.panel === 'cancel' ? 'true' : 'false', onclick: () => togglePanel(b, 'cancel') }, t('cancel')));
  }
  if (b.status === 'checked_in') {
    if (!u.stage || !stages.includes(u.stage)) u.stage = nextStage(b);
    const res = (b.resources && b.resources[0]) || '';
    if (u.camera == null) u.camera = rememberedCamera(res);
    out.push(h('div', { class: 'stage-form' },
      h('div', { class: 'field inline' },
        h('label', { for: k + 'stage' }, t('nextStage')),
        h('select', { id: k + 'stage', onchange: (e) => { u.stage = e.target.value; } },
          stages.map((s) => h('option', { value: s, selected: s === u.stage ? true : null }, stageName(s))))),
      h('label', { class: 'check', for: k + 'snap' },
        h('input', { id: k + 'snap', type: 'checkbox', checked: u.snapshot, onchange: (e) => { u.snapshot = e.target.checked; renderBoard(); } }),
        ' ', t('withSnapshot')),
      u.snapshot ? h('div', { class: 'field inline' },
        h('label', { for: k + 'camera' }, t('cameraField')),
        h('input', { id: k + 'camera', list: 'camera-list', value: u.camera, placeholder: t('cameraAuto'), autocapitalize: 'none', spellcheck: 'false',
          oninput: (e) => { u.camera = e.target.value.trim(); } })) : null,
      h('button', { id: k + 'post', type: 'button', class: 'primary big', onclick: () => postStage(b) }, t('postStage'))));
    actions.push(h('button', { id: k + 'complete', type: 'button', class: 'secondary', onclick: () => act(b, 'complete', { booking: b.id }) }, t('complete')));
  }
  if (actions.length) out.push(h('div', { class: 'actions' }, actions));

  if (u.panel === 'cancel') {
    out.push(h('div', { class: 'panel' },
      h('div', { class: 'field' },
        h('label', { for: k + 'reason' }, t('cancelReason')),
        h('input', { id: k + 'reason', value: u.reason, maxlength: 200, oninput: (e) => { u.reason = e.target.value; } })),
      h('button', { id: k + 'confirm-cancel', type: 'button', class: 'danger', onclick: () => act(b, 'cancel', { booking: b.id, reason: u.reason.trim() || undefined }) }, t('confirmCancel'))));
  }
  if (u.panel === 'reschedule') {
    out.push(h('div', { class: 'panel' },
      h('div', { class: 'field inline' },
        h('label', { for: k + 'date' }, t('newDate')),
        h('input', { id: k + 'date', type: 'date', value: u.date || dayOf(b.start), onchange: (e) => { u.date = e.target.value; loadSlots(b); } })),
      h('p', { class: 'small' }, t('freeSlots')),
      u.slots == null ? h('p', { class: 'muted' }, t('loadingSlots'))
        : u.slots.length === 0 ? h('p', { class: 'muted' }, t('noSlots'))
          : h('div', { class: 'slots' }, u.slots.map((s) => h('button', { id: k + 'slot-' + s.start.replace(/[^0-9]/g, ''), type: 'button', class: 'chip', onclick: () => act(b, 'reschedule', { booking: b.id, start: s.start }) }, hhmm(s.start))))));
  }
  if (u.alternatives && u.alternatives.length) {
    out.push(h('div', { class: 'panel conflict', role: 'group', 'aria-label': t('conflictTaken') },
      h('p', {}, t('conflictTaken')),
      h('div', { class: 'slots' }, u.alternatives.map((s) => h('button', { id: k + 'alt-' + s.start.replace(/[^0-9]/g, ''), type: 'button', class: 'chip', onclick: () => act(b, 'reschedule', { booking: b.id, start: s.start }) },
        (dayOf(s.start) !== dayOf(b.start) ? dayOf(s.start) + ' ' : '') + hhmm(s.start))))));
  }
  out.push(h('p', { id: k + 'msg', class: u.err ? 'error' : 'ok', role: u.err ? 'alert' : 'status' }, u.err || u.msg));
  return h('article', { class: 'booking status-' + b.status, id: 'bk-' + b.id, 'data-booking': b.id, 'aria-label': hhmm(b.start) + ' ' + serviceName(b.service, b.service_name) }, out);
}

function togglePanel(b, panel) {
  const u = uiOf(b.id);
  u.panel = u.panel === panel ? null : panel;
  u.alternatives = null;
  u.err = '';
  if (u.panel === 'reschedule') { u.date = dayOf(b.start); loadSlots(b); }
  renderBoard();
  const focus = $('bk-' + b.id + '-' + (panel === 'cancel' ? 'reason' : 'date'));
  if (focus && u.panel) focus.focus();
}

async function loadSlots(b) {
  const u = uiOf(b.id);
  u.slots = null;
  renderBoard();
  try {
    const ans = await link.call('booking', 'availability', { service: b.service, date: u.date || dayOf(b.start), days: 1, exclude: b.id });
    u.slots = (ans.days && ans.days[0] && ans.days[0].slots) || [];
  } catch (e) {
    u.slots = [];
    u.err = errText(e);
  }
  renderBoard();
}

// act runs one booking op from a card and shows how it went on the card.
async function act(b, op, body, doneVars) {
  const u = uiOf(b.id);
  u.err = '';
  u.msg = '';
  try {
    const ans = await link.call('booking', op, body);
    u.panel = null;
    u.alternatives = null;
    if (op === 'progress') u.stage = ''; // the select moves on to the next stage
    u.msg = t('done_' + op, Object.assign({ time: ans.booking ? dayOf(ans.booking.start) + ' ' + hhmm(ans.booking.start) : '' }, doneVars));
    replaceBooking(ans.booking);
  } catch (e) {
    showBookingError(b, e);
  }
  renderBoard();
  return u.err === '';
}

function showBookingError(b, e) {
  const u = uiOf(b.id);
  if (e instanceof StoreError && e.code === 'conflict' && e.reason === 'taken') {
    u.alternatives = (e.details && e.details.alternatives) || [];
    u.err = t('conflictTaken');
  } else if (e instanceof StoreError && e.code === 'conflict' && e.reason === 'wrong_state') {
    u.err = t('wrongState');
    loadBoard();
  } else {
    u.err = errText(e);
  }
}

function replaceBooking(v) {
  if (!v) return;
  const i = bookings.findIndex((x) => x.id === v.id);
  if (i < 0) return;
  // The op's answer carries no profile; keep the one the board gave.
  bookings[i] = Object.assign({}, v, { profile: bookings[i].profile });
  refreshBoard();
}

// postStage posts the chosen stage, with a snapshot first when asked:
// from the camera staff named (remembered per table), else from the camera
// the store says films this booking's table now.
async function postStage(b) {
  const u = uiOf(b.id);
  const stage = u.stage || nextStage(b);
  u.err = '';
  u.msg = '';
  let photo;
  if (u.snapshot) {
    const cam = (u.camera || '').trim();
    try {
      const ans = await link.call('camera', 'snapshot', cam ? { camera: cam } : { booking: b.id }, { timeoutMs: 20000 });
      photo = ans.media && ans.media.hash;
      if (cam) rememberCamera((b.resources && b.resources[0]) || '', cam);
    } catch (e) {
      const code = errCode(e);
      u.err = t('snapshotFailed', { why: code === 'not_found' ? t('snap_not_found') : code === 'unavailable' ? t('snap_unavailable') : (e.message || code) });
      renderBoard();
      return;
    }
  }
  const body = { booking: b.id, stage };
  if (photo) body.photo = photo;
  const ok = await act(b, 'progress', body, { stage: stageName(stage) });
  if (ok && photo) { u.msg = t('done_progress_photo', { stage: stageName(stage) }); renderBoard(); }
}

// ---- store health --------------------------------------------------------------

function onDeviceStatus(topic, obj) {
  const id = topic.split('/')[1];
  if (!id || !obj) return;
  view.devices = Object.assign({}, view.devices, { [id]: obj.state === 'online' ? 'online' : 'offline' });
  renderHealth();
}

function onCloudStatus(topic, obj) {
  view.cloud = obj && typeof obj === 'object' ? obj : null;
  renderHealth();
}

async function loadHealth() {
  if (!link) return;
  try {
    view.health = await link.call('store', 'health', {});
  } catch (e) {
    view.health = null; // not_found on a store without the op: shown as n/a
  }
  renderHealth();
}

function fact(label, value, cls, id) {
  return [h('dt', {}, label), h('dd', { class: cls || null, id: id || null }, value)];
}

// cloudError shows the bridge's last error while it still holds. The
// status keeps last_error after the link recovers (PROTOCOL.md: compare
// last_error_at with since): while the link is down it is why, in red; once
// a later status says the link is up again, an error from before that
// connect is over and is not shown. One since the connect (HQ refused an
// entry, a delivery is retried) is shown as a warning with its time.
function cloudError(c) {
  if (!c.last_error) return [];
  if (!c.connected) return fact(t('cloudLastError'), c.last_error, 'bad', 'cloud-error');
  const at = Date.parse(c.last_error_at || '');
  const since = Date.parse(c.since || '');
  if (isNaN(at) || isNaN(since) || at <= since) return [];
  return fact(t('cloudLastError'), dateTime(c.last_error_at) + ' · ' + c.last_error, 'warn', 'cloud-error');
}

function renderHealth() {
  const ids = Object.keys(view.devices).sort();
  replace($('devices'), ids.length ? ids.map((id) => h('li', { class: 'device ' + view.devices[id] },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', {}, id), ' ', h('span', { class: 'state' }, t(view.devices[id])))) : [h('li', { class: 'muted' }, t('noDevices'))]);

  const c = view.cloud;
  $('cloud').replaceChildren(...(c ? [
    ...fact(t('cloudState'), c.connected ? t('cloudConnected') : t('cloudDisconnected'), c.connected ? 'ok' : 'bad'),
    ...fact(t('cloudSince'), dateTime(c.since) || t('notAvailable'), null, 'cloud-since'),
    ...fact(t('cloudBacklog'), t('cloudBacklogValue', { n: c.backlog || 0, size: bytes(c.backlog_bytes || 0) }), c.over_budget_bytes > 0 ? 'bad' : null),
    ...fact(t('cloudOldest'), Math.round(c.oldest_age_s || 0) + ' s'),
    ...cloudError(c),
  ] : [h('dd', { class: 'muted' }, t('cloudNone'))]));

  const hl = view.health;
  const na = t('notAvailable');
  const refused = hl && hl.writes_refused;
  $('disk').replaceChildren(
    // Why saving stopped is a sentence: it takes the card's whole width.
    ...(refused ? [h('dt', { class: 'span' }, t('writesRefused')),
      h('dd', { class: 'bad span', id: 'disk-refused' }, t('refused_' + refused, { min: bytes(hl.disk_min_free_bytes || 0) }))] : []),
    ...fact(t('diskFree'), hl ? t('diskValue', { free: bytes(hl.disk_free_bytes), total: bytes(hl.disk_total_bytes) }) : na, refused === 'disk_full' ? 'bad' : null),
    ...(hl && hl.disk_min_free_bytes ? fact(t('diskFloor'), bytes(hl.disk_min_free_bytes)) : []),
    ...fact(t('dbSize'), hl ? bytes(hl.db_bytes) : na),
    ...fact(t('mediaSize'), hl ? bytes(hl.media_bytes) : na),
    ...fact(t('outboxSize'), hl && typeof hl.outbox_bytes === 'number' ? bytes(hl.outbox_bytes) : na));
  renderChecks(hl);
  renderCameraList();
}

// doctorText is a check's detail (which 0) or advice (1) in the page's
// language; a code this page does not know shows the daemon's English.
function doctorText(c, which) {
  const w = (DOCTOR_WORDS[i18n.lang] || DOCTOR_WORDS.en)[c.code] || DOCTOR_WORDS.en[c.code];
  if (!w) return which === 0 ? c.detail : (c.advice || '');
  const args = c.args || {};
  return w[which].replace(/\{(\w+)\}/g, (m, k) => {
    if (args[k] == null) return m;
    return DOCTOR_TIMES.has(k) ? (dateTime(args[k]) || args[k]) : String(args[k]);
  });
}

// renderChecks lists storeedge doctor's checks: a sign, the check's name,
// what was found and, for a warning or a failure, what to do. Failures
// come first, then warnings, so what needs a person is on top.
function renderChecks(hl) {
  const checks = hl && Array.isArray(hl.checks) ? hl.checks : [];
  const rank = { fail: 0, warn: 1, ok: 2 };
  const sorted = checks.map((c, i) => [c, i]).sort((a, b) => ((rank[a[0].severity] ?? 1) - (rank[b[0].severity] ?? 1)) || a[1] - b[1]).map((x) => x[0]);
  const fails = checks.filter((c) => c.severity === 'fail').length;
  const warns = checks.filter((c) => c.severity === 'warn').length;
  $('checks-summary').textContent = !checks.length ? t('checksNone') : (fails + warns ? t('checksAttention', { fails, warns }) : t('checksAllOk'));
  $('checks-summary').className = 'checks-summary sum-' + (fails ? 'fail' : warns ? 'warn' : 'ok');
  replace($('checks'), sorted.map((c) => {
    const sev = DOCTOR_MARKS[c.severity] ? c.severity : 'warn';
    const advice = sev !== 'ok' ? doctorText(c, 1) : '';
    return h('li', { class: 'check ' + sev, 'data-check': c.name, 'data-code': c.code },
      h('span', { class: 'check-mark', 'aria-hidden': 'true' }, DOCTOR_MARKS[sev]),
      h('div', { class: 'check-body' },
        h('div', { class: 'check-head' },
          h('span', { class: 'check-name' }, t('check_' + c.name)),
          h('span', { class: 'check-sev' }, t('sev_' + sev))),
        h('p', { class: 'check-detail' }, doctorText(c, 0)),
        advice ? h('p', { class: 'check-advice' }, h('strong', {}, t('whatToDo')), ' ', advice) : null,
        c.checked ? h('p', { class: 'check-when small muted' }, t('checkedAt', { time: dateTime(c.checked) })) : null));
  }));
}

// The camera field suggests the cameras that reported their status (ids
// starting with "cam"): no op says yet which camera films which table.
function renderCameraList() {
  const cams = Object.keys(view.devices).filter((d) => d.startsWith('cam')).sort();
  $('camera-list').replaceChildren(...cams.map((c) => h('option', { value: c })));
}

// ---- start -------------------------------------------------------------------

renderStatic();
initFAQ({ link: () => link, i18n });
initTeam({ i18n, link: () => link });
initKeep({ i18n });
initNotices({ i18n, link: () => link, dateTime });
setState('login');
// Tests may prefill the username (?u=) and put the password in the
// fragment (#p=…), which the browser never sends; it is taken out of the
// address bar at once. A real sign-in types both.
{
  const q = new URLSearchParams(location.search);
  if (q.get('u')) $('user').value = q.get('u');
  const frag = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (frag.get('p')) {
    $('pass').value = frag.get('p');
    history.replaceState(null, '', location.pathname + location.search);
  }
  (($('user').value && !$('pass').value) ? $('pass') : $('user')).focus();
  // The first-run page hands the new admin's login over once, in this
  // tab's session storage: taken out at once, then signed in with.
  let handoff = null;
  try {
    handoff = JSON.parse(sessionStorage.getItem('storeedge.console.handoff') || 'null');
    sessionStorage.removeItem('storeedge.console.handoff');
  } catch (e) { /* storage off or garbage: sign in by hand */ }
  if (handoff && typeof handoff.u === 'string' && typeof handoff.p === 'string') {
    $('user').value = handoff.u;
    signIn(handoff.u, handoff.p);
  }
}
