//! An n8n backup encrypted with a passphrase and restored through the page: the checkbox of the
// save step (the two passphrases must match, the name becomes ….tar.gz.age), the archive listed
// as encrypted, its passphrase asked before the verification (a wrong one refused in the
// dialog), and the damaged data back exactly as at backup time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { launch, openPage, shots, card, L } from './lib/browser.js';
import { startServer } from './lib/server.js';
import { verifiedOrRefused } from './lib/flows.js';
import { withStackLock, seedN8n, damageN8n, n8nFingerprint } from './lib/stack.js';

const SECRET = 'correct horse battery staple';
const LONG = 10 * 60 * 1000;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The backup dialog, up to a started encrypted backup; the archive's path. */
async function encryptedBackup(page) {
  const l = L.en;
  const c = card(page, 'n8n');
  await c.getByRole('button', { name: l.backup, exact: true }).click();
  const dlg = c.getByRole('dialog');
  await dlg.getByRole('button', { name: l.next, exact: true }).click({ timeout: 60000 });
  const where = dlg.getByLabel(l.saveTo, { exact: true });
  await dlg.getByLabel('Encrypt with a passphrase', { exact: true }).check();
  const path = await where.inputValue();
  assert.match(path, /n8n-backup-\d{8}-\d{6}\.tar\.gz\.age$/, `the name follows the checkbox: ${path}`);
  await dlg.getByLabel('Passphrase', { exact: true }).fill(SECRET);
  await dlg.getByLabel('Passphrase again', { exact: true }).fill(`${SECRET}x`);
  await dlg.getByRole('button', { name: l.startBackup, exact: true }).click();
  await dlg.locator('.ab-error', { hasText: 'The two passphrases differ.' }).waitFor();
  await shots(page, '17-backup-encrypted');
  await dlg.getByLabel('Passphrase again', { exact: true }).fill(SECRET);
  await dlg.getByRole('button', { name: l.startBackup, exact: true }).click();
  await dlg.waitFor({ state: 'hidden', timeout: 60000 });
  await c.locator('.ab-job[data-state]:not([data-state="running"])').waitFor({ timeout: LONG });
  assert.equal(await c.locator('.ab-job h3').innerText(), l.backupOk);
  assert.equal(await c.locator('.ab-result-path code').innerText(), path);
  return path;
}

/** The restore dialog with the encrypted archive chosen and verified with `passphrase`. */
async function verifyWith(dlg, passphrase) {
  await dlg.getByLabel('Passphrase of the archive', { exact: true }).fill(passphrase);
  await dlg.getByRole('button', { name: L.en.verify, exact: true }).click();
  await verifiedOrRefused(dlg);
}

test('an encrypted n8n backup is restored through the page with its passphrase', { timeout: 30 * 60 * 1000 }, async () => {
  await withStackLock(async () => {
    const server = await startServer();
    try {
      seedN8n();
      const original = n8nFingerprint();
      const page = await openPage(browser, server, { lang: 'en' });
      const path = await encryptedBackup(page);
      assert.equal(fs.readFileSync(path).subarray(0, 21).toString('latin1'), 'age-encryption.org/v1');
      damageN8n();
      assert.notDeepEqual(n8nFingerprint(), original, 'the damage shows');

      const l = L.en;
      const c = card(page, 'n8n');
      await c.getByRole('button', { name: l.restore, exact: true }).click();
      const dlg = c.getByRole('dialog');
      const name = path.split('/').pop();
      const radio = dlg.getByRole('radio', { name, exact: true });
      await radio.waitFor({ timeout: 60000 });
      const row = dlg.locator('tr', { has: page.getByRole('radio', { name, exact: true }) });
      assert.match(await row.innerText(), /encrypted/, 'listed as encrypted');
      await radio.check();
      await shots(page, '18-restore-passphrase');
      await verifyWith(dlg, 'not the passphrase');
      const refused = await dlg.locator('.ab-refused-text').innerText();
      assert.match(refused, /passphrase is wrong/, refused);
      await dlg.getByRole('button', { name: l.back, exact: true }).click();
      await verifyWith(dlg, SECRET);
      assert.ok(await dlg.locator('.ab-verified').isVisible(), 'verified with the right passphrase');
      await dlg.getByRole('button', { name: l.next, exact: true }).click();
      await dlg.locator('.ab-overwrites li').first().waitFor({ timeout: 60000 });
      await dlg.getByLabel(l.typeId('n8n'), { exact: true }).fill('n8n');
      await dlg.getByRole('button', { name: l.startRestore, exact: true }).click();
      await dlg.waitFor({ state: 'hidden', timeout: 60000 });
      await c.locator('.ab-job[data-state]:not([data-state="running"])').waitFor({ timeout: LONG });
      const error = await c.locator('.ab-result-error').allInnerTexts();
      assert.equal(await c.locator('.ab-job h3').innerText(), l.restoreOk, error.join(' '));

      assert.deepEqual(n8nFingerprint(), original, 'every table as at backup time');
      assert.deepEqual(page.errors, [], 'no uncaught errors on the page');
    } finally {
      await server.stop();
      seedN8n();
    }
  });
});
