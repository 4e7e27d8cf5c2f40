// The few Electron shapes this drop-in uses, declared structurally: Electron's own objects satisfy them, and the tests' stand-ins do too.

export interface WebFrameMain {
  readonly url: string;
}

export interface WebContents {
  send(channel: string, ...args: unknown[]): void;
  getURL(): string;
  isDestroyed(): boolean;
}

/** What the dialogs take as their parent (Electron's BaseWindow, which BrowserWindow extends). */
export interface BaseWindow {
  isDestroyed(): boolean;
}

export interface BrowserWindow extends BaseWindow {
  readonly webContents: WebContents;
}

export interface IpcMainInvokeEvent {
  readonly sender: WebContents;
  /** The frame that sent the message; null once it navigated away or was destroyed. */
  readonly senderFrame?: WebFrameMain | null;
}

export interface IpcMain {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export interface FileFilter {
  name: string;
  extensions: string[];
}

export interface SaveDialogOptions {
  title?: string;
  defaultPath?: string;
  filters?: FileFilter[];
}

export interface OpenDialogOptions {
  title?: string;
  defaultPath?: string;
  filters?: FileFilter[];
  properties?: Array<'openFile' | 'openDirectory' | 'multiSelections' | 'showHiddenFiles'>;
}

export interface MessageBoxOptions {
  message: string;
  type?: 'none' | 'info' | 'error' | 'question' | 'warning';
  buttons?: string[];
  defaultId?: number;
  cancelId?: number;
  title?: string;
  detail?: string;
  noLink?: boolean;
}

export interface Dialog {
  showSaveDialog(window: BaseWindow, options: SaveDialogOptions): Promise<{ canceled: boolean; filePath?: string }>;
  showOpenDialog(window: BaseWindow, options: OpenDialogOptions): Promise<{ canceled: boolean; filePaths: string[] }>;
  showMessageBox(window: BaseWindow, options: MessageBoxOptions): Promise<{ response: number }>;
}

export interface IpcRenderer {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export interface ContextBridge {
  exposeInMainWorld(apiKey: string, api: unknown): void;
}
