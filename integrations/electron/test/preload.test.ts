// The preload: window.api has exactly the four functions on the right channels, and progress callbacks get data, never ipcRenderer or its event.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { exposeModuleDataApi } from '../src/preload';
import type { ModuleDataApi, ModuleProgress } from '../src/types';
import { FakeContextBridge, FakeIpcRenderer } from './fakes';

function expose(): { api: ModuleDataApi; ipc: FakeIpcRenderer; bridge: FakeContextBridge } {
  const bridge = new FakeContextBridge();
  const ipc = new FakeIpcRenderer();
  exposeModuleDataApi(bridge, ipc);
  assert.deepEqual([...bridge.exposed.keys()], ['api']);
  return { api: bridge.exposed.get('api') as ModuleDataApi, ipc, bridge };
}

test('window.api has the four functions, each invoking its channel with the module id', async () => {
  const { api, ipc } = expose();
  assert.deepEqual(Object.keys(api).sort(), ['backupModuleData', 'cancelModuleJob', 'onModuleProgress', 'restoreModuleData']);
  for (const value of Object.values(api)) assert.equal(typeof value, 'function');

  ipc.answer = { success: true, path: '/tmp/n8n.tar.gz' };
  assert.deepEqual(await api.backupModuleData('n8n'), { success: true, path: '/tmp/n8n.tar.gz' });
  ipc.answer = { success: false, cancelled: true };
  assert.deepEqual(await api.restoreModuleData('dify'), { success: false, cancelled: true });
  ipc.answer = { success: true };
  assert.deepEqual(await api.cancelModuleJob('ragflow'), { success: true });
  assert.deepEqual(ipc.invoked, [
    { channel: 'modules:backupData', args: ['n8n'] },
    { channel: 'modules:restoreData', args: ['dify'] },
    { channel: 'modules:cancelJob', args: ['ragflow'] },
  ]);
});

test('onModuleProgress delivers only the data and returns a working unsubscribe', () => {
  const { api, ipc } = expose();
  const got: unknown[][] = [];
  const other: ModuleProgress[] = [];
  const unsubscribe = api.onModuleProgress((...args: unknown[]) => got.push(args));
  const keep = api.onModuleProgress((p) => other.push(p));
  assert.equal(typeof unsubscribe, 'function');
  assert.equal(ipc.listeners.get('modules:progress')?.length, 2);

  const data: ModuleProgress = { moduleId: 'n8n', event: { event: 'phase', phase: 'dump', total_bytes: 10 } };
  const ipcEvent = ipc.emit('modules:progress', data);
  assert.equal(got.length, 1);
  assert.equal(got[0]?.length, 1, 'the callback gets one argument');
  assert.deepEqual(got[0]?.[0], data);
  assert.notEqual(got[0]?.[0], ipcEvent);
  assert.ok(!JSON.stringify(Object.keys(got[0]?.[0] as object)).includes('sender'));
  for (const value of Object.values(got[0]?.[0] as object)) assert.notEqual(value, ipc);

  unsubscribe();
  assert.equal(ipc.listeners.get('modules:progress')?.length, 1);
  ipc.emit('modules:progress', { moduleId: 'n8n', event: { event: 'progress', phase: 'dump', bytes: 5 } });
  assert.equal(got.length, 1, 'no delivery after unsubscribe');
  assert.equal(other.length, 2, 'the other subscriber still gets events');
  keep();
  assert.equal(ipc.listeners.get('modules:progress')?.length, 0);
});
