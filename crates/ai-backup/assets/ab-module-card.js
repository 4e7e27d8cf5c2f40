// <ab-module-card module="n8n">: one module's card on the settings page and in the desktop
// app, with everything a person does with that module: its state, its last backup, the backup
// and restore flows in their dialogs, a running job's progress with a cancel button, and the
// outcome. Framework-free and without shadow DOM (the page's style.css applies); it talks only
// to the transport it is given (http.js or electron.js), so both front ends share it.
import { t, label, relabel, onLangChange, formatBytes, formatElapsed, formatDate } from './i18n.js';
import { h, showError } from './dom.js';
import { BackupFlow } from './backup-flow.js';
import { RestoreFlow } from './restore-flow.js';

const NAMES = { n8n: 'n8n', oneapi: 'One API', dify: 'Dify', ragflow: 'RAGFlow' };

class ModuleCard extends HTMLElement {
  constructor() {
    super();
    this._transport = null;
    this._info = null;
    this._job = null;
    this._states = new Map(); // job id -> last state seen (to notice the end of a job)
    this._dismissed = null;
    this._off = null;
    this._timer = null;
  }

  get moduleId() { return this.getAttribute('module'); }

  set transport(tr) {
    this._transport = tr;
    if (this.isConnected) this._subscribe();
  }
  get transport() { return this._transport; }

  /** The module's entry of GET /api/state (or null). */
  set info(m) {
    this._info = m;
    if (this._built) this._renderInfo();
  }

  /** Called by the transport's events: the job shown on the card. */
  set job(job) { this._setJob(job); }

  connectedCallback() {
    if (!this._built) this._build();
    this._offLang = onLangChange(() => this._relabel());
    this._subscribe();
  }

  disconnectedCallback() {
    this._off?.();
    this._off = null;
    this._offLang?.();
    clearInterval(this._timer);
    this._timer = null;
  }

