// The main-process handlers, run against the real ai-backup binary and the real Docker stack; only Electron's dialog, ipcMain and window are stand-ins.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import type { IpcMainInvokeEvent } from '../src/electron-types';
import { registerModuleDataHandlers, type ModuleDataHandlerOptions, type PassphraseRequest } from '../src/main';
import type { ModuleDataResult, ModuleProgress } from '../src/types';
import { FakeDialog, FakeIpcMain, FakeWebContents, FakeWindow, fromApp } from './fakes';
import { BIN, addBigTable, dropLeftovers, fingerprint, psql, seedN8n, waitForHealthy, waitForPostgres } from './stack';

const CANCELLED = { success: false, cancelled: true };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ai-backup-electron-'));
const config = path.join(tmp, 'config.toml');
const runsLog = path.join(tmp, 'runs.log');
/** The real binary behind a wrapper that notes each run's arguments (paths only, no secrets). */
const recordingBin = path.join(tmp, 'ai-backup');

function runs(): string[] {
  return existsSync(runsLog) ? readFileSync(runsLog, 'utf8').split('\n').filter(Boolean) : [];
}

function setup(extra: Partial<ModuleDataHandlerOptions> = {}) {
  const win = new FakeWindow();
  const ipcMain = new FakeIpcMain();
  const dialog = new FakeDialog();
  registerModuleDataHandlers({ ipcMain, dialog, binaryPath: recordingBin, getWindow: () => win, configPath: config, ...extra });
  const call = (channel: string, moduleId: unknown, event: IpcMainInvokeEvent = fromApp(win)) =>
    ipcMain.invoke(channel, event, moduleId) as Promise<ModuleDataResult>;
  return { win, dialog, call };
}

function progressOf(win: FakeWindow): ModuleProgress[] {
  for (const s of win.webContents.sent) assert.equal(s.channel, 'modules:progress');
  return win.webContents.sent.map((s) => s.data as ModuleProgress);
}

let archive = '';
let atBackup = new Map<string, string>();

