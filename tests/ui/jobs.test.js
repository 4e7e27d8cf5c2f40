// A long backup of n8n (a big extra table) driven from several tabs: a second tab cannot start
// a second job on the module (the 409 is shown as such), a reloaded tab shows the running job
// from the events' snapshot, and a cancel clicked once the progress shows phase `dump` ends
// the job as cancelled with no file left in the backup folder; closing a tab cancels nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { launch, openPage, shots, card, L } from './lib/browser.js';
import { startServer } from './lib/server.js';
import { withStackLock, psql, seedN8n } from './lib/stack.js';

const ROWS = Number(process.env.AI_BACKUP_UI_BIG_ROWS || 500000);
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('cancel mid-backup leaves no file; a second tab gets the 409; a reload shows the running job; closing a tab cancels nothing', { timeout: 15 * 60 * 1000 }, async () => {
  await withStackLock(async () => {
    const server = await startServer();
    try {
      seedN8n();
      // About 100 bytes a row that gzip cannot squeeze much.
      psql('n8n_db', `CREATE TABLE ab_ui_big AS SELECT g AS id,
        md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS payload
        FROM generate_series(1, ${ROWS}) g;\n`);
      const l = L.zh;
      const tab1 = await openPage(browser, server, { lang: 'zh' });
      const tab2 = await openPage(browser, server, { lang: 'zh' });
      const c1 = card(tab1, 'n8n');
      const c2 = card(tab2, 'n8n');

      // Tab 2 gets to the last step of its backup dialog before tab 1 starts.
      await c2.getByRole('button', { name: l.backup, exact: true }).click();
      const dlg2 = c2.getByRole('dialog');
      await dlg2.getByRole('button', { name: l.next, exact: true }).click({ timeout: 60000 });

      // Tab 1 starts a backup.
      await c1.getByRole('button', { name: l.backup, exact: true }).click();
      const dlg1 = c1.getByRole('dialog');
      await dlg1.getByRole('button', { name: l.next, exact: true }).click({ timeout: 60000 });
      await dlg1.getByRole('button', { name: l.startBackup, exact: true }).click();
      await c1.locator('.ab-job[data-state="running"]').waitFor({ timeout: 30000 });

      // Tab 2 tries too: refused with the 409, said as such.
      await dlg2.getByRole('button', { name: l.startBackup, exact: true }).click();
      const busy = dlg2.locator('.ab-error');
      await busy.waitFor({ timeout: 30000 });
      assert.match(await busy.innerText(), new RegExp(l.busy), 'the 409 is shown as "a job runs already"');
      await shots(tab2, '16-busy-409');
      await tab2.keyboard.press('Escape');

      // Tab 2, reloaded, shows the running job from the snapshot (and its buttons wait).
      await tab2.reload();
      await c2.locator('.ab-job[data-state="running"]').waitFor({ timeout: 30000 });
      assert.ok(await c2.getByRole('button', { name: l.backup, exact: true }).isDisabled(), 'no second start while it runs');

      // Tab 1: cancel once the progress shows phase dump.
      await c1.locator('.ab-phase', { hasText: /^dump$/ }).waitFor({ timeout: 60000 });
      await shots(tab1, '04-backup-progress');
      await c1.getByRole('button', { name: l.cancelJob, exact: true }).click();
      await c1.locator('.ab-job[data-state]:not([data-state="running"])').waitFor({ timeout: 120000 });
      const heading = await c1.locator('.ab-job h3').innerText();
      assert.equal(heading, l.cancelled, `the job ended as cancelled (${await c1.locator('.ab-job').innerText()})`);
      await shots(tab1, '17-backup-cancelled');
      const ended = await tab1.evaluate(() => fetch('/api/state').then((r) => r.json()));
      const job = ended.jobs.find((j) => j.module === 'n8n' && j.kind === 'backup');
      console.log(`# cancelled in phase ${job?.phase} at ${job?.bytes} of ${job?.totalBytes} bytes`);
      // The other tab learns the end from the events too.
      await c2.locator('.ab-job[data-state="cancelled"]').waitFor({ timeout: 30000 });

      const left = fs.readdirSync(server.backupDir);
      assert.deepEqual(left, [], `the cancelled backup left no file: ${left.join(', ')}`);

      // Closing the tab cancels nothing: a backup started in tab 2 finishes after tab 2 is gone.
      await c2.getByRole('button', { name: l.backup, exact: true }).click();
      await dlg2.getByRole('button', { name: l.next, exact: true }).click({ timeout: 60000 });
      await dlg2.getByRole('button', { name: l.startBackup, exact: true }).click();
      await c2.locator('.ab-job[data-state="running"]').waitFor({ timeout: 30000 });
      await tab2.close();
      await c1.locator('.ab-job[data-state="running"]').waitFor({ timeout: 30000 });
      await c1.locator('.ab-job[data-state]:not([data-state="running"])').waitFor({ timeout: 300000 });
      assert.equal(await c1.locator('.ab-job h3').innerText(), l.backupOk, 'the backup of the closed tab finished');
      const done = fs.readdirSync(server.backupDir);
      assert.equal(done.length, 1, `one archive: ${done.join(', ')}`);
      assert.match(done[0], /^n8n-backup-\d{8}-\d{6}\.tar\.gz$/);
      assert.deepEqual(tab1.errors, [], 'no uncaught errors on the page');
      assert.deepEqual(tab2.errors, [], 'no uncaught errors on the second tab');
    } finally {
      await server.stop();
      psql('n8n_db', 'DROP TABLE IF EXISTS ab_ui_big;\n');
      seedN8n();
    }
  });
});
