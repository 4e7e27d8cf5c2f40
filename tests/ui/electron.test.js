// The card's desktop-app transport (electron.js): with a stand-in `window.api` like the
// Electron preload's, the buttons call backupModuleData/restoreModuleData directly (the main
// process shows the system dialogs), the NDJSON progress events become the card's progress,
// the cancel button calls cancelModuleJob, and the result object is shown. No stack involved:
// the real server only serves the page's files.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, card, L, shots } from './lib/browser.js';
import { startServer } from './lib/server.js';

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

function fakeApi() {
  const listeners = new Set();
  window.__calls = [];
  window.__finish = {};
  const pending = (kind, id) => new Promise((resolve) => {
    window.__calls.push([kind, id]);
    window.__finish[id] = resolve;
  });
  window.api = {
    backupModuleData: (id) => pending('backup', id),
    restoreModuleData: (id) => pending('restore', id),
    onModuleProgress(cb) { listeners.add(cb); return () => listeners.delete(cb); },
    cancelModuleJob(id) {
      window.__calls.push(['cancel', id]);
      window.__finish[id]?.({ success: false, cancelled: true });
      return Promise.resolve({ success: true });
    },
  };
  window.__emit = (moduleId, event) => { for (const cb of listeners) cb({ moduleId, event }); };
}

test('in the desktop app the card drives window.api and shows its progress and results', { timeout: 5 * 60 * 1000 }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.addInitScript(fakeApi);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.url);
  const l = L.zh;
  const c = card(page, 'n8n');
  await c.getByRole('button', { name: l.backup, exact: true }).click();
  assert.equal(await c.getByRole('dialog').count(), 0, 'no page dialog: the main process shows its own');
  assert.deepEqual(await page.evaluate(() => window.__calls), [['backup', 'n8n']]);
  await c.locator('.ab-job[data-state="running"]').waitFor();
  assert.ok(await c.getByRole('button', { name: l.backup, exact: true }).isDisabled(), 'no second start while it runs');

  await page.evaluate(() => {
    window.__emit('n8n', { event: 'phase', phase: 'dump', total_bytes: 4096 });
    window.__emit('n8n', { event: 'progress', phase: 'dump', bytes: 2048 });
    window.__emit('n8n', { event: 'info', message: 'paused ai-server-n8n' });
    window.__emit('dify', { event: 'progress', phase: 'dump', bytes: 99 });
  });
  await c.locator('.ab-phase', { hasText: 'dump' }).waitFor();
  assert.equal(await c.locator('.ab-bytes').innerText(), '2.0 KiB / 4.0 KiB');
  assert.equal(await card(page, 'dify').locator('.ab-job').isVisible(), false, 'other modules stay idle');
  await shots(page, 'electron-01-progress', { fullPage: true });
  await page.evaluate(() => window.__finish.n8n({ success: true, path: 'C:\\Users\\u\\Documents\\n8n-backup-20261127-150000.tar.gz' }));
  await c.locator('.ab-job[data-state="succeeded"]').waitFor();
  assert.equal(await c.locator('.ab-job h3').innerText(), l.backupOk);
  assert.equal(await c.locator('.ab-result-path code').innerText(), 'C:\\Users\\u\\Documents\\n8n-backup-20261127-150000.tar.gz');
  assert.equal(await c.getByRole('link').count(), 0, 'no download link in the desktop app');
  await shots(page, 'electron-02-result', { fullPage: true });

  // A restore cancelled from the card.
  await c.getByRole('button', { name: l.restore, exact: true }).click();
  await c.locator('.ab-job[data-state="running"]').waitFor();
  await c.getByRole('button', { name: l.cancelJob, exact: true }).click();
  await c.locator('.ab-job[data-state="cancelled"]').waitFor();
  assert.equal(await c.locator('.ab-job h3').innerText(), l.cancelled);
  assert.deepEqual(await page.evaluate(() => window.__calls), [['backup', 'n8n'], ['restore', 'n8n'], ['cancel', 'n8n']]);

  // A failure is shown in the library's words.
  await c.getByRole('button', { name: l.backup, exact: true }).click();
  await page.evaluate(() => window.__finish.n8n({ success: false, error: 'database n8n_db does not exist on postgres; nothing to back up' }));
  await c.locator('.ab-job[data-state="failed"] .ab-result-error', { hasText: 'does not exist' }).waitFor();
  assert.deepEqual(errors, []);
  await ctx.close();
});
