// The page's side: window.api with the four module-data calls, and nothing of ipcRenderer leaking into the page.

import type { ContextBridge, IpcRenderer } from './electron-types';
import { CHANNELS, type ModuleDataApi, type ModuleDataResult, type ModuleId, type ModuleProgress } from './types';

/** The four functions, for an app that builds its own `window.api` object around them. */
export function createModuleDataApi(ipcRenderer: IpcRenderer): ModuleDataApi {
  const call = (channel: string, moduleId: ModuleId) =>
    ipcRenderer.invoke(channel, moduleId) as Promise<ModuleDataResult>;
  return {
    backupModuleData: (moduleId) => call(CHANNELS.backup, moduleId),
    restoreModuleData: (moduleId) => call(CHANNELS.restore, moduleId),
    cancelModuleJob: (moduleId) => call(CHANNELS.cancel, moduleId),
    onModuleProgress(callback) {
      // The IPC event (it holds ipcRenderer itself) stays here; the page gets plain data.
      const listener = (_event: unknown, data: unknown) => {
        const { moduleId, event } = data as ModuleProgress;
        callback({ moduleId, event });
      };
      ipcRenderer.on(CHANNELS.progress, listener);
      return () => {
        ipcRenderer.removeListener(CHANNELS.progress, listener);
      };
    },
  };
}

/** Call from the app's preload: `exposeModuleDataApi(contextBridge, ipcRenderer)`. */
export function exposeModuleDataApi(contextBridge: ContextBridge, ipcRenderer: IpcRenderer): void {
  contextBridge.exposeInMainWorld('api', createModuleDataApi(ipcRenderer));
}
