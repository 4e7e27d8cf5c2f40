// The browser tests' hands on the local Docker stack: the shared stack lock, SQL in the
// Postgres and MariaDB containers (passwords passed through the environment, never in argv or
// output), seeding and damaging n8n and Dify, and fingerprints of their data (tables, objects,
// index documents) to prove a restore brought everything back.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.AI_BACKUP_BIN || '/var/cache/ai-backup/target/debug/ai-backup';
const STACK_DIR = process.env.AI_BACKUP_STACK_DIR || '/var/lib/ai-backup-stack';
const LOCK = '/tmp/ai-backup-stack-tests.lock';

/** The stack's credentials (stack.env), for the child processes' environment only. */
export function stackEnv() {
  const env = {};
  const text = fs.readFileSync(path.join(STACK_DIR, 'stack.env'), 'utf8');
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    env[m[1]] = v;
  }
  return env;
}
const SECRETS = stackEnv();

/** Runs a command; returns stdout. Fails with the command's stderr (never its environment). */
export function run(cmd, args, { input, env = {}, cwd = REPO, allowFail = false } = {}) {
  const r = spawnSync(cmd, args, {
    input, cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  if (r.status !== 0 && !allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || '').slice(-2000)}`);
  }
  return r.stdout;
}

/** SQL on n8n's Postgres; rows as tab-separated lines. */
export function psql(db, sql) {
  return run('docker', ['exec', '-i', '-e', 'PGPASSWORD', 'ai-server-postgres', 'psql', '-X', '-q', '-A', '-t',
    '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-U', SECRETS.POSTGRES_USER, '-d', db],
  { input: sql, env: { PGPASSWORD: SECRETS.POSTGRES_PASSWORD } });
}

/** SQL on the shared MariaDB; rows as tab-separated lines (no header). */
export function mysql(db, sql) {
  const args = ['exec', '-i', '-e', 'MYSQL_PWD', 'ai-server-mysql', 'mysql', '-uroot', '-N', '-B'];
  if (db) args.push(db);
  return run('docker', args, { input: sql, env: { MYSQL_PWD: SECRETS.MARIADB_ROOT_PASSWORD } });
}

/** `python3 scripts/demo.d/stores.py ...` with the S3 credentials. */
export function stores(args, input) {
  return run('python3', ['scripts/demo.d/stores.py', ...args], {
    input, env: { MINIO_ROOT_USER: SECRETS.MINIO_ROOT_USER, MINIO_ROOT_PASSWORD: SECRETS.MINIO_ROOT_PASSWORD },
  });
}

/**
 * Holds the shared stack lock (flock on /tmp/ai-backup-stack-tests.lock, the one the Rust
 * tests take) while `fn` runs: only one process drives the Docker stack at a time.
 */
export async function withStackLock(fn) {
  const child = spawn('flock', [LOCK, '-c', 'echo locked; read _'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const asked = Date.now();
  await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`flock exited ${code}`)));
    child.stdout.on('data', (d) => { if (String(d).includes('locked')) resolve(); });
  });
  if (Date.now() - asked > 2000) console.log(`# waited ${Math.round((Date.now() - asked) / 1000)} s for the stack lock`);
  try {
    return await fn();
  } finally {
    child.removeAllListeners('exit');
    child.stdin.end();
    await new Promise((r) => { child.on('exit', r); setTimeout(r, 5000); });
  }
}

/** Waits until the module's HTTP health answers after a restore restarted it. */
export async function waitHttp(url, timeoutMs = 120000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (r.status < 500) return true;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

// ---- n8n ------------------------------------------------------------------------------

export function seedN8n() {
  psql('postgres', 'DROP DATABASE IF EXISTS n8n_db WITH (FORCE);\nCREATE DATABASE n8n_db;\n');
  psql('n8n_db', fs.readFileSync(path.join(REPO, 'tests/fixtures/n8n_postgres.sql'), 'utf8'));
}

/** Every base table of n8n_db: "schema.table" -> "rows md5-of-all-rows". */
export function n8nFingerprint() {
  const tables = psql('n8n_db', `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
    FROM information_schema.tables WHERE table_type = 'BASE TABLE'
    AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;`).trim().split('\n').filter(Boolean);
  if (!tables.length) return {};
  const sql = tables.map((t) => `SELECT '${t.replace(/'/g, "''")}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ${t} x`)
    .join('\nUNION ALL\n') + ';';
  const out = {};
  for (const line of psql('n8n_db', sql).trim().split('\n')) {
    const [t, n, md5] = line.split('\t');
    out[t] = `${n} ${md5}`;
  }
  return out;
}

const N8N_CONFIG = '/home/node/.n8n/config';

/** The `encryptionKey` of the n8n container's config file (never printed). */
export function n8nKey() {
  return JSON.parse(run('docker', ['exec', 'ai-server-n8n', 'cat', N8N_CONFIG])).encryptionKey;
}

/** Replaces n8n's config file with another key, as a move to another machine would; stdin only. */
export function setN8nKey(key) {
  run('docker', ['exec', '-i', 'ai-server-n8n', 'sh', '-c', `cat > ${N8N_CONFIG}`],
    { input: JSON.stringify({ encryptionKey: key }, null, 2) });
}

export function damageN8n() {
  psql('n8n_db', 'DELETE FROM execution_data;\nDELETE FROM execution_entity;\nUPDATE workflow_entity SET name = \'damaged\';\n');
}

// ---- Dify -----------------------------------------------------------------------------

export function seedDify() {
  mysql(null, 'DROP DATABASE IF EXISTS dify_db; CREATE DATABASE dify_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;');
  mysql('dify_db', fs.readFileSync(path.join(REPO, 'tests/fixtures/dify_mysql.sql'), 'utf8'));
  stores(['clear-scope'], run(BIN, ['plan', 'dify', '--json']));
  stores(['seed', 'dify']);
}

export function damageDify() {
  mysql('dify_db', 'SET FOREIGN_KEY_CHECKS=0; DELETE FROM datasets;');
  stores(['damage', 'dify']);
}

/** dify_db: table -> "rows checksum"; bucket dify-files: key -> "size sha256"; index dify-docs: id -> source. */
export async function difyFingerprint() {
  const tables = mysql('dify_db', "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dify_db' AND table_type = 'BASE TABLE' ORDER BY 1;")
    .trim().split('\n').filter(Boolean);
  const db = {};
  if (tables.length) {
    const q = (t) => `\`${t.replace(/`/g, '``')}\``;
    const sums = mysql('dify_db', `CHECKSUM TABLE ${tables.map(q).join(', ')} EXTENDED;`);
    for (const line of sums.trim().split('\n')) {
      const [name, sum] = line.split('\t');
      db[name.replace(/^dify_db\./, '')] = sum;
    }
    const counts = mysql('dify_db', tables.map((t) => `SELECT '${t}', count(*) FROM ${q(t)};`).join('\n'));
    for (const line of counts.trim().split('\n')) {
      const [name, n] = line.split('\t');
      db[name] = `${n} ${db[name]}`;
    }
  }
  const objects = JSON.parse(run('python3', ['-c', `
import hashlib, json, sys, urllib.error
sys.path.insert(0, 'scripts/demo.d')
import stores
out = {}
try:
    keys = stores.keys('dify-files')
except urllib.error.HTTPError as e:
    if e.code != 404:
        raise
    keys = []
for key in keys:
    body = stores.s3('GET', '/dify-files/' + key)
    out[key] = '%d %s' % (len(body), hashlib.sha256(body).hexdigest())
print(json.dumps(out, sort_keys=True))
`], { env: { MINIO_ROOT_USER: SECRETS.MINIO_ROOT_USER, MINIO_ROOT_PASSWORD: SECRETS.MINIO_ROOT_PASSWORD } }));
  const res = await fetch('http://127.0.0.1:9200/dify-docs/_search', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ size: 10000, query: { match_all: {} } }),
  });
  const hits = res.status === 404 ? [] : (await res.json()).hits?.hits || [];
  const docs = {};
  for (const hit of hits.sort((a, b) => a._id.localeCompare(b._id))) docs[hit._id] = JSON.stringify(hit._source);
  return { db, objects, docs };
}
