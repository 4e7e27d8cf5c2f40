// The page's own settings and manners, without changing any data: the backup folder is shown
// and changed on the page (and an unusable one refused in plain words), a new backup's default
// path follows it, cancelling a dialog does nothing, the dialogs work from the keyboard, and
// the language choice is remembered. Reads the stack only, so it takes no lock.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launch, openPage, shots, card, L } from './lib/browser.js';
import { startServer, rawRequest, login } from './lib/server.js';

let browser;
let server;
before(async () => {
  browser = await launch();
  server = await startServer();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the backup folder is shown and changed on the page; an unusable one is refused', { timeout: 5 * 60 * 1000 }, async () => {
  const l = L.zh;
  const page = await openPage(browser, server, { lang: 'zh' });
  const shown = page.locator('.ab-folder-path');
  assert.equal(await shown.innerText(), server.backupDir, 'the folder is shown');
  await page.getByRole('button', { name: l.change, exact: true }).click();
  const input = page.getByRole('textbox', { name: l.folder, exact: true });
  const newDir = path.join(server.dir, 'elsewhere', 'backups');
  await input.fill(newDir);
  await shots(page, '18-folder-change');
  await page.getByRole('button', { name: l.save, exact: true }).click();
  await page.locator('.ab-folder-path', { hasText: newDir }).waitFor();
  assert.ok(fs.statSync(newDir).isDirectory(), 'the new folder was created');
  const { cookie } = await login(server);
  const state = await rawRequest(server.port, { path: '/api/state', headers: { Cookie: cookie } });
  assert.equal(state.json.backupDir, newDir, 'the server uses the new folder');

  // A new backup's default path is in it; cancelling the dialog writes nothing.
  const c = card(page, 'n8n');
  await c.getByRole('button', { name: l.backup, exact: true }).click();
  const dlg = c.getByRole('dialog');
  await dlg.getByRole('button', { name: l.next, exact: true }).click({ timeout: 60000 });
  const where = await dlg.getByLabel(l.saveTo, { exact: true }).inputValue();
  assert.ok(where.startsWith(`${newDir}/n8n-backup-`), `default path in the new folder: ${where}`);
  await dlg.getByRole('button', { name: l.cancel, exact: true }).click();
  await dlg.waitFor({ state: 'hidden' });
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(fs.readdirSync(newDir), [], 'cancelling the dialog started nothing');

  // A folder that cannot be made (below a file) is refused with the server's words.
  await page.getByRole('button', { name: l.change, exact: true }).click();
  await input.fill(path.join(server.config, 'sub'));
  await page.getByRole('button', { name: l.save, exact: true }).click();
  const err = page.locator('.ab-folder .ab-error');
  await err.waitFor();
  assert.match(await err.innerText(), /\S/, 'the refusal says why');
  await shots(page, '19-folder-refused');
  await input.press('Escape');
  assert.equal(await shown.innerText(), newDir, 'the folder did not change');
  const later = await rawRequest(server.port, { path: '/api/state', headers: { Cookie: cookie } });
  assert.equal(later.json.backupDir, newDir);
  assert.deepEqual(page.errors, []);
});

test('the dialogs work from the keyboard and the language is remembered', { timeout: 5 * 60 * 1000 }, async () => {
  const page = await openPage(browser, server, { lang: 'zh' });
  const l = L.zh;
  const c = card(page, 'dify');
  const backupBtn = c.getByRole('button', { name: l.backup, exact: true });
  await backupBtn.focus();
  await page.keyboard.press('Enter');
  // Its accessible name comes from its heading (aria-labelledby).
  const dlg = c.getByRole('dialog', { name: '备份 dify', exact: true });
  await dlg.waitFor();
  await dlg.getByRole('button', { name: l.next, exact: true }).waitFor();
  await page.waitForFunction(() => !document.activeElement || document.activeElement.closest('dialog[open]'));
  assert.ok(await page.evaluate(() => !!document.activeElement?.closest('dialog[open]')), 'focus is in the dialog');
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  assert.ok(await backupBtn.evaluate((b) => b === document.activeElement), 'focus returns to the button');

  // Restore: Tab reaches the controls, Escape leaves.
  const restoreBtn = c.getByRole('button', { name: l.restore, exact: true });
  await restoreBtn.focus();
  await page.keyboard.press('Enter');
  const rdlg = c.getByRole('dialog', { name: '恢复 dify', exact: true });
  await rdlg.waitFor();
  await page.keyboard.press('Tab');
  assert.ok(await page.evaluate(() => !!document.activeElement?.closest('dialog[open]')), 'Tab stays in the dialog');
  await page.keyboard.press('Escape');
  await rdlg.waitFor({ state: 'hidden' });

  // The language switch is a real button and the choice survives a reload.
  await page.getByRole('button', { name: l.toOther, exact: true }).click();
  await c.getByRole('button', { name: L.en.backup, exact: true }).waitFor();
  await page.reload();
  await c.getByRole('button', { name: L.en.backup, exact: true }).waitFor({ timeout: 90000 });
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await page.getByRole('button', { name: L.en.toOther, exact: true }).click();
  await c.getByRole('button', { name: l.backup, exact: true }).waitFor();
  assert.deepEqual(page.errors, []);
});
