// The main process's side: the system dialogs, then the ai-backup binary run with --json, its events forwarded to the window and its result object returned.

import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';

import type { BrowserWindow, Dialog, IpcMain, IpcMainInvokeEvent } from './electron-types';
import { CHANNELS, isModuleId, type CliEvent, type ModuleDataResult, type ModuleId } from './types';

export interface ModuleDataHandlerOptions {
  ipcMain: IpcMain;
  dialog: Dialog;
  /** The ai-backup executable, e.g. in process.resourcesPath. */
  binaryPath: string;
  /** The app's window: the only one whose messages are served, and where progress goes. */
  getWindow: () => BrowserWindow | null | undefined;
  /** Passed as `--config`; without it the CLI finds its own configuration. */
  configPath?: string;
  /** More global options placed before the subcommand. */
  extraArgs?: string[];
  /** How long a cancelled run may take to stop by itself before it is killed (default 30 s). */
  cancelGraceMs?: number;
  /**
   * Asks the user for a passphrase (Electron has no text prompt: the app shows its own modal,
   * with a masked field). Without it, encrypted archives are not offered and cannot be restored.
   * `purpose` is 'encrypt' (a new archive), 'confirm' (the same again) or 'decrypt'; resolve
   * null when the user cancels. The passphrase reaches ai-backup through its environment only.
   */
  promptPassphrase?: (win: BrowserWindow, request: PassphraseRequest) => Promise<string | null | undefined>;
}

export interface PassphraseRequest {
  moduleId: ModuleId;
  purpose: 'encrypt' | 'confirm' | 'decrypt';
  /** The archive to write or read. */
  file: string;
}

interface Job {
  cancelled: boolean;
  child?: ChildProcess;
  killTimer?: NodeJS.Timeout;
}

interface Run {
  result: ModuleDataResult;
  events: CliEvent[];
}

const CANCELLED: ModuleDataResult = { success: false, cancelled: true };
const ARCHIVE_FILTER = { name: 'ai-backup archive', extensions: ['tar.gz', 'gz', 'tar.zst', 'zst'] };
const ENCRYPTED_FILTER = { name: 'ai-backup archive encrypted with a passphrase', extensions: ['age'] };
/** The first bytes of an age file: how an encrypted archive is recognised, whatever its name. */
const AGE_MAGIC = 'age-encryption.org/v1';
/** The variable ai-backup reads the passphrase from (never an argument). */
const PASSPHRASE_ENV = 'AI_BACKUP_PASSPHRASE';

/** Registers `modules:backupData`, `modules:restoreData` and `modules:cancelJob`; the returned
 * function removes them and cancels what still runs (call it when the app quits). */
