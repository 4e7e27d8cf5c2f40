// The page's own labels in Chinese (the default) and English, and the remembered choice.
// Exists so every label lives in one table: texts about plans, archives and outcomes come
// from the API ready to show and are never translated here.

const LABELS = {
  zh: {
    'app.title': '系统设置',
    'app.section': '模块设置',
    'app.intro': '为每个模块备份数据，或从备份文件恢复。',
    'lang.switch': 'English',
    'lang.switchName': 'Switch to English',
    'conn.lost': '与服务器的连接已断开，正在重新连接…',
    'folder.label': '备份文件夹',
    'folder.change': '更改',
    'folder.save': '保存',
    'folder.cancel': '取消',
    'folder.saved': '备份文件夹已更改。',
    'state.loading': '正在读取模块状态…',
    'state.failed': '无法读取模块状态：',
    'card.containers': '容器',
    'card.database': '数据库',
    'card.objects': '对象存储',
    'card.indices': '索引',
    'card.lastBackup': '上次备份',
    'card.noBackup': '备份文件夹中还没有此模块的备份',
    'card.problem': '问题',
    'card.noContainers': '未找到容器',
    'ct.running': '运行中',
    'ct.stopped': '已停止',
    'ct.paused': '已暂停',
    'ct.missing': '不存在',
    'ct.health': '健康状态',
    'badge.running': '运行中',
    'badge.partial': '部分未运行',
    'badge.stopped': '未运行',
    'db.missing': '不存在',
    'n.objects': '{n} 个对象',
    'n.documents': '{n} 个文档',
    'btn.backup': '备份数据',
    'btn.restore': '恢复备份',
    'btn.cancel': '取消',
    'btn.close': '关闭',
    'btn.next': '下一步',
    'btn.back': '返回',
    'btn.cancelJob': '取消任务',
    'btn.dismiss': '知道了',
    'job.backup': '正在备份',
    'job.restore': '正在恢复',
    'job.verify': '正在校验',
    'job.phase': '阶段',
    'job.bytes': '已处理',
    'job.rate': '速度',
    'job.elapsed': '用时',
    'job.cancelling': '正在取消…',
    'job.messages': '过程信息',
    'res.backupOk': '备份完成',
    'res.restoreOk': '恢复完成',
    'res.backupFailed': '备份失败',
    'res.restoreFailed': '恢复失败',
    'res.cancelled': '已取消',
    'res.path': '文件',
    'res.download': '下载备份文件',
    'err.busy': '此模块已有任务在运行，请等它结束后再试。',
    'err.network': '无法连接到服务器。',
    'bk.title': '备份 {module}',
    'bk.what': '将备份的内容',
    'bk.estimate': '预计时间和空间',
    'bk.secretsTitle': '请妥善保管备份文件',
    'bk.secrets': '备份文件包含机密信息：API 密钥、凭据和加密密钥。请把它保存在安全的地方，不要分享给他人。',
    'bk.where': '保存位置',
    'bk.whereHint': '默认保存在备份文件夹中，可以修改路径。',
    'bk.start': '开始备份',
    'bk.loading': '正在读取备份计划…',
    'bk.encrypt': '使用密码加密',
    'bk.passphrase': '密码',
    'bk.passphraseAgain': '再次输入密码',
    'bk.passphraseHint': '没有这个密码就无法恢复此备份，也无法找回密码。加密后的备份文件名以 .age 结尾。',
    'bk.passphraseEmpty': '请输入密码。',
    'bk.passphraseDiffer': '两次输入的密码不一致。',
    'rs.title': '恢复 {module}',
    'rs.choose': '选择备份文件',
    'rs.fromFolder': '备份文件夹中的备份',
    'rs.none': '备份文件夹中没有备份文件。',
    'rs.loading': '正在读取备份文件列表…',
    'rs.col.file': '文件',
    'rs.col.module': '模块',
    'rs.col.date': '日期',
    'rs.col.contents': '内容',
    'rs.col.size': '大小',
    'rs.unreadable': '无法读取',
    'rs.upload': '或从电脑上传备份文件',
    'rs.uploadFile': '备份文件（.tar.gz、.tar.zst，加密的以 .age 结尾）',
    'rs.uploading': '正在上传…',
    'rs.uploaded': '已上传：{name}',
    'rs.verify': '校验',
    'rs.verifying': '正在校验备份文件（检查每个校验和）…',
    'rs.verified': '校验通过',
    'rs.refused': '此备份文件被拒绝',
    'rs.details': '备份内容详情',
    'rs.secretsTitle': '密钥不一致',
    'rs.secretsMove': '把数据迁移到新机器时，通常需要同时恢复备份中的密钥。',
    'rs.secretsCheck': '同时恢复备份中的 {name}',
    'rs.confirmTitle': '确认恢复',
    'rs.overwrites': '以下内容将被覆盖或停止：',
    'rs.suggest': '建议先点击“备份数据”备份当前数据，再进行恢复。',
    'rs.typeId': '请输入模块名 {module} 以确认',
    'rs.start': '确认恢复',
    'rs.encrypted': '已加密',
    'rs.passphrase': '备份文件的密码',
    'rs.passphraseHint': '此备份文件已加密：校验和恢复都需要它的密码。',
    'rs.passphraseNeeded': '请输入此加密备份文件的密码。',
  },
  en: {
    'app.title': 'Settings',
    'app.section': 'Module settings',
    'app.intro': 'Back up the data of each module, or restore it from an archive.',
    'lang.switch': '中文',
    'lang.switchName': '切换到中文',
    'conn.lost': 'The connection to the server was lost; reconnecting…',
    'folder.label': 'Backup folder',
    'folder.change': 'Change',
    'folder.save': 'Save',
    'folder.cancel': 'Cancel',
    'folder.saved': 'The backup folder was changed.',
    'state.loading': 'Reading the modules’ state…',
    'state.failed': 'Could not read the modules’ state: ',
    'card.containers': 'Containers',
    'card.database': 'Database',
    'card.objects': 'Object storage',
    'card.indices': 'Indices',
    'card.lastBackup': 'Last backup',
    'card.noBackup': 'No backup of this module in the backup folder yet',
    'card.problem': 'Problem',
    'card.noContainers': 'No containers found',
    'ct.running': 'running',
    'ct.stopped': 'stopped',
    'ct.paused': 'paused',
    'ct.missing': 'missing',
    'ct.health': 'health',
    'badge.running': 'Running',
    'badge.partial': 'Not all running',
    'badge.stopped': 'Not running',
    'db.missing': 'missing',
    'n.objects': '{n} objects',
    'n.documents': '{n} documents',
    'btn.backup': 'Back up data',
    'btn.restore': 'Restore backup',
    'btn.cancel': 'Cancel',
    'btn.close': 'Close',
    'btn.next': 'Next',
    'btn.back': 'Back',
    'btn.cancelJob': 'Cancel job',
    'btn.dismiss': 'Dismiss',
    'job.backup': 'Backing up',
    'job.restore': 'Restoring',
    'job.verify': 'Verifying',
    'job.phase': 'Phase',
    'job.bytes': 'Processed',
    'job.rate': 'Rate',
    'job.elapsed': 'Elapsed',
    'job.cancelling': 'Cancelling…',
    'job.messages': 'Messages',
    'res.backupOk': 'Backup finished',
    'res.restoreOk': 'Restore finished',
    'res.backupFailed': 'Backup failed',
    'res.restoreFailed': 'Restore failed',
    'res.cancelled': 'Cancelled',
    'res.path': 'File',
    'res.download': 'Download the archive',
    'err.busy': 'A job of this module is running already; try again when it has ended.',
    'err.network': 'The server cannot be reached.',
    'bk.title': 'Back up {module}',
    'bk.what': 'What will be backed up',
    'bk.estimate': 'Expected time and space',
    'bk.secretsTitle': 'Keep the archive safe',
    'bk.secrets': 'The archive holds secrets: API keys, credentials and encryption keys. Keep it in a safe place and do not share it.',
    'bk.where': 'Save to',
    'bk.whereHint': 'By default the archive goes to the backup folder; you can change the path.',
    'bk.start': 'Start backup',
    'bk.loading': 'Reading the backup plan…',
    'bk.encrypt': 'Encrypt with a passphrase',
    'bk.passphrase': 'Passphrase',
    'bk.passphraseAgain': 'Passphrase again',
    'bk.passphraseHint': 'Without this passphrase the archive cannot be restored, and it cannot be recovered. An encrypted archive’s name ends in .age.',
    'bk.passphraseEmpty': 'Type a passphrase.',
    'bk.passphraseDiffer': 'The two passphrases differ.',
    'rs.title': 'Restore {module}',
    'rs.choose': 'Choose an archive',
    'rs.fromFolder': 'Archives in the backup folder',
    'rs.none': 'There are no archives in the backup folder.',
    'rs.loading': 'Reading the list of archives…',
    'rs.col.file': 'File',
    'rs.col.module': 'Module',
    'rs.col.date': 'Date',
    'rs.col.contents': 'Contents',
    'rs.col.size': 'Size',
    'rs.unreadable': 'unreadable',
    'rs.upload': 'Or upload an archive from this computer',
    'rs.uploadFile': 'Archive (.tar.gz or .tar.zst; .age after either when encrypted)',
    'rs.uploading': 'Uploading…',
    'rs.uploaded': 'Uploaded: {name}',
    'rs.verify': 'Verify',
    'rs.verifying': 'Verifying the archive (every checksum)…',
    'rs.verified': 'Verified',
    'rs.refused': 'This archive is refused',
    'rs.details': 'What the archive holds',
    'rs.secretsTitle': 'A secret differs',
    'rs.secretsMove': 'When moving to a new machine, restoring the archived secret is the usual choice.',
    'rs.secretsCheck': 'Also restore the archived {name}',
    'rs.confirmTitle': 'Confirm the restore',
    'rs.overwrites': 'This will be overwritten or stopped:',
    'rs.suggest': 'Consider backing up the current data first (“Back up data”).',
    'rs.typeId': 'Type the module name {module} to confirm',
    'rs.start': 'Restore now',
    'rs.encrypted': 'encrypted',
    'rs.passphrase': 'Passphrase of the archive',
    'rs.passphraseHint': 'This archive is encrypted: verifying and restoring it need its passphrase.',
    'rs.passphraseNeeded': 'Type the passphrase of this encrypted archive.',
  },
};

