// The restore dialog of <ab-module-card> (page mode): choose an archive of the backup folder
// or upload one (streamed from the File object), verify it (a refused archive stops here with
// the library's words), offer to restore a differing secret, then a confirmation listing what
// will be overwritten and stopped, enabled only once the module id is typed. The job then runs
// on the card. An encrypted archive (listed as such, or an upload the server recognised) asks
// for its passphrase before the verification; it goes in the request bodies only and is
// forgotten when the dialog closes. Part of the card, split off to keep it short.
import { t, label, formatBytes, formatDate } from './i18n.js';
import { h, dialogShell, button, showError, newId } from './dom.js';

export class RestoreFlow {
  constructor(card) {
    this.card = card;
    const id = card.moduleId;
    Object.assign(this, dialogShell('ab-dlg-restore', 'rs.title', { module: id }, () => this._closed()));
    this.radioName = newId(`ab-archive-${id}`);
    // Step 1: choose
    this.listMsg = h('p', { class: 'ab-muted' });
    this.list = h('div', { class: 'ab-archives' });
    const fileId = newId('ab-file');
    this.file = h('input', { id: fileId, type: 'file', class: 'ab-file-input', accept: '.gz,.tgz,.age,application/gzip' });
    this.file.addEventListener('change', () => {
      if (!this.file.files.length) return this._select(null);
      for (const r of this.list.querySelectorAll('input[type=radio]')) r.checked = false;
      const file = this.file.files[0];
      this._select({ file, encrypted: file.name.endsWith('.age') });
    });
    this.fileMsg = h('p', { class: 'ab-muted ab-upload-msg', hidden: true });
    const passId = newId('ab-pass');
    this.pass = h('input', { id: passId, type: 'password', class: 'ab-passphrase', autocomplete: 'off' });
    this.pass.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this._verify(); }
    });
    this.passBox = h('div', { class: 'ab-passphrase-box', hidden: true },
      h('label', { for: passId, class: 'ab-field-label', i18n: 'rs.passphrase' }), this.pass,
      h('p', { class: 'ab-muted', i18n: 'rs.passphraseHint' }));
    this.stepChoose = h('section', { class: 'ab-step ab-step-choose' },
      h('h3', { i18n: 'rs.choose' }),
      h('fieldset', { class: 'ab-fieldset' }, h('legend', { i18n: 'rs.fromFolder' }), this.listMsg, this.list),
      h('fieldset', { class: 'ab-fieldset' }, h('legend', { i18n: 'rs.upload' }),
        h('label', { for: fileId, class: 'ab-field-label', i18n: 'rs.uploadFile' }), this.file, this.fileMsg),
      this.passBox);
    // Step 2: verification (and the secrets' choice)
    this.vbar = h('progress', { class: 'ab-progress', 'aria-label': t('rs.verifying') });
    this.vbytes = h('span', { class: 'ab-muted' });
    this.verifying = h('div', { class: 'ab-verifying' }, h('p', { i18n: 'rs.verifying' }), this.vbar, this.vbytes);
    this.okSummary = h('p', { class: 'ab-summary-line' });
    this.okText = h('pre', { class: 'ab-text' });
    this.okBox = h('div', { class: 'ab-verified' }, h('h3', { class: 'ab-succeeded', i18n: 'rs.verified' }), this.okSummary,
      h('details', {}, h('summary', { i18n: 'rs.details' }), this.okText));
    this.refusedText = h('p', { class: 'ab-refused-text' });
    this.refusedBox = h('div', { class: 'ab-refused', role: 'alert' }, h('h3', { class: 'ab-failed', i18n: 'rs.refused' }), this.refusedText);
    this.secretsBox = h('div', { class: 'ab-secrets' });
    this.restoreSecrets = h('input', { type: 'checkbox', class: 'ab-restore-secrets' });
    this.stepVerify = h('section', { class: 'ab-step ab-step-verify' }, this.verifying, this.refusedBox, this.okBox, this.secretsBox);
    // Step 3: confirmation
    const typedId = newId('ab-confirm');
    this.overwrites = h('ul', { class: 'ab-list ab-overwrites' });
    this.typed = h('input', { id: typedId, type: 'text', class: 'ab-typed', autocomplete: 'off', spellcheck: 'false' });
    this.typed.addEventListener('input', () => { this.btnStart.disabled = this.typed.value.trim() !== id; });
    this.typed.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this._start(); }
    });
    this.stepConfirm = h('section', { class: 'ab-step ab-step-confirm' },
      h('h3', { i18n: 'rs.confirmTitle' }), h('p', { i18n: 'rs.overwrites' }), this.overwrites,
      h('p', { class: 'ab-warn', i18n: 'rs.suggest' }),
      h('label', { for: typedId, class: 'ab-field-label', i18n: ['rs.typeId', { module: id }] }), this.typed);
    this.body.append(this.stepChoose, this.stepVerify, this.stepConfirm);
    this.btnCancel = button('btn.cancel', () => this.dialog.close());
    this.btnBack = button('btn.back', () => this._step(this.step === 'confirm' ? 'verify' : 'choose'));
    this.btnVerify = button('rs.verify', () => this._verify(), 'ab-primary');
    this.btnNext = button('btn.next', () => this._confirm(), 'ab-primary');
    this.btnStart = button('rs.start', () => this._start(), 'ab-danger');
    this.footer.append(this.btnCancel, this.btnBack, this.btnVerify, this.btnNext, this.btnStart);
    this._reset();
  }

  get tr() { return this.card.transport; }

  async open() {
    this._reset();
    this.dialog.showModal();
    const seq = this._seq;
    label(this.listMsg, 'rs.loading');
    try {
      const archives = await this.tr.archives();
      if (seq !== this._seq) return;
      this._renderList(archives || []);
    } catch (e) {
      if (seq === this._seq) showError(this.error, e);
    }
  }

  _renderList(archives) {
    label(this.listMsg, 'rs.none');
    this.listMsg.hidden = !!archives.length;
    if (!archives.length) return this.list.replaceChildren();
    const th = (k) => h('th', { scope: 'col', i18n: k });
    const rows = archives.map((a) => {
      const rid = newId('ab-arch');
      const radio = h('input', { type: 'radio', name: this.radioName, id: rid, value: a.path, disabled: !!a.error });
      radio.addEventListener('change', () => {
        if (!radio.checked) return;
        this.file.value = '';
        this._select({ path: a.path, module: a.module, encrypted: !!a.encrypted });
      });
      const name = h('label', { for: rid, class: 'ab-file' }, a.fileName);
      if (a.error) {
        return h('tr', { class: 'ab-unreadable' }, h('td', {}, radio), h('td', {}, name),
          h('td', { colspan: 3, class: 'ab-error-cell' }, h('span', { i18n: 'rs.unreadable' }), ': ', a.error),
          h('td', {}, formatBytes(a.bytes)));
      }
      return h('tr', { class: a.module === this.card.moduleId ? 'ab-own' : 'ab-other' },
        h('td', {}, radio), h('td', {}, name), h('td', {}, a.module || ''), h('td', {}, formatDate(a.createdAt)),
        h('td', {}, a.encrypted ? h('span', { class: 'ab-encrypted', i18n: 'rs.encrypted' }) : a.summary || (a.components || []).join(', ')),
        h('td', {}, formatBytes(a.bytes)));
    });
    this.list.replaceChildren(h('table', { class: 'ab-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'ab-sr' }, '✓')),
        th('rs.col.file'), th('rs.col.module'), th('rs.col.date'), th('rs.col.contents'), th('rs.col.size'))),
      h('tbody', {}, rows)));
    // Keyboard users start in the list (the dialog first focused the upload field).
    if (!this.sel && this.dialog.contains(document.activeElement)) {
      this.list.querySelector('input[type=radio]:not(:disabled)')?.focus();
    }
  }

  _select(sel) {
    this.sel = sel;
    this.btnVerify.disabled = !sel;
    this._askPassphrase(!!sel?.encrypted);
    showError(this.error, '');
  }

  _askPassphrase(on) {
    const was = !this.passBox.hidden;
    this.passBox.hidden = !on;
    if (!on) this.pass.value = '';
    if (on && !was) this.pass.focus();
  }

  _reset() {
    this._seq = (this._seq || 0) + 1;
    this.sel = null;
    this.archive = null;
    this.passphrase = '';
    this.upload = null;
    this.used = false;
    this.file.value = '';
    this.fileMsg.hidden = true;
    this.list.replaceChildren();
    this.listMsg.hidden = false;
    this.restoreSecrets.checked = false;
    this.pass.value = '';
    this.passBox.hidden = true;
    showError(this.error, '');
    this._step('choose');
    this.btnVerify.disabled = true;
  }

  _closed() {
    if (this.upload && !this.used) this.tr.discardUpload?.(this.upload.id);
    this._reset();
  }

  _step(name) {
    this.step = name;
    this.stepChoose.hidden = name !== 'choose';
    this.stepVerify.hidden = name !== 'verify';
    this.stepConfirm.hidden = name !== 'confirm';
    this.btnBack.hidden = name === 'choose';
    this.btnVerify.hidden = name !== 'choose';
    this.btnNext.hidden = name !== 'verify';
    this.btnStart.hidden = name !== 'confirm';
    if (name === 'choose') showError(this.error, '');
  }

  /** Progress of the server's verification, from the job events of kind `verify`. */
  onVerifyJob(job) {
    if (this.step !== 'verify' || this.verifying.hidden || job.state !== 'running') return;
    if (job.totalBytes) { this.vbar.max = job.totalBytes; this.vbar.value = Math.min(job.bytes || 0, job.totalBytes); }
    this.vbytes.textContent = job.totalBytes ? `${formatBytes(job.bytes)} / ${formatBytes(job.totalBytes)}` : formatBytes(job.bytes);
  }

  async _verify() {
    if (!this.sel || this.btnVerify.disabled) return;
    const seq = this._seq;
    this.btnVerify.disabled = true;
    showError(this.error, '');
    let archive;
    if (this.sel.file) {
      const file = this.sel.file;
      if (!this.upload || this.upload.file !== file) {
        this.fileMsg.hidden = false;
        label(this.fileMsg, 'rs.uploading');
        try {
          const up = await this.tr.upload(file);
          if (seq !== this._seq) return this.tr.discardUpload?.(up.upload);
          if (this.upload) this.tr.discardUpload?.(this.upload.id);
          this.upload = { file, id: up.upload, encrypted: !!up.encrypted };
          label(this.fileMsg, 'rs.uploaded', { name: up.fileName || file.name });
        } catch (e) {
          if (seq !== this._seq) return;
          this.fileMsg.hidden = true;
          this.btnVerify.disabled = false;
          return showError(this.error, e);
        }
      }
      archive = { upload: this.upload.id };
      // Recognised by its content, whatever its name: ask before verifying.
      if (this.upload.encrypted && !this.pass.value) {
        this.sel.encrypted = true;
        this._askPassphrase(true);
        this.btnVerify.disabled = false;
        return;
      }
    } else {
      archive = { path: this.sel.path };
    }
    if (this.sel.encrypted && !this.pass.value) {
      this.btnVerify.disabled = false;
      this.pass.focus();
      return showError(this.error, { message: '', labelKey: 'rs.passphraseNeeded' });
    }
    this.passphrase = this.sel.encrypted ? this.pass.value : '';
    this.btnVerify.disabled = false;
    this.archive = archive;
    this._step('verify');
    for (const el of [this.refusedBox, this.okBox, this.secretsBox]) el.hidden = true;
    this.verifying.hidden = false;
    this.vbar.removeAttribute('value');
    this.vbytes.textContent = '';
    this.btnNext.disabled = true;
    try {
      const v = await this.tr.verify(this.card.moduleId, archive, this.passphrase);
      if (seq !== this._seq) return;
      if (!v || !v.ok) throw new Error(v?.error || '');
      this.okSummary.textContent = v.summary || '';
      this.okText.textContent = v.text || '';
      this.okBox.hidden = false;
      this._renderSecrets((v.secrets || []).filter((s) => s.differs));
      this.btnNext.disabled = false;
      this.btnNext.focus();
    } catch (e) {
      if (seq !== this._seq) return;
      showError(this.refusedText, e);
      this.refusedText.hidden = false;
      this.refusedBox.hidden = false;
      this.btnNext.hidden = true;
      this.btnBack.focus();
    } finally {
      if (seq === this._seq) this.verifying.hidden = true;
    }
  }

  _renderSecrets(differing) {
    this.restoreSecrets.checked = false;
    this.secretsBox.hidden = !differing.length;
    if (!differing.length) return this.secretsBox.replaceChildren();
    // `canRestore` per docs/ui-api.md; without it, a key set through the container's
    // environment (`fromEnv`) is the one that cannot be replaced from outside.
    const names = differing.filter((s) => s.canRestore ?? !s.fromEnv).map((s) => s.name);
    this.secretsBox.replaceChildren(
      h('h3', { i18n: 'rs.secretsTitle' }),
      ...differing.map((s) => h('p', { class: 'ab-secret-text' }, s.text)),
      h('p', { class: 'ab-muted', i18n: 'rs.secretsMove' }));
    if (names.length) {
      this.secretsBox.append(h('label', { class: 'ab-check' }, this.restoreSecrets,
        h('span', { i18n: ['rs.secretsCheck', { name: names.join(', ') }] })));
    }
  }

  async _confirm() {
    const seq = this._seq;
    this._step('confirm');
    this.typed.value = '';
    this.btnStart.disabled = true;
    this.overwrites.replaceChildren();
    this.typed.focus();
    try {
      const plan = await this.tr.plan(this.card.moduleId);
      if (seq !== this._seq) return;
      this.overwrites.replaceChildren(...(plan.overwrites || []).map((l) => h('li', {}, l)));
    } catch (e) {
      if (seq === this._seq) showError(this.error, e);
    }
  }

  async _start() {
    const id = this.card.moduleId;
    if (this.btnStart.disabled || this.typed.value.trim() !== id) return;
    this.btnStart.disabled = true;
    showError(this.error, '');
    try {
      const job = await this.tr.restore(id, this.archive, this.restoreSecrets.checked, this.typed.value.trim(), this.passphrase);
      this.used = true;
      this.card.job = job;
      this.dialog.close();
    } catch (e) {
      showError(this.error, e);
      this.btnStart.disabled = false;
    }
  }
}
