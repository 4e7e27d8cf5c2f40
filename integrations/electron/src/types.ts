// The IPC contract between the main process and the page (the design's ipc-contract.ts / window-api.ts): channels, module ids, results, progress events.

export const MODULE_IDS = ['n8n', 'oneapi', 'dify', 'ragflow'] as const;
export type ModuleId = (typeof MODULE_IDS)[number];

export function isModuleId(value: unknown): value is ModuleId {
  return typeof value === 'string' && (MODULE_IDS as readonly string[]).includes(value);
}

export const CHANNELS = {
  backup: 'modules:backupData',
  restore: 'modules:restoreData',
  cancel: 'modules:cancelJob',
  progress: 'modules:progress',
} as const;

/** The outcome of a backup, a restore or a cancel request: the CLI's result object. */
export interface ModuleDataResult {
  success: boolean;
  path?: string;
  error?: string;
  cancelled?: boolean;
}

/** One NDJSON event line of the `ai-backup --json` run, as the CLI printed it. */
export type CliEvent =
  | { event: 'phase'; phase: string; total_bytes?: number }
  | { event: 'progress'; phase: string; bytes: number }
  | { event: 'info'; message: string }
  | { event: 'warning'; message: string }
  | { event: 'archive'; module: string; summary: string; text: string; createdAt?: string }
  | { event: 'plan'; plan: unknown; text?: string; overwrites?: string[] };

/** What `onModuleProgress` callbacks receive; kinds not listed above may appear and are best ignored. */
export interface ModuleProgress {
  moduleId: ModuleId;
  event: CliEvent;
}

/** `window.api` as the preload exposes it. */
export interface ModuleDataApi {
  backupModuleData(moduleId: ModuleId): Promise<ModuleDataResult>;
  restoreModuleData(moduleId: ModuleId): Promise<ModuleDataResult>;
  onModuleProgress(callback: (progress: ModuleProgress) => void): () => void;
  cancelModuleJob(moduleId: ModuleId): Promise<ModuleDataResult>;
}
