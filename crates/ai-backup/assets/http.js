// The card's transport over the HTTP API of `ai-backup ui` (docs/ui-api.md): JSON requests
// with the page's cookie, uploads streamed from the File object, and the job events of
// `/api/events` over one shared EventSource that reconnects. Exists so the card and the page
// talk to one object whose methods are the same as the desktop app's (electron.js).

/** An error the API answered with: `message` is its plain-words `error`, `status` the HTTP code. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

async function request(method, url, body, headers = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    if (body instanceof Blob) {
      init.body = body; // streamed by the browser from the file, never read by the page
    } else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError('', 0); // the card shows its own "cannot reach the server" label
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`.trim();
    throw new ApiError(msg, res.status);
  }
  return data;
}

const enc = encodeURIComponent;

/** Header values must be Latin-1: the file name keeps its ASCII characters. */
function headerSafe(name) {
  return Array.from(name || 'upload.tar.gz', (c) => (c >= ' ' && c <= '~' ? c : '_')).join('');
}

export function createHttpTransport(base = '') {
  const listeners = new Set();
  let source = null;
  let retry = null;
  let delay = 1000;
  let known = null; // the jobs as last heard (by id), replayed to a late subscriber

  const emit = (ev) => { for (const cb of listeners) cb(ev); };

  function connect() {
    retry = null;
    source = new EventSource(`${base}/api/events`, { withCredentials: true });
    source.addEventListener('open', () => { delay = 1000; emit({ type: 'connection', connected: true }); });
    source.addEventListener('snapshot', (e) => {
      const jobs = JSON.parse(e.data).jobs || [];
      known = new Map(jobs.map((j) => [j.id, j]));
      emit({ type: 'snapshot', jobs });
    });
    source.addEventListener('job', (e) => {
      const job = JSON.parse(e.data);
      if (known) known.set(job.id, job);
      emit({ type: 'job', job });
    });
    source.addEventListener('error', () => {
      emit({ type: 'connection', connected: false });
      // The browser retries by itself unless it gave up (a refused or non-event-stream answer).
      if (source.readyState === EventSource.CLOSED && listeners.size && !retry) {
        source = null;
        retry = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      }
    });
  }

  return {
    kind: 'http',
    /** The page shows the save and open steps itself (the desktop app's main process does not). */
    nativeDialogs: false,
    state: () => request('GET', `${base}/api/state`),
    plan: (id) => request('GET', `${base}/api/modules/${enc(id)}/plan`),
    archives: () => request('GET', `${base}/api/archives`),
    setBackupDir: (dir) => request('PUT', `${base}/api/settings`, { backupDir: dir }),
    /** `archive` is {path} or {upload}; a passphrase (of an encrypted archive) goes in the body only. */
    verify: (id, archive, passphrase) =>
      request('POST', `${base}/api/verify`, { module: id, archive, ...(passphrase ? { passphrase } : {}) }),
    /** With a passphrase, the archive is encrypted (….tar.gz.age). */
    backup: (id, path, passphrase) =>
      request('POST', `${base}/api/modules/${enc(id)}/backup`, { ...(path ? { path } : {}), ...(passphrase ? { passphrase } : {}) }),
    restore: (id, archive, restoreSecrets, confirm, passphrase) =>
      request('POST', `${base}/api/modules/${enc(id)}/restore`,
        { archive, restoreSecrets: !!restoreSecrets, confirm, ...(passphrase ? { passphrase } : {}) }),
    cancel: (id) => request('POST', `${base}/api/modules/${enc(id)}/cancel`, {}),
    upload: (file) => request('POST', `${base}/api/uploads`, file, {
      'Content-Type': 'application/octet-stream',
      'X-File-Name': headerSafe(file.name),
    }),
    discardUpload: (upload) => request('DELETE', `${base}/api/uploads/${enc(upload)}`).catch(() => null),
    downloadUrl: (path) => `${base}/api/download?path=${enc(path)}`,
    /** cb gets {type:'snapshot', jobs}, {type:'job', job} or {type:'connection', connected}. */
    onEvent(cb) {
      listeners.add(cb);
      if (!source && !retry) connect();
      else if (known) cb({ type: 'snapshot', jobs: [...known.values()] });
      return () => {
        listeners.delete(cb);
        if (!listeners.size) {
          if (source) source.close();
          if (retry) clearTimeout(retry);
          source = null;
          retry = null;
          known = null;
        }
      };
    },
  };
}
