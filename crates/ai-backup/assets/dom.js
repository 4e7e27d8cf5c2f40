// Small DOM helpers shared by the card and its dialogs: building elements in one expression,
// the shell of an accessible modal dialog, and showing or hiding an error line. Exists so the
// component files stay short and free of a framework.
import { label } from './i18n.js';

let uid = 0;
/** A new id unique on the page, for aria-labelledby and label[for]. */
export function newId(prefix = 'ab') { uid += 1; return `${prefix}-${uid}`; }

/**
 * h('button', {type: 'button', i18n: 'btn.backup', onclick}, ...children): an element.
 * `i18n` is a label key or [key, vars] (kept up to date on a language switch); `on*` are
 * listeners; true/false/null attributes are set empty or left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'i18n') label(el, ...(Array.isArray(v) ? v : [v]));
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false || c === '') continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/**
 * Shows an error in `el` (an error line), or hides it when there is none: a text, or an error
 * of the transport in plain words (a 409 said as such, in labels that follow the language).
 */
export function showError(el, e) {
  const nodes = errorNodes(e);
  el.replaceChildren(...nodes);
  el.hidden = !nodes.length;
}

/** The nodes saying error `e` (a string, or an error of the transport). */
export function errorNodes(e) {
  if (!e) return [];
  if (typeof e === 'string') return [e];
  if (e.labelKey) return [h('span', { i18n: e.labelKey })];
  if (e.status === 409) return [h('span', { i18n: 'err.busy' }), e.message ? ` (${e.message})` : ''].filter(Boolean);
  return e.message ? [e.message] : [h('span', { i18n: 'err.network' })];
}

/**
 * A modal <dialog> labelled by its heading: {dialog, title, body, error, footer}. Escape
 * closes it (the browser's own `cancel`); `onClose` runs after every close.
 */
export function dialogShell(cls, titleKey, vars, onClose) {
  const titleId = newId('ab-dlg-title');
  const title = h('h2', { id: titleId, class: 'ab-dialog-title', i18n: [titleKey, vars] });
  const body = h('div', { class: 'ab-dialog-body' });
  const error = h('p', { class: 'ab-error', role: 'alert', hidden: true });
  const footer = h('div', { class: 'ab-dialog-actions' });
  const dialog = h('dialog', { class: `ab-dialog ${cls}`, 'aria-labelledby': titleId }, title, body, error, footer);
  dialog.addEventListener('close', () => onClose?.());
  return { dialog, title, body, error, footer };
}

/** A button of a dialog's footer. */
export function button(key, onclick, cls) {
  return h('button', { type: 'button', class: cls, i18n: key, onclick });
}

