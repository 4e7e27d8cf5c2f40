// The test stack seen from the tests: SQL in the n8n database through docker exec, its fixture, and a per-table fingerprint to compare states.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const BIN = process.env.AI_BACKUP_BIN ?? '/var/cache/ai-backup/target/debug/ai-backup';
const STACK_ENV = process.env.AI_BACKUP_STACK_ENV ?? '/var/lib/ai-backup-stack/stack.env';
const REPO = path.resolve(__dirname, '../../../..');
const PG = 'ai-server-postgres';
export const N8N_DB = 'n8n_db';

function stackSecret(key: string): string {
  for (const line of readFileSync(STACK_ENV, 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0 && line.slice(0, at).trim() === key) return line.slice(at + 1).trim();
  }
  throw new Error(`${key} is not in ${STACK_ENV}`);
}

/** Run SQL in `db` with psql inside the Postgres container; the password goes by the docker client's environment, never argv. */
export function psql(db: string, sql: string): string {
  const out = spawnSync(
    'docker',
    ['exec', '-i', '-e', 'PGPASSWORD', PG, 'psql', '-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-U', stackSecret('POSTGRES_USER'), '-d', db],
    { input: sql, encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, PGPASSWORD: stackSecret('POSTGRES_PASSWORD') } },
  );
  if (out.status !== 0) throw new Error(`psql on ${db} failed (${out.status}): ${out.stderr || out.error?.message}`);
  return out.stdout;
}

/** Wait until Postgres answers (after a test elsewhere stopped it, say). */
export async function waitForPostgres(timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      psql('postgres', 'SELECT 1;');
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Wait until Docker reports the container healthy again (a restore restarts n8n), so the next test finds the stack as it was. */
export async function waitForHealthy(container: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = spawnSync('docker', ['inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', container], { encoding: 'utf8' });
    const status = out.stdout?.trim();
    if (out.status === 0 && (status === 'healthy' || status === 'none')) return;
    if (Date.now() > deadline) throw new Error(`${container} is not healthy: ${status || out.stderr}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** n8n_db dropped, created and loaded with tests/fixtures/n8n_postgres.sql, as the stack has it. */
export function seedN8n(): void {
  psql('postgres', `DROP DATABASE IF EXISTS ${N8N_DB} WITH (FORCE);`);
  psql('postgres', `CREATE DATABASE ${N8N_DB} OWNER "${stackSecret('POSTGRES_USER')}" ENCODING 'UTF8';`);
  psql(N8N_DB, readFileSync(path.join(REPO, 'tests/fixtures/n8n_postgres.sql'), 'utf8'));
}

/** Databases an interrupted restore of n8n leaves beside the live one. */
export function dropLeftovers(): void {
  for (const db of [`${N8N_DB}__ab_new`, `${N8N_DB}__ab_old`]) psql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE);`);
}

/** Table -> "rows md5-of-all-rows" for every table of n8n_db outside the system schemas. */
export function fingerprint(): Map<string, string> {
  const tables = psql(
    N8N_DB,
    `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;`,
  )
    .split('\n')
    .filter(Boolean);
  const query = tables
    .map((t) => `SELECT '${t.replace(/'/g, "''")}', count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM ${t} t`)
    .join('\nUNION ALL\n');
  const result = new Map<string, string>();
  for (const line of psql(N8N_DB, `${query};`).split('\n').filter(Boolean)) {
    const [table, rows, md5] = line.split('\t');
    result.set(table ?? '', `${rows} ${md5}`);
  }
  return result;
}

/** About `rows` rows of ~100 bytes in a new table, so that dumping n8n takes several seconds. */
export function addBigTable(rows: number): void {
  psql(
    N8N_DB,
    `CREATE TABLE public.ab_big (id bigint PRIMARY KEY, payload text NOT NULL);
     INSERT INTO public.ab_big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, ${rows}) g;`,
  );
}