  _subscribe() {
    if (!this._transport || this._off) return;
    this._off = this._transport.onEvent((ev) => {
      if (ev.type === 'snapshot') {
        const mine = ev.jobs.filter((j) => j.module === this.moduleId);
        for (const j of mine.filter((x) => x.kind === 'verify')) this._restore.onVerifyJob(j);
        const shown = mine.filter((j) => j.kind !== 'verify');
        const running = shown.find((j) => j.state === 'running');
        const latest = shown.sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt)))[0];
        this._setJob(running || latest || null);
      } else if (ev.type === 'job' && ev.job.module === this.moduleId) {
        if (ev.job.kind === 'verify') this._restore.onVerifyJob(ev.job);
        else if (!this._job || ev.job.id === this._job.id || ev.job.state === 'running'
          || String(ev.job.startedAt) >= String(this._job.startedAt)) this._setJob(ev.job);
      }
    });
  }

  _build() {
    this._built = true;
    const id = this.moduleId;
    const titleId = `ab-card-title-${id}`;
    this._badge = h('span', { class: 'ab-badge' });
    this._facts = h('dl', { class: 'ab-facts' });
    this._problem = h('p', { class: 'ab-problem', role: 'alert', hidden: true });
    this._error = h('p', { class: 'ab-error', role: 'alert', hidden: true });
    this._btnBackup = h('button', { type: 'button', class: 'ab-primary', i18n: 'btn.backup', onclick: () => this._startBackup() });
    this._btnRestore = h('button', { type: 'button', i18n: 'btn.restore', onclick: () => this._startRestore() });
    this._jobBox = h('section', { class: 'ab-job', 'aria-label': id, hidden: true });
    // Announces a job's start and end once (the progress itself changes too often to be read).
    this._live = h('p', { class: 'ab-sr', role: 'status' });
    this._backup = new BackupFlow(this);
    this._restore = new RestoreFlow(this);
    const card = h('article', { class: 'ab-card', 'aria-labelledby': titleId },
      h('header', { class: 'ab-card-head' },
        h('h2', { id: titleId }, NAMES[id] || id, ' ', h('code', { class: 'ab-id' }, id)),
        this._badge),
      this._facts, this._problem,
      h('div', { class: 'ab-actions' }, this._btnBackup, this._btnRestore),
      this._error, this._jobBox, this._live, this._backup.dialog, this._restore.dialog);
    this.replaceChildren(card);
    this._renderInfo();
    this._renderJob();
  }

  _relabel() {
    relabel(this);
    this._renderInfo();
    this._renderJob();
  }

  get busy() { return this._job?.state === 'running'; }

  showError(e) { showError(this._error, e); }

  _startBackup() {
    this.showError(null);
    if (this._transport?.nativeDialogs) {
      this._transport.backup(this.moduleId).then((j) => this._setJob(j), (e) => this.showError(e));
    } else {
      this._backup.open();
    }
  }

  _startRestore() {
    this.showError(null);
    if (this._transport?.nativeDialogs) {
      this._transport.restore(this.moduleId).then((j) => this._setJob(j), (e) => this.showError(e));
    } else {
      this._restore.open();
    }
  }

  _renderInfo() {
    const m = this._info;
    const rows = [];
    const add = (key, ...content) => rows.push(h('dt', { i18n: key }), h('dd', {}, ...content));
    if (m) {
      const cts = m.containers || [];
      const run = cts.filter((c) => c.running && !c.paused).length;
      const badge = !cts.length || run === 0 ? 'stopped' : run === cts.length ? 'running' : 'partial';
      label(this._badge, `badge.${badge}`);
      this._badge.className = `ab-badge ab-badge-${badge}`;
      this._badge.hidden = false;
      add('card.containers', cts.length ? h('ul', { class: 'ab-list' }, cts.map((c) => {
        const st = !c.exists ? 'missing' : c.paused ? 'paused' : c.running ? 'running' : 'stopped';
        return h('li', {}, h('span', { class: `ab-dot ab-dot-${st}`, 'aria-hidden': 'true' }), `${c.name}: `,
          h('span', { i18n: `ct.${st}` }), c.health ? ` (${t('ct.health')}: ${c.health})` : '');
      })) : h('span', { i18n: 'card.noContainers' }));
      const db = m.database;
      if (db) {
        add('card.database', db.present
          ? `${db.name} · ${db.engine} · ${formatBytes(db.bytes)}`
          : h('span', {}, `${db.name} · ${db.engine} · `, h('span', { i18n: 'db.missing' })));
      }
      if (m.objects?.length) {
        add('card.objects', h('ul', { class: 'ab-list' }, m.objects.map((o) => h('li', {},
          `${o.bucket}${o.prefix ? `/${o.prefix}` : ''}: ${t('n.objects', { n: o.objects })}, ${formatBytes(o.bytes)}`))));
      }
      if (m.indices?.length) {
        add('card.indices', h('ul', { class: 'ab-list' }, m.indices.map((i) => h('li', {},
          `${i.index}: ${t('n.documents', { n: i.documents })}`))));
      }
      const lb = m.lastBackup;
      add('card.lastBackup', lb
        ? h('span', { class: 'ab-last' }, h('span', { class: 'ab-file' }, lb.fileName), ' · ', formatDate(lb.createdAt),
          ' · ', formatBytes(lb.bytes), lb.summary ? h('span', { class: 'ab-summary' }, lb.summary) : '')
        : h('span', { class: 'ab-muted', i18n: 'card.noBackup' }));
      showError(this._problem, m.problem || '');
    } else {
      this._badge.hidden = true;
    }
    this._facts.replaceChildren(...rows);
    this._btnBackup.disabled = this.busy;
    this._btnRestore.disabled = this.busy;
  }

  _setJob(job) {
    const prev = job ? this._states.get(job.id) : undefined;
    if (job) this._states.set(job.id, job.state);
    this._job = job ? { ...job, receivedAt: Date.now() } : null;
    if (!this._built) return;
    this._btnBackup.disabled = this.busy;
    this._btnRestore.disabled = this.busy;
    this._renderJob();
    if (job && prev !== job.state) {
      this._live.textContent = `${this.moduleId}: ${this._jobBox.querySelector('h3')?.textContent || ''}`;
    }
    if (job && job.state !== 'running' && prev === 'running') {
      this.dispatchEvent(new CustomEvent('ab-job-ended', { bubbles: true, detail: { job } }));
    }
  }

  _renderJob() {
    const j = this._job;
    clearInterval(this._timer);
    this._timer = null;
    if (!j || (j.state !== 'running' && this._dismissed === j.id)) {
      this._jobBox.hidden = true;
      this._jobBox.replaceChildren();
      return;
    }
    this._jobBox.hidden = false;
    this._jobBox.dataset.state = j.state;
    this._jobBox.dataset.kind = j.kind;
    const kids = [];
    if (j.state === 'running') {
      const elapsed = h('span', { class: 'ab-elapsed' });
      const tickElapsed = () => { elapsed.textContent = formatElapsed((j.elapsedMs || 0) + Date.now() - j.receivedAt); };
      tickElapsed();
      this._timer = setInterval(tickElapsed, 1000);
      const bar = h('progress', { class: 'ab-progress', 'aria-label': t(`job.${j.kind}`) });
      if (j.totalBytes) { bar.max = j.totalBytes; bar.value = Math.min(j.bytes || 0, j.totalBytes); }
      const cancel = h('button', { type: 'button', class: 'ab-cancel', i18n: this._cancelling === j.id ? 'job.cancelling' : 'btn.cancelJob' });
      cancel.disabled = this._cancelling === j.id;
      cancel.onclick = () => {
        this._cancelling = j.id;
        label(cancel, 'job.cancelling');
        cancel.disabled = true;
        this._transport.cancel(this.moduleId).catch((e) => {
          this._cancelling = null;
          this.showError(e);
          this._renderJob();
        });
      };
      const bytes = j.totalBytes ? `${formatBytes(j.bytes)} / ${formatBytes(j.totalBytes)}` : formatBytes(j.bytes);
      kids.push(
        h('h3', { class: 'ab-job-title' }, h('span', { class: 'ab-spinner', 'aria-hidden': 'true' }), h('span', { i18n: `job.${j.kind}` })),
        bar,
        h('dl', { class: 'ab-job-facts' },
          h('dt', { i18n: 'job.phase' }), h('dd', { class: 'ab-phase' }, j.phase || '…'),
          h('dt', { i18n: 'job.bytes' }), h('dd', { class: 'ab-bytes' }, bytes),
          h('dt', { i18n: 'job.rate' }), h('dd', { class: 'ab-rate' }, `${formatBytes(j.bytesPerSec || 0)}/s`),
          h('dt', { i18n: 'job.elapsed' }), h('dd', {}, elapsed)),
        j.messages?.length ? h('p', { class: 'ab-muted ab-lastmsg' }, j.messages[j.messages.length - 1]) : null,
        h('div', { class: 'ab-actions' }, cancel));
    } else {
      const r = j.result || {};
      const kind = j.kind === 'restore' ? 'restore' : 'backup';
      const head = j.state === 'succeeded' ? `res.${kind}Ok` : j.state === 'cancelled' ? 'res.cancelled' : `res.${kind}Failed`;
      kids.push(h('h3', { class: `ab-job-title ab-${j.state}`, i18n: head }));
      if (j.state === 'succeeded') {
        if (r.text) kids.push(h('pre', { class: 'ab-text ab-result-text' }, r.text));
        if (kind === 'backup' && r.path) {
          const url = this._transport?.downloadUrl?.(r.path);
          kids.push(h('p', { class: 'ab-result-path' }, h('span', { i18n: 'res.path' }), ': ', h('code', {}, r.path)));
          if (url) kids.push(h('p', {}, h('a', { href: url, download: r.path.split(/[\\/]/).pop(), class: 'ab-download', i18n: 'res.download' })));
        }
      } else if (j.state !== 'cancelled') {
        kids.push(h('p', { class: 'ab-error ab-result-error', role: 'alert' }, r.error || ''));
      }
      if (j.messages?.length) {
        kids.push(h('details', { class: 'ab-messages' }, h('summary', { i18n: 'job.messages' }),
          h('ul', { class: 'ab-list' }, j.messages.map((m) => h('li', {}, m)))));
      }
      kids.push(h('div', { class: 'ab-actions' }, h('button', {
        type: 'button', i18n: 'btn.dismiss', onclick: () => { this._dismissed = j.id; this._renderJob(); },
      })));
    }
    this._jobBox.replaceChildren(...kids.filter(Boolean));
  }
}

if (!customElements.get('ab-module-card')) customElements.define('ab-module-card', ModuleCard);

export { ModuleCard };