export function registerModuleDataHandlers(options: ModuleDataHandlerOptions): () => void {
  const { ipcMain, dialog, binaryPath, getWindow } = options;
  const graceMs = options.cancelGraceMs ?? 30_000;
  const jobs = new Map<ModuleId, Job>();

  /** The window if the message came from its own page, else why it is refused. */
  function checkSender(event: IpcMainInvokeEvent): BrowserWindow | string {
    const win = getWindow();
    if (!win || win.isDestroyed()) return 'refused: the app window is not open';
    const foreign = 'refused: the request did not come from the app window';
    if (event.sender !== win.webContents) return foreign;
    if (event.senderFrame !== undefined) {
      if (!event.senderFrame || !sameOrigin(event.senderFrame.url, win.webContents.getURL())) return foreign;
    }
    return win;
  }

  /** Run `ai-backup [--config F] [extra] --json --cancel-on-stdin <args>`, forwarding its events;
   * a passphrase goes into the child's environment. */
  function run(job: Job, win: BrowserWindow, moduleId: ModuleId, args: string[], passphrase?: string): Promise<Run> {
    const argv = [
      ...(options.configPath ? ['--config', options.configPath] : []),
      ...(options.extraArgs ?? []),
      '--json',
      '--cancel-on-stdin',
      ...args,
    ];
    if (job.cancelled) return Promise.resolve({ result: CANCELLED, events: [] });
    return new Promise((resolve) => {
      const events: CliEvent[] = [];
      let result: ModuleDataResult | undefined;
      let stdout = '';
      let stderr = '';
      let settled = false;
      const onLine = (line: string) => {
        const value = parseJson(line.trim());
        if (isObject(value) && typeof value.event === 'string') {
          events.push(value as CliEvent);
          if (!win.isDestroyed()) win.webContents.send(CHANNELS.progress, { moduleId, event: value });
        } else {
          result = toResult(value) ?? result;
        }
      };
      const finish = (failure: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(job.killTimer);
        delete job.killTimer;
        delete job.child;
        if (stdout) onLine(stdout);
        resolve({ events, result: result ?? (job.cancelled ? CANCELLED : { success: false, error: failure }) });
      };
      const env = passphrase === undefined ? undefined : { ...process.env, [PASSPHRASE_ENV]: passphrase };
      const child = spawn(binaryPath, argv, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true, env });
      job.child = child;
      child.stdin?.on('error', () => {}); // a child that already exited cannot be told to cancel
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        stdout += chunk;
        for (let i = stdout.indexOf('\n'); i >= 0; i = stdout.indexOf('\n')) {
          onLine(stdout.slice(0, i));
          stdout = stdout.slice(i + 1);
        }
      });
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-4000);
      });
      child.on('error', (e) => finish(`could not run ${binaryPath}: ${e.message}`));
      child.on('close', (code, signal) => {
        const tail = stderr.trim().split('\n').slice(-5).join('\n').slice(-1000);
        finish(tail || `ai-backup ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})`);
      });
    });
  }

  /** Cooperative first (a line on stdin works on Windows too); killed only if still running after the grace period. */
  function requestCancel(job: Job): void {
    job.cancelled = true;
    const child = job.child;
    if (!child) return; // between steps: the next step sees job.cancelled
    child.stdin?.write('cancel\n');
    job.killTimer ??= setTimeout(() => child.kill(), graceMs);
  }

  /** The passphrase from the app's prompt: a string, null when cancelled. */
  async function ask(win: BrowserWindow, request: PassphraseRequest): Promise<string | null> {
    if (!options.promptPassphrase) throw new Error(`archive ${request.file} is encrypted, and this app cannot ask for its passphrase`);
    const answer = await options.promptPassphrase(win, request);
    return answer ? answer : null;
  }

  /** Saving under the encrypted type (a name ending in .age) asks for a new passphrase, twice. */
  async function backup(job: Job, win: BrowserWindow, moduleId: ModuleId): Promise<ModuleDataResult> {
    const choice = await dialog.showSaveDialog(win, {
      defaultPath: `${moduleId}-backup-${timestamp(new Date())}.tar.gz`,
      filters: options.promptPassphrase ? [ARCHIVE_FILTER, ENCRYPTED_FILTER] : [ARCHIVE_FILTER],
    });
    if (choice.canceled || !choice.filePath) return CANCELLED;
    const file = choice.filePath;
    if (!file.endsWith('.age')) return (await run(job, win, moduleId, ['backup', moduleId, '-o', file])).result;
    const passphrase = await ask(win, { moduleId, purpose: 'encrypt', file });
    if (passphrase === null || job.cancelled) return CANCELLED;
    const again = await ask(win, { moduleId, purpose: 'confirm', file });
    if (again === null || job.cancelled) return CANCELLED;
    if (again !== passphrase) return { success: false, error: 'the two passphrases differ; nothing was backed up' };
    return (await run(job, win, moduleId, ['backup', moduleId, '--encrypt', '-o', file], passphrase)).result;
  }

  async function restore(job: Job, win: BrowserWindow, moduleId: ModuleId): Promise<ModuleDataResult> {
    const choice = await dialog.showOpenDialog(win, {
      properties: ['openFile'],
      filters: [{ name: ARCHIVE_FILTER.name, extensions: options.promptPassphrase ? ['gz', 'zst', 'age'] : ['gz', 'zst'] }],
    });
    const file = choice.filePaths[0];
    if (choice.canceled || !file) return CANCELLED;
    let passphrase: string | undefined;
    if (await isEncrypted(file)) {
      const answer = await ask(win, { moduleId, purpose: 'decrypt', file });
      if (answer === null || job.cancelled) return CANCELLED;
      passphrase = answer;
    }

    const verified = await run(job, win, moduleId, ['verify', file], passphrase);
    if (!verified.result.success) return verified.result;
    const archive = findEvent(verified.events, 'archive');
    if (archive && archive.module !== moduleId) {
      return { success: false, error: `archive ${file} refused: it is a backup of module ${archive.module}, not ${moduleId}` };
    }

    const planned = await run(job, win, moduleId, ['plan', moduleId]);
    if (!planned.result.success) return planned.result;
    const plan = findEvent(planned.events, 'plan');
    const overwrites = plan?.overwrites?.length ? plan.overwrites : [`all data of module ${moduleId}`];

    const { response } = await dialog.showMessageBox(win, {
      type: 'warning',
      title: 'ai-backup',
      buttons: ['取消 / Cancel', '恢复 / Restore'],
      defaultId: 0,
      cancelId: 0,
      noLink: true,
      message: `恢复备份将覆盖 ${moduleId} 的全部当前数据\nRestoring will overwrite all current data of ${moduleId}`,
      detail: [
        '将被覆盖 / Will be overwritten:',
        ...overwrites.map((line) => `  • ${line}`),
        '',
        `备份文件 / Archive: ${file}`,
        ...(archive?.summary ? [archive.summary] : []),
        '',
        '如需保留当前数据，请先备份。',
        'Back up the current data first if you may want it back.',
      ].join('\n'),
    });
    if (response !== 1 || job.cancelled) return CANCELLED;
    return (await run(job, win, moduleId, ['restore', moduleId, file, '--yes'], passphrase)).result;
  }

  /** Serve one request: sender and module checked, one job per module at a time. */
  function handler(work: (job: Job, win: BrowserWindow, moduleId: ModuleId) => Promise<ModuleDataResult>) {
    return async (event: IpcMainInvokeEvent, moduleId: unknown): Promise<ModuleDataResult> => {
      const win = checkSender(event);
      if (typeof win === 'string') return { success: false, error: win };
      if (!isModuleId(moduleId)) return { success: false, error: `unknown module ${JSON.stringify(moduleId)}` };
      if (jobs.has(moduleId)) return { success: false, error: `a backup or restore of ${moduleId} is already running` };
      const job: Job = { cancelled: false };
      jobs.set(moduleId, job);
      try {
        return await work(job, win, moduleId);
      } catch (e) {
        return { success: false, error: e instanceof Error ? e.message : String(e) };
      } finally {
        jobs.delete(moduleId);
      }
    };
  }

  ipcMain.handle(CHANNELS.backup, handler(backup));
  ipcMain.handle(CHANNELS.restore, handler(restore));
  ipcMain.handle(CHANNELS.cancel, async (event, moduleId): Promise<ModuleDataResult> => {
    const win = checkSender(event);
    if (typeof win === 'string') return { success: false, error: win };
    const job = isModuleId(moduleId) ? jobs.get(moduleId) : undefined;
    if (!job) return { success: false, error: `no backup or restore of ${String(moduleId)} is running` };
    requestCancel(job);
    return { success: true };
  });

  return () => {
    for (const channel of [CHANNELS.backup, CHANNELS.restore, CHANNELS.cancel]) ipcMain.removeHandler(channel);
    for (const job of jobs.values()) requestCancel(job);
  };
}