before(async () => {
  assert.ok(existsSync(BIN), `the ai-backup binary ${BIN} is missing (build it, or set AI_BACKUP_BIN)`);
  writeFileSync(config, `[journal]\npath = ${JSON.stringify(path.join(tmp, 'journal.log'))}\n`);
  writeFileSync(recordingBin, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${runsLog}'\nexec '${BIN}' "$@"\n`, { mode: 0o755 });
  await waitForPostgres();
  dropLeftovers();
  seedN8n();
});

after(async () => {
  // Leave the stack as found: the fixture, no added tables, no leftovers, n8n healthy.
  dropLeftovers();
  seedN8n();
  await waitForHealthy('ai-server-n8n');
  rmSync(tmp, { recursive: true, force: true });
});

test('messages from a foreign sender, without a window, or for an unknown module are refused', async () => {
  const { win, dialog, call } = setup();
  const foreignPage = new FakeWebContents('https://evil.example/');
  const refusals: Array<[IpcMainInvokeEvent, string]> = [
    [{ sender: foreignPage, senderFrame: { url: 'https://evil.example/' } }, 'modules:backupData'],
    [{ sender: win.webContents, senderFrame: { url: 'https://evil.example/frame' } }, 'modules:restoreData'],
    [{ sender: win.webContents, senderFrame: null }, 'modules:backupData'],
    [{ sender: foreignPage }, 'modules:cancelJob'],
  ];
  for (const [event, channel] of refusals) {
    const result = await call(channel, 'n8n', event);
    assert.equal(result.success, false);
    assert.match(result.error ?? '', /refused/);
  }
  assert.deepEqual(await call('modules:backupData', 'mysql'), { success: false, error: 'unknown module "mysql"' });
  const noWindow = setup({ getWindow: () => null });
  assert.match((await noWindow.call('modules:backupData', 'n8n')).error ?? '', /refused/);
  assert.equal(dialog.calls.length + noWindow.dialog.calls.length, 0, 'no dialog shown');
  assert.deepEqual(runs(), [], 'no ai-backup run');
});

test('cancelled dialogs run nothing', async () => {
  const { win, dialog, call } = setup();
  dialog.save.push({ canceled: true });
  dialog.open.push({ canceled: true, filePaths: [] }, { canceled: false, filePaths: [] });
  assert.deepEqual(await call('modules:backupData', 'n8n'), CANCELLED);
  assert.deepEqual(await call('modules:restoreData', 'n8n'), CANCELLED);
  assert.deepEqual(await call('modules:restoreData', 'oneapi'), CANCELLED);

  const save = dialog.calls[0];
  assert.equal(save?.kind, 'save');
  if (save?.kind === 'save') {
    assert.match(save.options.defaultPath ?? '', /^n8n-backup-\d{8}-\d{6}\.tar\.gz$/);
    assert.deepEqual(save.options.filters, [{ name: 'ai-backup archive', extensions: ['tar.gz', 'gz', 'tar.zst', 'zst'] }]);
    assert.equal(save.window, win);
  }
  const open = dialog.calls[1];
  if (open?.kind === 'open') {
    assert.deepEqual(open.options.properties, ['openFile']);
    assert.deepEqual(open.options.filters, [{ name: 'ai-backup archive', extensions: ['gz', 'zst'] }]);
  }
  assert.deepEqual(runs(), [], 'no ai-backup run');
  assert.equal(win.webContents.sent.length, 0);
});

test('one job per module at a time; a cancel while the dialog is open wins over the answer', async () => {
  const { dialog, call } = setup();
  let answer!: (a: { canceled: boolean; filePath?: string }) => void;
  dialog.save.push(() => new Promise((resolve) => (answer = resolve)));
  const first = call('modules:backupData', 'n8n');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(await call('modules:backupData', 'n8n'), {
    success: false,
    error: 'a backup or restore of n8n is already running',
  });
  assert.equal((await call('modules:restoreData', 'n8n')).error, 'a backup or restore of n8n is already running');
  assert.deepEqual(await call('modules:cancelJob', 'n8n'), { success: true });
  answer({ canceled: false, filePath: path.join(tmp, 'never.tar.gz') });
  assert.deepEqual(await first, CANCELLED);
  assert.equal(existsSync(path.join(tmp, 'never.tar.gz')), false);
  assert.deepEqual(runs(), [], 'no ai-backup run');
  assert.deepEqual(await call('modules:cancelJob', 'n8n'), { success: false, error: 'no backup or restore of n8n is running' });
});

test('backup of n8n: the archive is written and the events reach the window', { timeout: 300_000 }, async () => {
  const { win, dialog, call } = setup();
  archive = path.join(tmp, 'n8n-backup.tar.gz');
  dialog.save.push({ canceled: false, filePath: archive });
  atBackup = fingerprint();

  const result = await call('modules:backupData', 'n8n');

  assert.deepEqual(result, { success: true, path: archive });
  assert.ok(existsSync(archive));
  assert.deepEqual(runs(), [`--config ${config} --json --cancel-on-stdin backup n8n -o ${archive}`]);
  const progress = progressOf(win);
  assert.ok(progress.length > 0, 'progress was forwarded');
  for (const p of progress) {
    assert.deepEqual(Object.keys(p).sort(), ['event', 'moduleId']);
    assert.equal(p.moduleId, 'n8n');
  }
  assert.ok(progress.some((p) => p.event.event === 'phase' && p.event.phase === 'dump'), 'a dump phase event');
});

test('a corrupt archive is refused at verify: no question, no restore, data unchanged', { timeout: 300_000 }, async () => {
  assert.ok(archive, 'needs the backup test');
  const bytes = readFileSync(archive);
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
  const corrupt = path.join(tmp, 'corrupt.tar.gz');
  writeFileSync(corrupt, bytes);
  const { dialog, call } = setup();
  dialog.open.push({ canceled: false, filePaths: [corrupt] });
  const before = fingerprint();
  const ranBefore = runs().length;

  const result = await call('modules:restoreData', 'n8n');

  assert.equal(result.success, false);
  assert.ok(result.error && result.error.trim().length > 0, 'an error text');
  assert.deepEqual(Object.keys(result).sort(), ['error', 'success']);
  assert.equal(dialog.calls.filter((c) => c.kind === 'message').length, 0, 'no message box');
  assert.deepEqual(runs().slice(ranBefore), [`--config ${config} --json --cancel-on-stdin verify ${corrupt}`]);
  assert.deepEqual(fingerprint(), before);
});

test('restore answered "cancel" at the confirmation runs no restore', { timeout: 300_000 }, async () => {
  const { dialog, call } = setup();
  dialog.open.push({ canceled: false, filePaths: [archive] });
  dialog.message.push({ response: 0 });
  const ranBefore = runs().length;

  assert.deepEqual(await call('modules:restoreData', 'n8n'), CANCELLED);

  const box = dialog.calls.find((c) => c.kind === 'message');
  assert.ok(box?.kind === 'message');
  assert.equal(box.options.type, 'warning');
  assert.equal(box.options.buttons?.length, 2);
  assert.equal(box.options.defaultId, 0);
  assert.equal(box.options.cancelId, 0);
  assert.match(box.options.message, /n8n/);
  assert.match(box.options.detail ?? '', /n8n_db/, 'lists what is overwritten');
  assert.match(box.options.detail ?? '', /Back up the current data first/);
  assert.deepEqual(
    runs().slice(ranBefore).map((r) => r.split(' ').slice(4).join(' ')),
    [`verify ${archive}`, 'plan n8n'],
  );
});

test('restore of n8n after damage brings every table back as at backup time', { timeout: 600_000 }, async () => {
  psql(
    'n8n_db',
    `TRUNCATE public.workflow_entity CASCADE;
     UPDATE public.settings SET value = 'damaged';
     CREATE TABLE public.junk (x int); INSERT INTO public.junk VALUES (1);`,
  );
  assert.notDeepEqual(fingerprint(), atBackup, 'the damage shows');
  const { win, dialog, call } = setup();
  dialog.open.push({ canceled: false, filePaths: [archive] });
  dialog.message.push({ response: 1 });
  const ranBefore = runs().length;

  const result = await call('modules:restoreData', 'n8n');

  assert.deepEqual(result, { success: true });
  assert.deepEqual(runs().slice(ranBefore).at(-1), `--config ${config} --json --cancel-on-stdin restore n8n ${archive} --yes`);
  assert.ok(progressOf(win).some((p) => p.event.event === 'phase'), 'restore progress forwarded');
  assert.deepEqual(fingerprint(), atBackup);
});

test('encrypted backup and restore: the type chosen in the save dialog, the passphrase only in the environment', { timeout: 600_000 }, async () => {
  const secret = 'correct horse battery staple';
  const asked: PassphraseRequest[] = [];
  const promptPassphrase = async (_win: unknown, request: PassphraseRequest) => {
    asked.push(request);
    return secret;
  };
  const encrypted = path.join(tmp, 'n8n-backup.tar.gz.age');
  const { dialog, call } = setup({ promptPassphrase });
  dialog.save.push({ canceled: false, filePath: encrypted });
  const seeded = fingerprint();
  const ranBefore = runs().length;

  assert.deepEqual(await call('modules:backupData', 'n8n'), { success: true, path: encrypted });

  const save = dialog.calls[0];
  assert.ok(save?.kind === 'save');
  assert.deepEqual(save.options.filters?.map((f) => f.extensions), [['tar.gz', 'gz', 'tar.zst', 'zst'], ['age']]);
  assert.deepEqual(asked.map((r) => r.purpose), ['encrypt', 'confirm']);
  assert.equal(readFileSync(encrypted).subarray(0, 21).toString('latin1'), 'age-encryption.org/v1');
  psql('n8n_db', `UPDATE public.settings SET value = 'damaged';`);
  dialog.open.push({ canceled: false, filePaths: [encrypted] });
  dialog.message.push({ response: 1 });

  assert.deepEqual(await call('modules:restoreData', 'n8n'), { success: true });

  assert.deepEqual(asked.map((r) => r.purpose), ['encrypt', 'confirm', 'decrypt']);
  const argv = runs().slice(ranBefore).map((r) => r.split(' ').slice(4).join(' '));
  assert.deepEqual(argv, [`backup n8n --encrypt -o ${encrypted}`, `verify ${encrypted}`, 'plan n8n', `restore n8n ${encrypted} --yes`]);
  assert.ok(!readFileSync(runsLog, 'utf8').includes(secret), 'never an argument');
  assert.deepEqual(fingerprint(), seeded);
});

test('cancel during the dump of a big n8n: cancelled by the stdin line, no file left', { timeout: 600_000 }, async () => {
  addBigTable(500_000);
  const dir = path.join(tmp, 'big');
  mkdirSync(dir);
  const { win, dialog, call } = setup();
  dialog.save.push({ canceled: false, filePath: path.join(dir, 'n8n-big.tar.gz') });
  let cancelAsked: Promise<ModuleDataResult> | undefined;
  let cancelledAt = 0;
  win.webContents.onSend = (_channel, data) => {
    const { event } = data as ModuleProgress;
    if (!cancelAsked && event.event === 'phase' && event.phase === 'dump') {
      cancelAsked = new Promise((r) => setTimeout(r, 500)).then(() => {
        cancelledAt = Date.now();
        return call('modules:cancelJob', 'n8n');
      });
    }
  };

  const result = await call('modules:backupData', 'n8n');

  assert.ok(cancelAsked, 'a dump phase was forwarded');
  assert.deepEqual(await cancelAsked, { success: true });
  assert.deepEqual(result, CANCELLED);
  assert.ok(Date.now() - cancelledAt < 20_000, 'stopped by itself, well before the 30 s grace period ran out');
  assert.deepEqual(readdirSync(dir), []);
  psql('n8n_db', 'DROP TABLE public.ab_big;');
});

test('a run that ignores the cancel line is killed after the grace period', { timeout: 60_000 }, async () => {
  const stubborn = path.join(tmp, 'stubborn');
  writeFileSync(stubborn, '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 });
  const { dialog, call } = setup({ binaryPath: stubborn, cancelGraceMs: 300 });
  dialog.save.push({ canceled: false, filePath: path.join(tmp, 'stubborn.tar.gz') });
  const started = Date.now();
  const result = call('modules:backupData', 'n8n');
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await call('modules:cancelJob', 'n8n'), { success: true });
  assert.deepEqual(await result, CANCELLED);
  assert.ok(Date.now() - started < 10_000);
});
