// The card's transport inside the desktop app: the same methods as http.js over `window.api`
// of the Electron preload (backupModuleData, restoreModuleData, onModuleProgress,
// cancelModuleJob). The main process shows the save/open dialogs and the restore confirmation
// itself, so this transport turns its NDJSON progress events into Job objects like the
// server's and the card only shows progress, a cancel button and the result.

export function createElectronTransport(api = window.api) {
  const listeners = new Set();
  const jobs = new Map(); // module id -> Job
  let seq = 0;

  const emit = (ev) => { for (const cb of listeners) cb(ev); };
  const publish = (job) => emit({ type: 'job', job: { ...job } });

  function tick(job) {
    const now = Date.now();
    job.elapsedMs = now - job.t0;
    const dt = (now - job.rateAt) / 1000;
    if (dt >= 0.5) {
      job.bytesPerSec = Math.max(0, Math.round((job.bytes - job.rateBytes) / dt));
      job.rateAt = now;
      job.rateBytes = job.bytes;
    }
  }

  api.onModuleProgress?.(({ moduleId, event }) => {
    const job = jobs.get(moduleId);
    if (!job || job.state !== 'running' || !event) return;
    if (event.event === 'phase') {
      job.phase = event.phase;
      job.bytes = 0;
      job.rateBytes = 0;
      job.totalBytes = event.total_bytes ?? null;
    } else if (event.event === 'progress') {
      if (event.phase) job.phase = event.phase;
      job.bytes = event.bytes ?? job.bytes;
    } else if ((event.event === 'info' || event.event === 'warning') && event.message) {
      job.messages = [...job.messages, event.message].slice(-50);
    }
    tick(job);
    publish(job);
  });

  function start(kind, id, call) {
    const running = jobs.get(id);
    if (running && running.state === 'running') {
      const err = new Error('');
      err.status = 409;
      return Promise.reject(err);
    }
    const now = Date.now();
    const job = {
      id: `e-${++seq}`, module: id, kind, state: 'running', phase: null, bytes: 0,
      totalBytes: null, bytesPerSec: 0, startedAt: new Date(now).toISOString(), elapsedMs: 0,
      messages: [], result: null, t0: now, rateAt: now, rateBytes: 0,
    };
    jobs.set(id, job);
    Promise.resolve()
      .then(call)
      .catch((e) => ({ success: false, error: String(e?.message || e) }))
      .then((result) => {
        tick(job);
        const r = result || { success: false, error: '' };
        job.result = r;
        job.state = r.success ? 'succeeded' : r.cancelled ? 'cancelled' : 'failed';
        publish(job);
      });
    publish(job);
    return Promise.resolve({ ...job });
  }

  const none = () => Promise.reject(new Error('not available in the desktop app'));

  return {
    kind: 'electron',
    /** The main process shows the save/open dialogs and the confirmation. */
    nativeDialogs: true,
    state: async () => ({ backupDir: null, modules: [], jobs: [...jobs.values()] }),
    plan: none,
    archives: async () => [],
    verify: none,
    setBackupDir: none,
    upload: none,
    discardUpload: async () => null,
    downloadUrl: () => null,
    backup: (id) => start('backup', id, () => api.backupModuleData(id)),
    restore: (id) => start('restore', id, () => api.restoreModuleData(id)),
    cancel: async (id) => {
      await api.cancelModuleJob?.(id);
      return jobs.get(id) ? { ...jobs.get(id) } : null;
    },
    onEvent(cb) {
      listeners.add(cb);
      cb({ type: 'snapshot', jobs: [...jobs.values()].map((j) => ({ ...j })) });
      return () => listeners.delete(cb);
    },
  };
}
