// Archives the page must refuse before anything is touched: a copy with one byte flipped in the
// middle (from the backup folder and uploaded from the computer), a truncated one, one that is
// not an archive at all, and a backup of another module. Each is refused right in the restore
// dialog with the library's words, and n8n's data stays as it was.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launch, openPage, shots, card, L, pageLang } from './lib/browser.js';
import { startServer } from './lib/server.js';
import { verifiedOrRefused } from './lib/flows.js';
import { withStackLock, seedN8n, seedDify, n8nFingerprint, run, BIN } from './lib/stack.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Opens n8n's restore dialog, picks `fileName` (or uploads `upload`) and verifies. */
async function tryArchive(page, { fileName, upload }) {
  const l = L[await pageLang(page)];
  const c = card(page, 'n8n');
  await c.getByRole('button', { name: l.restore, exact: true }).click();
  const dlg = c.getByRole('dialog');
  await dlg.waitFor();
  if (fileName) {
    const radio = dlg.getByRole('radio', { name: fileName, exact: true });
    await radio.waitFor({ timeout: 60000 });
    if (await radio.isDisabled()) {
      const row = dlg.locator('tr', { has: page.getByRole('radio', { name: fileName, exact: true }) });
      return { dlg, listed: await row.locator('.ab-error-cell').innerText() };
    }
    await radio.check();
  } else {
    await dlg.getByLabel(l.uploadFile, { exact: true }).setInputFiles(upload);
  }
  await dlg.getByRole('button', { name: l.verify, exact: true }).click();
  await verifiedOrRefused(dlg);
  const refused = dlg.locator('.ab-refused');
  assert.ok(await refused.isVisible(), 'the archive is refused in the dialog');
  const next = dlg.getByRole('button', { name: l.next, exact: true });
  assert.ok(await next.isHidden() || await next.isDisabled(), 'no way on from a refusal');
  return { dlg, refused: await refused.locator('.ab-refused-text').innerText() };
}

async function closeDialog(page) {
  await page.keyboard.press('Escape');
  await card(page, 'n8n').getByRole('dialog').waitFor({ state: 'hidden' });
}

test('corrupt, truncated, foreign and other-module archives are refused on the page', { timeout: 15 * 60 * 1000 }, async () => {
  await withStackLock(async () => {
    const server = await startServer();
    try {
      seedN8n();
      seedDify();
      const dir = server.backupDir;
      run(BIN, ['--config', server.config, 'backup', 'n8n', '-o', path.join(dir, 'n8n-good.tar.gz')]);
      run(BIN, ['--config', server.config, 'backup', 'dify', '-o', path.join(dir, 'dify-other.tar.gz')]);
      const good = fs.readFileSync(path.join(dir, 'n8n-good.tar.gz'));
      const flipped = Buffer.from(good);
      const mid = Math.floor(flipped.length / 2);
      flipped[mid] ^= 0xff;
      fs.writeFileSync(path.join(dir, 'n8n-flipped.tar.gz'), flipped, { mode: 0o600 });
      fs.writeFileSync(path.join(server.dir, 'n8n-upload-flipped.tar.gz'), flipped, { mode: 0o600 });
      fs.writeFileSync(path.join(dir, 'n8n-truncated.tar.gz'), good.subarray(0, Math.floor(good.length * 0.6)), { mode: 0o600 });
      fs.writeFileSync(path.join(dir, 'notes.tar.gz'), 'this is not an archive\n', { mode: 0o600 });
      const original = n8nFingerprint();

      const page = await openPage(browser, server, { lang: 'zh' });

      // One byte flipped, from the backup folder.
      const flippedRes = await tryArchive(page, { fileName: 'n8n-flipped.tar.gz' });
      assert.match(flippedRes.refused || flippedRes.listed, /\S/, 'the refusal says why');
      await shots(page, '12-refused-corrupt');
      await closeDialog(page);

      // The same copy uploaded from the computer.
      const up = await tryArchive(page, { upload: path.join(server.dir, 'n8n-upload-flipped.tar.gz') });
      assert.match(up.refused, /\S/, 'the uploaded copy is refused with a reason');
      await shots(page, '13-refused-upload');
      await closeDialog(page);

      // Truncated.
      const trunc = await tryArchive(page, { fileName: 'n8n-truncated.tar.gz' });
      assert.match(trunc.refused || trunc.listed, /\S/, 'the truncated archive is refused');
      await closeDialog(page);

      // Not an archive: listed with its error, cannot be chosen.
      const foreign = await tryArchive(page, { fileName: 'notes.tar.gz' });
      assert.ok(foreign.listed || foreign.refused, 'a foreign file is shown as unreadable or refused');
      await shots(page, '14-restore-list-unreadable');
      await closeDialog(page);

      // A backup of another module.
      const other = await tryArchive(page, { fileName: 'dify-other.tar.gz' });
      assert.match(other.refused, /dify/, `the refusal names the other module: ${other.refused}`);
      await shots(page, '15-refused-other-module');
      await closeDialog(page);

      // The good archive is accepted (the refusals are not the dialog's fault).
      const l = L.zh;
      const c = card(page, 'n8n');
      await c.getByRole('button', { name: l.restore, exact: true }).click();
      const dlg = c.getByRole('dialog');
      await dlg.getByRole('radio', { name: 'n8n-good.tar.gz', exact: true }).check();
      await dlg.getByRole('button', { name: l.verify, exact: true }).click();
      await verifiedOrRefused(dlg);
      assert.ok(await dlg.locator('.ab-verified').isVisible(), 'the intact archive is verified');
      await closeDialog(page);

      assert.deepEqual(n8nFingerprint(), original, 'nothing was touched');
      assert.deepEqual(page.errors, [], 'no uncaught errors on the page');
    } finally {
      await server.stop();
      seedN8n();
    }
  });
});
