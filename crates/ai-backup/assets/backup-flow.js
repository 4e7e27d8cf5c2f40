// The backup dialog of <ab-module-card> (page mode): first what will be backed up with the
// expected time and space and the warning that the archive holds secrets, then where to save
// it (the backup folder's default name, editable), then the job starts and the card shows its
// progress. Encrypting with a passphrase (typed twice) is an option of the save step; the
// passphrase goes to the server in the request body only and is forgotten when the dialog
// closes. Cancelling the dialog does nothing. Part of the card, split off to keep it short.
import { h, dialogShell, button, showError, newId } from './dom.js';

/** An error line in the page's own words (a label that follows the language). */
const labelled = (key) => ({ message: '', labelKey: key });

export class BackupFlow {
  constructor(card) {
    this.card = card;
    const id = card.moduleId;
    Object.assign(this, dialogShell('ab-dlg-backup', 'bk.title', { module: id }, () => this._reset()));
    this.loading = h('p', { class: 'ab-muted ab-loading', i18n: 'bk.loading' });
    this.planText = h('pre', { class: 'ab-text ab-plan-text' });
    this.estimate = h('p', { class: 'ab-estimate' });
    this.stepPlan = h('section', { class: 'ab-step ab-step-plan' },
      this.loading,
      h('h3', { i18n: 'bk.what' }), this.planText,
      h('h3', { i18n: 'bk.estimate' }), this.estimate,
      h('div', { class: 'ab-warn', role: 'note' },
        h('strong', { i18n: 'bk.secretsTitle' }), h('p', { i18n: 'bk.secrets' })));
    const pathId = newId('ab-path');
    this.path = h('input', { id: pathId, type: 'text', class: 'ab-path', spellcheck: 'false', autocomplete: 'off' });
    this.path.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this._start(); }
    });
    this.encrypt = h('input', { type: 'checkbox', class: 'ab-encrypt' });
    this.encrypt.addEventListener('change', () => this._encryptChanged());
    const passId = newId('ab-pass');
    const againId = newId('ab-pass2');
    this.pass = h('input', { id: passId, type: 'password', class: 'ab-passphrase', autocomplete: 'new-password' });
    this.pass2 = h('input', { id: againId, type: 'password', class: 'ab-passphrase', autocomplete: 'new-password' });
    this.passBox = h('div', { class: 'ab-passphrase-box', hidden: true },
      h('label', { for: passId, class: 'ab-field-label', i18n: 'bk.passphrase' }), this.pass,
      h('label', { for: againId, class: 'ab-field-label', i18n: 'bk.passphraseAgain' }), this.pass2,
      h('p', { class: 'ab-muted', i18n: 'bk.passphraseHint' }));
    this.stepSave = h('section', { class: 'ab-step ab-step-save', hidden: true },
      h('label', { for: pathId, class: 'ab-field-label', i18n: 'bk.where' }), this.path,
      h('p', { class: 'ab-muted', i18n: 'bk.whereHint' }),
      h('label', { class: 'ab-check' }, this.encrypt, h('span', { i18n: 'bk.encrypt' })), this.passBox);
    this.body.append(this.stepPlan, this.stepSave);
    this.btnCancel = button('btn.cancel', () => this.dialog.close());
    this.btnBack = button('btn.back', () => this._step('plan'));
    this.btnNext = button('btn.next', () => this._step('save'), 'ab-primary');
    this.btnStart = button('bk.start', () => this._start(), 'ab-primary');
    this.footer.append(this.btnCancel, this.btnBack, this.btnNext, this.btnStart);
    this._reset();
  }

  async open() {
    this._reset();
    this.dialog.showModal();
    const seq = ++this._seq;
    try {
      const plan = await this.card.transport.plan(this.card.moduleId);
      if (seq !== this._seq) return;
      this.plan = plan;
      this.planText.textContent = plan.text || (plan.overwrites || []).join('\n');
      this.estimate.textContent = plan.estimate?.text || '';
      this.btnNext.disabled = false;
      this.btnNext.focus();
    } catch (e) {
      if (seq === this._seq) showError(this.error, e);
    } finally {
      if (seq === this._seq) this.loading.hidden = true;
    }
  }

  _reset() {
    this._seq = (this._seq || 0) + 1;
    this.plan = null;
    this.planText.textContent = '';
    this.estimate.textContent = '';
    this.path.value = '';
    this.encrypt.checked = false;
    this.pass.value = '';
    this.pass2.value = '';
    this.passBox.hidden = true;
    this.loading.hidden = false;
    this.btnNext.disabled = true;
    this.btnStart.disabled = false;
    showError(this.error, '');
    this._step('plan');
  }

  _step(name) {
    this.stepPlan.hidden = name !== 'plan';
    this.stepSave.hidden = name !== 'save';
    this.btnBack.hidden = name === 'plan';
    this.btnNext.hidden = name !== 'plan';
    this.btnStart.hidden = name !== 'save';
    if (name === 'save') {
      if (!this.path.value) this.path.value = this.plan?.defaultPath || '';
      this.path.focus();
    }
  }

  /** An encrypted archive is named ….tar.gz.age (….tar.zst.age): the name follows the checkbox. */
  _encryptChanged() {
    const on = this.encrypt.checked;
    this.passBox.hidden = !on;
    const p = this.path.value;
    const plain = p.endsWith('.tar.gz') || p.endsWith('.tar.zst');
    if (on && plain) this.path.value = `${p}.age`;
    if (!on && /\.tar\.(gz|zst)\.age$/.test(p)) this.path.value = p.slice(0, -'.age'.length);
    if (on) this.pass.focus();
  }

  /** The passphrase to encrypt with ('' for none), or null after saying why it cannot be used. */
  _passphrase() {
    if (!this.encrypt.checked) return '';
    if (!this.pass.value) { showError(this.error, labelled('bk.passphraseEmpty')); return null; }
    if (this.pass.value !== this.pass2.value) { showError(this.error, labelled('bk.passphraseDiffer')); return null; }
    return this.pass.value;
  }

  async _start() {
    if (this.btnStart.disabled) return;
    showError(this.error, '');
    const passphrase = this._passphrase();
    if (passphrase === null) return;
    this.btnStart.disabled = true;
    try {
      const job = await this.card.transport.backup(this.card.moduleId, this.path.value.trim(), passphrase);
      this.card.job = job;
      this.dialog.close();
    } catch (e) {
      showError(this.error, e);
      this.btnStart.disabled = false;
    }
  }
}