/** Whether `file` begins as an age file does; a file that cannot be read is left to ai-backup's verify. */
async function isEncrypted(file: string): Promise<boolean> {
  try {
    const handle = await open(file, 'r');
    try {
      const head = Buffer.alloc(AGE_MAGIC.length);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return head.subarray(0, bytesRead).toString('latin1') === AGE_MAGIC;
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

/** The CLI's result object reduced to the four keys of the contract; undefined if it is none. */
function toResult(value: unknown): ModuleDataResult | undefined {
  if (!isObject(value) || typeof value.success !== 'boolean') return undefined;
  const result: ModuleDataResult = { success: value.success };
  if (typeof value.path === 'string') result.path = value.path;
  if (typeof value.error === 'string') result.error = value.error;
  if (value.cancelled === true) result.cancelled = true;
  return result;
}

function findEvent<K extends CliEvent['event']>(events: CliEvent[], kind: K): Extract<CliEvent, { event: K }> | undefined {
  return events.find((e): e is Extract<CliEvent, { event: K }> => e.event === kind);
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Same page origin; any two file: URLs count as the app's own (a packaged app loads from disk). */
function sameOrigin(a: string, b: string): boolean {
  try {
    const [x, y] = [new URL(a), new URL(b)];
    return x.protocol === y.protocol && (x.protocol === 'file:' || x.origin === y.origin);
  } catch {
    return false;
  }
}

/** YYYYMMDD-HHMMSS in local time, as the CLI names its archives. */
export function timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
