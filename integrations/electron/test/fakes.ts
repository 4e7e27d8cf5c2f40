// Stand-ins for the only Electron parts the tests cannot have (ipcMain, dialog, the window, ipcRenderer, contextBridge): they record calls and give scripted answers.

import type {
  BaseWindow,
  BrowserWindow,
  ContextBridge,
  Dialog,
  IpcMain,
  IpcMainInvokeEvent,
  IpcRenderer,
  MessageBoxOptions,
  OpenDialogOptions,
  SaveDialogOptions,
  WebContents,
} from '../src/electron-types';

export const APP_URL = 'file:///opt/AI-Server/resources/app/index.html';

export class FakeWebContents implements WebContents {
  readonly sent: Array<{ channel: string; data: unknown }> = [];
  onSend?: (channel: string, data: unknown) => void;
  constructor(private readonly url = APP_URL) {}
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, data: args[0] });
    this.onSend?.(channel, args[0]);
  }
  getURL(): string {
    return this.url;
  }
  isDestroyed(): boolean {
    return false;
  }
}

export class FakeWindow implements BrowserWindow {
  readonly webContents = new FakeWebContents();
  isDestroyed(): boolean {
    return false;
  }
}

type Listener = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>;

export class FakeIpcMain implements IpcMain {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`second handler for ${channel}`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** What `ipcRenderer.invoke(channel, ...args)` from the page sending `event` would get. */
  invoke(channel: string, event: IpcMainInvokeEvent, ...args: unknown[]): Promise<unknown> {
    const listener = this.handlers.get(channel);
    if (!listener) throw new Error(`no handler for ${channel}`);
    return listener(event, ...args);
  }
}

/** A scripted answer: a value, or a function giving it (to hold a dialog open). */
type Answer<T> = T | (() => Promise<T>);

export class FakeDialog implements Dialog {
  readonly calls: Array<
    | { kind: 'save'; window: BaseWindow; options: SaveDialogOptions }
    | { kind: 'open'; window: BaseWindow; options: OpenDialogOptions }
    | { kind: 'message'; window: BaseWindow; options: MessageBoxOptions }
  > = [];
  save: Array<Answer<{ canceled: boolean; filePath?: string }>> = [];
  open: Array<Answer<{ canceled: boolean; filePaths: string[] }>> = [];
  message: Array<Answer<{ response: number }>> = [];

  showSaveDialog(window: BaseWindow, options: SaveDialogOptions) {
    this.calls.push({ kind: 'save', window, options });
    return next(this.save, 'save dialog');
  }
  showOpenDialog(window: BaseWindow, options: OpenDialogOptions) {
    this.calls.push({ kind: 'open', window, options });
    return next(this.open, 'open dialog');
  }
  showMessageBox(window: BaseWindow, options: MessageBoxOptions) {
    this.calls.push({ kind: 'message', window, options });
    return next(this.message, 'message box');
  }
}

async function next<T>(answers: Array<Answer<T>>, what: string): Promise<T> {
  const answer = answers.shift();
  if (answer === undefined) throw new Error(`unexpected ${what}`);
  return typeof answer === 'function' ? (answer as () => Promise<T>)() : answer;
}

/** The IPC event of a message sent by the app's own page in `win`. */
export function fromApp(win: FakeWindow): IpcMainInvokeEvent {
  return { sender: win.webContents, senderFrame: { url: win.webContents.getURL() } };
}

type RendererListener = (event: unknown, ...args: unknown[]) => void;

export class FakeIpcRenderer implements IpcRenderer {
  readonly invoked: Array<{ channel: string; args: unknown[] }> = [];
  readonly listeners = new Map<string, RendererListener[]>();
  answer: unknown = { success: true };
  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invoked.push({ channel, args });
    return Promise.resolve(this.answer);
  }
  on(channel: string, listener: RendererListener): this {
    this.listeners.set(channel, [...(this.listeners.get(channel) ?? []), listener]);
    return this;
  }
  removeListener(channel: string, listener: RendererListener): this {
    this.listeners.set(channel, (this.listeners.get(channel) ?? []).filter((l) => l !== listener));
    return this;
  }
  /** What the main process's `webContents.send(channel, data)` does in the page: the IPC event (holding ipcRenderer itself) first. */
  emit(channel: string, data: unknown): { sender: FakeIpcRenderer } {
    const event = { sender: this };
    for (const listener of this.listeners.get(channel) ?? []) listener(event, data);
    return event;
  }
}

export class FakeContextBridge implements ContextBridge {
  readonly exposed = new Map<string, unknown>();
  exposeInMainWorld(apiKey: string, api: unknown): void {
    if (this.exposed.has(apiKey)) throw new Error(`${apiKey} is already exposed`);
    this.exposed.set(apiKey, api);
  }
}
