// The two flows clicked through on the page as a person would, shared by the tests: a backup
// (explanatory dialog, save location, progress, result with its download link) and a restore
// (archive list, verification, secrets choice, typed confirmation, progress, result), taking
// the screenshots of each screen when asked.
import assert from 'node:assert/strict';
import { L, card, pageLang, shots } from './browser.js';

const LONG = 10 * 60 * 1000;

async function maybeShots(page, prefix, name, opts) {
  if (prefix !== null) await shots(page, `${prefix}${name}`, opts);
}

/** Backs `module` up through the page; returns the archive's path shown in the result. */
export async function backupViaPage(page, module, { shotPrefix = null, backupDir } = {}) {
  const l = L[await pageLang(page)];
  const c = card(page, module);
  await c.getByRole('button', { name: l.backup, exact: true }).click();
  const dlg = c.getByRole('dialog');
  await dlg.waitFor();
  await dlg.locator('.ab-plan-text').filter({ hasText: /\S/ }).waitFor({ timeout: 60000 });
  assert.match(await dlg.locator('.ab-estimate').innerText(), /\S/, 'the dialog shows the estimate');
  await maybeShots(page, shotPrefix, '02-backup-plan');
  await dlg.getByRole('button', { name: l.next, exact: true }).click();
  const where = dlg.getByLabel(l.saveTo, { exact: true });
  const path = await where.inputValue();
  assert.match(path, new RegExp(`${module}-backup-\\d{8}-\\d{6}\\.tar\\.gz$`), `default file name: ${path}`);
  if (backupDir) assert.ok(path.startsWith(backupDir), `${path} is in the backup folder ${backupDir}`);
  await maybeShots(page, shotPrefix, '03-backup-save');
  await dlg.getByRole('button', { name: l.startBackup, exact: true }).click();
  await closedOrError(dlg, 'the backup did not start');
  // (The progress of a backup is photographed by jobs.test.js, where it lasts long enough.)
  await c.locator('.ab-job[data-state]:not([data-state="running"])').waitFor({ timeout: LONG });
  const heading = await c.locator('.ab-job h3').innerText();
  const error = await c.locator('.ab-result-error').allInnerTexts();
  assert.equal(heading, l.backupOk, `backup of ${module} succeeded (${error.join(' ')})`);
  const shown = await c.locator('.ab-result-path code').innerText();
  assert.equal(shown, path, 'the result names the chosen file');
  await maybeShots(page, shotPrefix, '05-backup-result');
  const href = await c.getByRole('link', { name: l.download, exact: true }).getAttribute('href');
  const dl = await page.request.get(new URL(href, page.url()).href);
  assert.equal(dl.status(), 200, 'the download link answers');
  assert.match(dl.headers()['content-disposition'] || '', /attachment/, 'the download is an attachment');
  return { path, bytes: (await dl.body()).length };
}

/**
 * Restores `module` through the page from the archive named `fileName` of the backup folder,
 * or from the file `upload` chosen on this computer (uploaded by the page). `restoreSecrets`
 * ticks the secrets box, which must then be offered. Returns the result's text.
 */
export async function restoreViaPage(page, module, fileName, { shotPrefix = null, restoreSecrets = false, upload } = {}) {
  const l = L[await pageLang(page)];
  const c = card(page, module);
  await c.getByRole('button', { name: l.restore, exact: true }).click();
  const dlg = c.getByRole('dialog');
  const radio = dlg.getByRole('radio', { name: fileName, exact: true });
  await radio.waitFor({ timeout: 60000 });
  if (upload) await dlg.getByLabel(l.uploadFile, { exact: true }).setInputFiles(upload);
  else await radio.check();
  await maybeShots(page, shotPrefix, '06-restore-list');
  await dlg.getByRole('button', { name: l.verify, exact: true }).click();
  await verifiedOrRefused(dlg);
  assert.equal(await dlg.locator('.ab-refused').isVisible(), false,
    `the archive is accepted (${await dlg.locator('.ab-refused').innerText().catch(() => '')})`);
  await maybeShots(page, shotPrefix, '07-restore-verified');
  const secrets = dlg.getByRole('checkbox');
  if (restoreSecrets) assert.ok(await secrets.isVisible(), 'the differing secret is offered');
  if (await secrets.isVisible()) {
    await maybeShots(page, shotPrefix, '08-restore-secrets');
    if (restoreSecrets) await secrets.check();
  }
  await dlg.getByRole('button', { name: l.next, exact: true }).click();
  const confirmBtn = dlg.getByRole('button', { name: l.startRestore, exact: true });
  await dlg.locator('.ab-overwrites li').first().waitFor({ timeout: 60000 });
  assert.ok(await confirmBtn.isDisabled(), 'the confirm button waits for the typed module id');
  const typed = dlg.getByLabel(l.typeId(module), { exact: true });
  await typed.fill(`${module}x`);
  assert.ok(await confirmBtn.isDisabled(), 'a wrong id keeps it disabled');
  await typed.fill(module);
  assert.ok(await confirmBtn.isEnabled(), 'the typed id enables it');
  await maybeShots(page, shotPrefix, '09-restore-confirm');
  await confirmBtn.click();
  await closedOrError(dlg, 'the restore did not start');
  if (shotPrefix !== null && await c.locator('.ab-job[data-state="running"]').count()) {
    await maybeShots(page, shotPrefix, '10-restore-progress');
  }
  await c.locator('.ab-job[data-state]:not([data-state="running"])').waitFor({ timeout: LONG });
  const heading = await c.locator('.ab-job h3').innerText();
  const error = await c.locator('.ab-result-error').allInnerTexts();
  assert.equal(heading, l.restoreOk, `restore of ${module} succeeded (${error.join(' ')})`);
  const text = await c.locator('.ab-result-text').innerText();
  await maybeShots(page, shotPrefix, '11-restore-result');
  return text;
}

/** Waits until the restore dialog's verification has an answer (accepted or refused). */
export async function verifiedOrRefused(dlg) {
  await dlg.locator('.ab-verified:visible, .ab-refused:visible').first().waitFor({ timeout: LONG });
}

/** Waits until a dialog closed after its start button; fails with the dialog's error if any. */
async function closedOrError(dlg, what) {
  const error = dlg.locator('.ab-dialog-body ~ .ab-error');
  await Promise.race([
    dlg.waitFor({ state: 'hidden', timeout: 120000 }).catch(() => {}),
    error.waitFor({ state: 'visible', timeout: 120000 }).catch(() => {}),
  ]);
  if (await dlg.isVisible()) assert.fail(`${what}: ${await error.innerText().catch(() => '(no error shown)')}`);
}