const KEY = 'ab-lang';
const listeners = new Set();
let lang = 'zh';
try {
  const saved = localStorage.getItem(KEY);
  if (saved && LABELS[saved]) lang = saved;
} catch { /* storage unavailable: stay with Chinese */ }

export function getLang() { return lang; }

export function setLang(next) {
  if (!LABELS[next] || next === lang) return;
  lang = next;
  try { localStorage.setItem(KEY, next); } catch { /* not remembered */ }
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  for (const cb of listeners) cb(lang);
}

/** Calls `cb(lang)` on every change; returns the unsubscribe function. */
export function onLangChange(cb) {
  listeners.add(cb);
  return () => listeners.delete(cb);
}

/** The label `key` in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const s = LABELS[lang][key] ?? LABELS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** An element whose text is the label `key`: kept up to date by `relabel`. */
export function label(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars);
  return el;
}

/** Re-labels every element under `root` marked by `label` (after a language switch). */
export function relabel(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
}

/** 1536 -> "1.5 KiB": sizes as the page shows them. */
export function formatBytes(n) {
  if (n == null || !Number.isFinite(Number(n))) return '–';
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 75000 -> "01:15": elapsed time. */
export function formatElapsed(ms) {
  const s = Math.max(0, Math.floor((ms || 0) / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** An ISO time as local "YYYY-MM-DD HH:MM:SS" (the text itself when it does not parse). */
export function formatDate(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return iso || '–';
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
