// The settings page (系统设置 → 模块设置) served by `ai-backup ui`: the header with the language
// switch, the backup folder (shown and changeable), and one <ab-module-card> per module of
// GET /api/state. Exists to put the cards on a page and keep their state fresh; everything a
// person does with a module lives in the card.
import './ab-module-card.js';
import { t, relabel, getLang, setLang, onLangChange } from './i18n.js';
import { h, showError, newId } from './dom.js';
import { createHttpTransport } from './http.js';
import { createElectronTransport } from './electron.js';

const transport = window.api?.backupModuleData ? createElectronTransport(window.api) : createHttpTransport();
const DEFAULT_MODULES = ['n8n', 'oneapi', 'dify', 'ragflow'];

const langBtn = h('button', { type: 'button', class: 'ab-lang', onclick: () => setLang(getLang() === 'zh' ? 'en' : 'zh') });
const connLost = h('p', { class: 'ab-banner', role: 'status', hidden: true, i18n: 'conn.lost' });
const stateMsg = h('p', { class: 'ab-muted', role: 'status', i18n: 'state.loading' });
const stateErr = h('p', { class: 'ab-error', role: 'alert', hidden: true });
const cards = h('div', { class: 'ab-cards' });

// The backup folder: shown, and changed through PUT /api/settings.
const folderInputId = newId('ab-folder');
const folderPath = h('code', { class: 'ab-folder-path' });
const folderInput = h('input', { id: folderInputId, type: 'text', class: 'ab-path', spellcheck: 'false', autocomplete: 'off', hidden: true });
const folderChange = h('button', { type: 'button', i18n: 'folder.change', onclick: () => editFolder(true) });
const folderSave = h('button', { type: 'button', class: 'ab-primary', i18n: 'folder.save', hidden: true, onclick: () => saveFolder() });
const folderCancel = h('button', { type: 'button', i18n: 'folder.cancel', hidden: true, onclick: () => editFolder(false) });
const folderMsg = h('p', { class: 'ab-muted', role: 'status', i18n: 'folder.saved', hidden: true });
const folderErr = h('p', { class: 'ab-error', role: 'alert', hidden: true });
folderInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') { e.preventDefault(); saveFolder(); }
  if (e.key === 'Escape') { e.preventDefault(); editFolder(false); }
});
const folder = h('section', { class: 'ab-folder', 'aria-labelledby': `${folderInputId}-label` },
  h('label', { id: `${folderInputId}-label`, for: folderInputId, class: 'ab-field-label', i18n: 'folder.label' }),
  h('div', { class: 'ab-folder-row' }, folderPath, folderInput, folderChange, folderSave, folderCancel),
  folderErr, folderMsg);

function editFolder(on) {
  folderPath.hidden = on;
  folderInput.hidden = !on;
  folderChange.hidden = on;
  folderSave.hidden = !on;
  folderCancel.hidden = !on;
  showError(folderErr, '');
  folderMsg.hidden = true;
  if (on) {
    folderInput.value = folderPath.textContent;
    folderInput.focus();
    folderInput.select();
  } else {
    folderChange.focus();
  }
}

async function saveFolder() {
  const dir = folderInput.value.trim();
  if (!dir) return;
  folderSave.disabled = true;
  try {
    const res = await transport.setBackupDir(dir);
    folderPath.textContent = res?.backupDir || dir;
    editFolder(false);
    folderMsg.hidden = false;
    await refresh();
  } catch (e) {
    showError(folderErr, e);
  } finally {
    folderSave.disabled = false;
  }
}

/** Draws the state: the folder and one card per module (kept across refreshes). */
async function refresh() {
  let state;
  try {
    state = await transport.state();
  } catch (e) {
    stateMsg.hidden = true;
    showError(stateErr, e);
    stateErr.prepend(h('span', { i18n: 'state.failed' }));
    return;
  }
  stateMsg.hidden = true;
  showError(stateErr, '');
  folder.hidden = !state.backupDir;
  if (state.backupDir && folderInput.hidden) folderPath.textContent = state.backupDir;
  const order = (id) => (DEFAULT_MODULES.includes(id) ? DEFAULT_MODULES.indexOf(id) : DEFAULT_MODULES.length);
  const modules = (state.modules?.length ? [...state.modules] : DEFAULT_MODULES.map((id) => ({ id })))
    .sort((a, b) => order(a.id) - order(b.id));
  const existing = new Map([...cards.children].map((c) => [c.getAttribute('module'), c]));
  for (const m of modules) {
    let card = existing.get(m.id);
    if (!card) {
      card = document.createElement('ab-module-card');
      card.setAttribute('module', m.id);
      card.transport = transport;
      cards.append(card);
    }
    existing.delete(m.id);
    card.info = m.containers ? m : null;
  }
  for (const gone of existing.values()) gone.remove();
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 200);
}

function relabelPage() {
  relabel(document.body);
  langBtn.textContent = t('lang.switch');
  langBtn.setAttribute('aria-label', t('lang.switchName'));
  langBtn.lang = getLang() === 'zh' ? 'en' : 'zh-CN';
  document.title = `${t('app.title')} · ${t('app.section')}`;
}

function main() {
  document.documentElement.lang = getLang() === 'zh' ? 'zh-CN' : 'en';
  const root = document.getElementById('app') || document.body;
  root.replaceChildren(
    h('header', { class: 'ab-header' },
      h('div', {},
        h('p', { class: 'ab-crumb' }, h('span', { i18n: 'app.title' }), h('span', { 'aria-hidden': 'true' }, ' › ')),
        h('h1', { i18n: 'app.section' })),
      langBtn),
    h('main', { class: 'ab-main' },
      h('p', { class: 'ab-intro', i18n: 'app.intro' }), connLost, folder, stateMsg, stateErr, cards));
  relabelPage();
  onLangChange(relabelPage);
  document.addEventListener('ab-job-ended', refreshSoon);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshSoon(); });
  let wasLost = false;
  transport.onEvent((ev) => {
    if (ev.type !== 'connection') return;
    connLost.hidden = ev.connected;
    if (ev.connected && wasLost) refreshSoon();
    wasLost = !ev.connected;
  });
  refresh();
}

main();
