// Starts the real `ai-backup ui` for a test: a temporary config (journal in the temporary
// directory, Dify's stores spelled out), a temporary backup folder, port 0, and the URL with
// its token parsed from the first `http://127.0.0.1:` line on stdout. Also raw HTTP requests
// (any Host, Origin or cookie) for the access tests.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO } from './stack.js';

export function tempDir(prefix = 'ai-backup-ui-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startServer({ backupDir, extraArgs = [] } = {}) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`no ai-backup binary at ${BIN}: build it (CARGO_TARGET_DIR=/var/cache/ai-backup/target cargo build -p ai-backup) or set AI_BACKUP_BIN`);
  }
  const dir = tempDir();
  const config = path.join(dir, 'config.toml');
  const journal = path.join(dir, 'journal.log');
  fs.writeFileSync(config, `[journal]
path = ${JSON.stringify(journal)}

[modules.dify]
objects = { store = "minio", buckets = ["dify-*"] }
indices = { store = "es", patterns = ["dify-*"] }
`);
  backupDir = backupDir || path.join(dir, 'backups');
  fs.mkdirSync(backupDir, { recursive: true });
  const args = ['--config', config, 'ui', '--no-open', '--port', '0', '--backup-dir', backupDir, ...extraArgs];
  const proc = spawn(BIN, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ai-backup ui printed no URL in 30 s; stdout: ${out} stderr: ${err}`)), 30000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ai-backup ui exited ${code}: ${err}`)); });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+\/\S*/);
      if (m) { clearTimeout(timer); resolve(m[0].replace(/[)\].,;'"]+$/, '')); }
    });
  });
  proc.removeAllListeners('exit');
  proc.stdout.resume();
  const u = new URL(url);
  return {
    url,
    origin: u.origin,
    port: Number(u.port),
    token: u.searchParams.get('token'),
    dir,
    config,
    journal,
    backupDir,
    stderr: () => err,
    /** Stops the server and removes its temporary directory (kept with AI_BACKUP_UI_KEEP=1). */
    async stop() {
      if (proc.exitCode === null && !proc.signalCode) {
        const exited = new Promise((r) => proc.on('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(t);
      }
      if (!process.env.AI_BACKUP_UI_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One HTTP request with exactly these headers: {status, headers, body (text), json}. */
export function rawRequest(port, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, setHost: !('Host' in headers) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; if (text.length > 1e6) res.destroy(); });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${p}: no answer in 30 s`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The `ab_token` cookie the token URL sets: "ab_token=..." (and the raw answer). */
export async function login(server) {
  const u = new URL(server.url);
  const res = await rawRequest(server.port, { path: `${u.pathname}${u.search}` });
  const set = [].concat(res.headers['set-cookie'] || []);
  const cookie = set.map((c) => c.split(';')[0]).find((c) => c.startsWith('ab_token='));
  return { cookie, res, set };
}
