// Backup and restore of n8n and of Dify clicked through on the page of the real `ai-backup ui`
// against the local stack: the data is damaged between backup and restore (rows, an object, a
// document) and must come back exactly (every table, every object's key and bytes, every
// document). n8n restores from the backup folder's list, Dify from an uploaded copy. n8n's encryption key is changed too (as on a new machine), so the page offers to
// restore the archived key; ticking it must bring the key back. The n8n run takes the
// screenshots of each screen in Chinese and English.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launch, openPage, shots, card, L } from './lib/browser.js';
import { startServer } from './lib/server.js';
import { backupViaPage, restoreViaPage } from './lib/flows.js';
import {
  withStackLock, seedN8n, damageN8n, n8nFingerprint, seedDify, damageDify, difyFingerprint, waitHttp,
  n8nKey, setN8nKey,
} from './lib/stack.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('n8n: back up, damage, restore through the page; every table and the key come back', { timeout: 20 * 60 * 1000 }, async () => {
  await withStackLock(async () => {
    const key = n8nKey();
    const server = await startServer();
    try {
      seedN8n();
      const original = n8nFingerprint();
      assert.ok(Object.keys(original).length > 3, 'n8n_db has tables');
      const page = await openPage(browser, server, { lang: 'zh' });
      const c = card(page, 'n8n');
      await c.locator('.ab-facts dd').first().waitFor();
      await shots(page, '01-cards', { fullPage: true });

      const { path: archive, bytes } = await backupViaPage(page, 'n8n', { shotPrefix: '', backupDir: server.backupDir });
      assert.ok(fs.existsSync(archive), `${archive} exists`);
      assert.equal(fs.statSync(archive).size, bytes, 'the download is the archive');
      assert.equal(fs.statSync(archive).mode & 0o077, 0, 'the archive is readable by its owner only');
      await c.locator('.ab-last .ab-file', { hasText: path.basename(archive) }).waitFor({ timeout: 30000 });

      damageN8n();
      assert.notDeepEqual(n8nFingerprint(), original, 'the damage changed n8n_db');
      setN8nKey(`ab-ui-test-key-${process.pid}`);

      // The restore in English this time (the switch is remembered across a reload).
      await page.getByRole('button', { name: L.zh.toOther, exact: true }).click();
      await page.reload();
      await c.getByRole('button', { name: L.en.restore, exact: true }).waitFor();
      const text = await restoreViaPage(page, 'n8n', path.basename(archive), { shotPrefix: '', restoreSecrets: true });
      assert.match(text, /Health/i, `the result includes the health check: ${text}`);
      assert.deepEqual(n8nFingerprint(), original, 'every table of n8n_db is as it was at the backup');
      assert.ok(n8nKey() === key, 'the archived encryption key is back in place');
      assert.ok(await waitHttp('http://127.0.0.1:5678/healthz'), 'n8n answers again');
      assert.deepEqual(page.errors, [], 'no uncaught errors on the page');
    } finally {
      await server.stop();
      if (n8nKey() !== key) setN8nKey(key);
      seedN8n();
    }
  });
});

test('Dify: back up, damage rows, an object and a document, restore an uploaded copy through the page; all come back', { timeout: 20 * 60 * 1000 }, async () => {
  await withStackLock(async () => {
    const server = await startServer();
    try {
      seedDify();
      const original = await difyFingerprint();
      assert.ok(Object.keys(original.db).length > 3, 'dify_db has tables');
      assert.ok(Object.keys(original.objects).length >= 3, 'dify-files has objects');
      assert.ok(Object.keys(original.docs).length >= 3, 'dify-docs has documents');
      const page = await openPage(browser, server, { lang: 'en' });
      const c = card(page, 'dify');
      await c.locator('.ab-facts dd', { hasText: 'dify-files' }).waitFor({ timeout: 30000 });
      await c.locator('.ab-facts dd', { hasText: 'dify-docs' }).waitFor();
      await shots(page, 'dify-01-cards', { fullPage: true });

      const { path: archive } = await backupViaPage(page, 'dify', { backupDir: server.backupDir });
      assert.ok(fs.existsSync(archive), `${archive} exists`);

      damageDify();
      const damaged = await difyFingerprint();
      assert.notDeepEqual(damaged.db, original.db, 'rows were deleted');
      assert.ok(Object.keys(damaged.objects).length < Object.keys(original.objects).length, 'an object was deleted');
      assert.ok(Object.keys(damaged.docs).length < Object.keys(original.docs).length, 'a document was deleted');

      // This time the archive comes from "the computer": the page uploads it.
      const text = await restoreViaPage(page, 'dify', path.basename(archive), { shotPrefix: 'dify-', upload: archive });
      assert.match(text, /Health/i, `the result includes the health check: ${text}`);
      const restored = await difyFingerprint();
      assert.deepEqual(restored.db, original.db, 'every table of dify_db is as it was');
      assert.deepEqual(restored.objects, original.objects, 'every object of dify-files (key and bytes) is back');
      assert.deepEqual(restored.docs, original.docs, 'every document of dify-docs is back');
      assert.deepEqual(page.errors, [], 'no uncaught errors on the page');
    } finally {
      await server.stop();
    }
  });
});
