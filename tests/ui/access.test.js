// Who may talk to `ai-backup ui`: plain requests from Node (no browser) without the token or
// cookie, with a wrong token, with a foreign Host or Origin, or changing something without a
// JSON body, are refused; the token URL sets the HttpOnly, SameSite=Strict cookie; a restore
// without the typed module id is refused with 400; downloads stay inside the backup folder.
// Touches no data, so it does not take the stack lock.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, rawRequest, login } from './lib/server.js';

let server;
let cookie;
before(async () => {
  server = await startServer();
  ({ cookie } = await login(server));
});
after(async () => { await server?.stop(); });

const json = (obj) => JSON.stringify(obj);

test('the token URL sets the cookie and leads to the page', async () => {
  const { res, set } = await login(server);
  assert.ok([301, 302, 303, 307, 308].includes(res.status), `a redirect, got ${res.status}`);
  assert.equal(new URL(res.headers.location, server.origin).pathname, '/', 'to /');
  const c = set.find((x) => x.startsWith('ab_token='));
  assert.ok(c, 'the ab_token cookie is set');
  assert.match(c, /HttpOnly/i);
  assert.match(c, /SameSite=Strict/i);
  assert.match(c, /Path=\//i);
  const page = await rawRequest(server.port, { path: '/', headers: { Cookie: cookie } });
  assert.equal(page.status, 200);
  assert.match(page.body, /\/assets\/app\.js/, 'the page loads its module');
  const state = await rawRequest(server.port, { path: '/api/state', headers: { Cookie: cookie } });
  assert.equal(state.status, 200, state.body);
  assert.ok(Array.isArray(state.json.modules), 'the state lists the modules');
  assert.equal(state.json.backupDir, server.backupDir);
});

test('requests without the cookie, or with a wrong token, are refused (403)', async () => {
  for (const p of ['/api/state', '/api/archives', '/api/events', '/api/modules/n8n/plan', '/']) {
    const r = await rawRequest(server.port, { path: p });
    assert.equal(r.status, 403, `GET ${p} without the cookie: ${r.status} ${r.body.slice(0, 200)}`);
  }
  const r = await rawRequest(server.port, { path: '/api/state', headers: { Cookie: 'ab_token=not-the-token' } });
  assert.equal(r.status, 403, 'a wrong cookie');
  assert.equal(typeof r.json?.error, 'string', 'the refusal is {"error": ...}');
  const wrong = await rawRequest(server.port, { path: '/?token=not-the-token' });
  assert.equal(wrong.status, 403, 'a wrong token');
  assert.ok(!String(wrong.headers['set-cookie'] || '').includes('ab_token='), 'no cookie for a wrong token');
  const post = await rawRequest(server.port, {
    method: 'POST', path: '/api/modules/n8n/backup', headers: { 'Content-Type': 'application/json' }, body: json({}),
  });
  assert.equal(post.status, 403, 'a backup without the cookie');
});

test('a foreign Origin or Host is refused (403) even with the cookie', async () => {
  const origin = await rawRequest(server.port, {
    method: 'POST', path: '/api/modules/n8n/cancel',
    headers: { Cookie: cookie, Origin: 'http://evil.example', 'Content-Type': 'application/json' }, body: json({}),
  });
  assert.equal(origin.status, 403, `foreign Origin: ${origin.status} ${origin.body}`);
  const settings = await rawRequest(server.port, {
    method: 'PUT', path: '/api/settings',
    headers: { Cookie: cookie, Origin: `http://localhost:${server.port + 1}`, 'Content-Type': 'application/json' },
    body: json({ backupDir: '/tmp' }),
  });
  assert.equal(settings.status, 403, 'an Origin on another port');
  const host = await rawRequest(server.port, { path: '/api/state', headers: { Cookie: cookie, Host: `evil.example:${server.port}` } });
  assert.equal(host.status, 403, `foreign Host: ${host.status}`);
  const same = await rawRequest(server.port, {
    method: 'POST', path: '/api/modules/n8n/cancel',
    headers: { Cookie: cookie, Origin: server.origin, 'Content-Type': 'application/json' }, body: json({}),
  });
  assert.equal(same.status, 404, `the page's own origin passes (no job to cancel: 404), got ${same.status} ${same.body}`);
  const local = await rawRequest(server.port, { path: '/api/state', headers: { Cookie: cookie, Host: `localhost:${server.port}` } });
  assert.equal(local.status, 200, 'Host localhost:PORT is the page too');
});

test('a change without a JSON body is refused', async () => {
  const r = await rawRequest(server.port, {
    method: 'PUT', path: '/api/settings', headers: { Cookie: cookie, 'Content-Type': 'text/plain' }, body: json({ backupDir: '/tmp/x' }),
  });
  assert.ok(r.status >= 400 && r.status < 500, `text/plain body: ${r.status}`);
  const state = await rawRequest(server.port, { path: '/api/state', headers: { Cookie: cookie } });
  assert.equal(state.json.backupDir, server.backupDir, 'the backup folder did not change');
});

test('a restore without the typed module id is refused with 400', async () => {
  const r = await rawRequest(server.port, {
    method: 'POST', path: '/api/modules/n8n/restore',
    headers: { Cookie: cookie, 'Content-Type': 'application/json' },
    body: json({ archive: { path: `${server.backupDir}/none.tar.gz` }, restoreSecrets: false, confirm: 'dify' }),
  });
  assert.equal(r.status, 400, `${r.status} ${r.body}`);
  assert.equal(typeof r.json?.error, 'string');
});

test('downloads stay inside the backup folder (404 outside)', async () => {
  const r = await rawRequest(server.port, { path: `/api/download?path=${encodeURIComponent('/etc/passwd')}`, headers: { Cookie: cookie } });
  assert.equal(r.status, 404, `${r.status}`);
  const dotdot = await rawRequest(server.port, {
    path: `/api/download?path=${encodeURIComponent(`${server.backupDir}/../config.toml`)}`, headers: { Cookie: cookie },
  });
  assert.equal(dotdot.status, 404, `a path through .. : ${dotdot.status}`);
});
