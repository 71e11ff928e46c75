/**
 * Authentication against the real registry in its two authenticated set-ups: htpasswd basic auth (bcrypt users),
 * and token auth with a token server signing JWTs the registry trusts — credentials from docker's and podman's
 * files, refresh of a token the registry refuses, identity tokens from `login`, and errors that say what to do.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { parseChallenge } from '../../src/registry/auth.ts';
import { pushImage } from '../../src/registry/push.ts';
import { readRemote } from '../../src/registry/pull.ts';
import { login, logout } from '../../src/registry/login.ts';
import { copyImage } from '../../src/transports/transports.ts';
import type { RegistryOptions } from '../../src/registry/client.ts';
import { isPithError } from '../../src/errors.ts';
import { Registry, registryMissing, TokenServer } from '../fixtures/registry.ts';
import { sampleImage } from './helpers.ts';

const skip = registryMissing();
const scratch = mkdtempSync(join(tmpdir(), 'pith-auth-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let homes = 0;

/** Options whose credentials come only from a fresh HOME holding `auths` in docker's config.json (if given). */
function withDockerConfig(auths?: Record<string, unknown>): RegistryOptions & { env: NodeJS.ProcessEnv } {
  const dir = join(scratch, `home-${++homes}`);
  mkdirSync(join(dir, '.docker'), { recursive: true });
  if (auths) writeFileSync(join(dir, '.docker', 'config.json'), JSON.stringify({ auths }));
  return { env: { HOME: dir, PATH: process.env.PATH } };
}

const auth = (user: string, password: string) => ({ auth: Buffer.from(`${user}:${password}`).toString('base64') });

test('WWW-Authenticate challenges: quoted values may hold commas; unknown schemes are ignored', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a/b:pull,push",error="insufficient_scope"'), {
    scheme: 'bearer', realm: 'https://auth.test/token', service: 'registry.test', scope: 'repository:a/b:pull,push', error: 'insufficient_scope',
  });
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', realm: 'Registry Realm' });
  assert.equal(parseChallenge('Negotiate abc'), undefined);
  assert.equal(parseChallenge(null), undefined);
});

describe('htpasswd basic auth', { skip }, () => {
  let registry: Registry;
  before(async () => { registry = await Registry.start(join(scratch, 'htpasswd'), { kind: 'htpasswd', users: { alice: 'wonder-land' } }); });
  after(() => registry?.stop());

  it('without credentials: REGISTRY_UNAUTHORIZED saying to log in', async () => {
    await assert.rejects(pushImage(`${registry.host}/team/app:1`, await sampleImage(), withDockerConfig()),
      (e) => isPithError(e, 'REGISTRY_UNAUTHORIZED') && e.message.includes(`pith login ${registry.host}`));
  });

  it("with docker's config.json: push and pull", async () => {
    const options = withDockerConfig({ [registry.host]: auth('alice', 'wonder-land') });
    const img = await sampleImage('basic');
    assert.equal((await pushImage(`${registry.host}/team/app:1`, img, options)).blobs.uploaded, 3);
    assert.equal((await readRemote(`${registry.host}/team/app:1`, options)).digest, img.digest);
  });

  it("with podman's auth.json from REGISTRY_AUTH_FILE, keyed by repository namespace", async () => {
    const options = withDockerConfig();
    const file = join(options.env.HOME!, 'auth.json');
    writeFileSync(file, JSON.stringify({ auths: { [`${registry.host}/team`]: auth('alice', 'wonder-land') } }));
    options.env.REGISTRY_AUTH_FILE = file;
    assert.equal((await readRemote(`${registry.host}/team/app:1`, options)).digest, (await sampleImage('basic')).digest);
  });

  it('a wrong password: REGISTRY_UNAUTHORIZED from the registry', async () => {
    await assert.rejects(readRemote(`${registry.host}/team/app:1`, withDockerConfig({ [registry.host]: auth('alice', 'nope') })),
      (e) => isPithError(e, 'REGISTRY_UNAUTHORIZED') && /401/.test(e.message));
  });

  it('login checks the password before saving it; logout removes it', async () => {
    const options = withDockerConfig();
    await assert.rejects(login(registry.host, { username: 'alice', password: 'nope' }, options), (e) => isPithError(e, 'REGISTRY_LOGIN_FAILED'));
    const config = join(options.env.HOME!, '.docker', 'config.json');
    assert.throws(() => readFileSync(config), /ENOENT/, 'nothing saved after a refused login');
    assert.deepEqual(await login(registry.host, { username: 'alice', password: 'wonder-land' }, options), { registry: registry.host, file: config, identityToken: false });
    assert.deepEqual(JSON.parse(readFileSync(config, 'utf8')).auths, { [registry.host]: auth('alice', 'wonder-land') });
    assert.equal((await readRemote(`${registry.host}/team/app:1`, withDockerConfig(JSON.parse(readFileSync(config, 'utf8')).auths))).digest, (await sampleImage('basic')).digest);
    assert.deepEqual(await logout(registry.host, options), { registry: registry.host, removed: true });
    assert.deepEqual(JSON.parse(readFileSync(config, 'utf8')).auths, {});
  });
});

describe('token auth', { skip }, () => {
  let tokens: TokenServer;
  let registry: Registry;
  before(async () => {
    tokens = await TokenServer.start(join(scratch, 'token-server'), {
      users: { alice: 'token-pw' },
      // Anyone may pull public/*; alice may do anything.
      grant: (user, repository, actions) => (user === 'alice' ? actions : repository.startsWith('public/') ? actions.filter((a) => a === 'pull') : []),
    });
    registry = await Registry.start(join(scratch, 'token'), { kind: 'token', server: tokens });
  });
  after(async () => {
    await registry?.stop();
    await tokens?.close();
  });

  it('push with credentials: one token for pull,push on the repository, reused for every request', async () => {
    const before = tokens.requests.length;
    const img = await sampleImage('token');
    await pushImage(`${registry.host}/public/app:1`, img, withDockerConfig({ [registry.host]: auth('alice', 'token-pw') }));
    assert.deepEqual(tokens.requests.slice(before).map((r) => [r.method, r.user, r.service, r.scopes]), [['GET', 'alice', tokens.service, ['repository:public/app:pull,push']]]);
  });

  it('anonymous pull where the token server allows it; anonymous push refused, saying to log in', async () => {
    const img = await sampleImage('token');
    assert.equal((await readRemote(`${registry.host}/public/app:1`, withDockerConfig())).digest, img.digest);
    await assert.rejects(pushImage(`${registry.host}/public/other:1`, img, withDockerConfig()),
      (e) => isPithError(e, 'REGISTRY_UNAUTHORIZED') && e.message.includes('pith login'));
  });

  it('a token the registry refuses (expired) is replaced once and the request repeated', async () => {
    const expiring = await TokenServer.start(join(scratch, 'token-server-expired'), { users: { alice: 'token-pw' }, expiredFirst: 1 });
    const reg = await Registry.start(join(scratch, 'token-expired'), { kind: 'token', server: expiring });
    try {
      const img = await sampleImage('expired');
      const summary = await pushImage(`${reg.host}/team/app:1`, img, withDockerConfig({ [reg.host]: auth('alice', 'token-pw') }));
      assert.equal(summary.digest, img.digest);
      assert.equal(expiring.requests.length, 2, 'the expired token, then a fresh one');
    } finally {
      await reg.stop();
      await expiring.close();
    }
  });

  it('mounting from another repository asks for pull on it in the same token', async () => {
    const options = withDockerConfig({ [registry.host]: auth('alice', 'token-pw') });
    const before = tokens.requests.length;
    const r = await copyImage(`docker://${registry.host}/public/app:1`, `docker://${registry.host}/team/copy:1`, { registry: options });
    assert.equal(r.push?.blobs.mounted, 3);
    assert.deepEqual(tokens.requests.slice(before).map((t) => t.scopes), [['repository:public/app:pull'], ['repository:team/copy:pull,push', 'repository:public/app:pull']]);
  });

  it('login saves the offline token as the identity token, which later runs exchange for access tokens', async () => {
    const options = withDockerConfig();
    const result = await login(registry.host, { username: 'alice', password: 'token-pw' }, options);
    assert.equal(result.identityToken, true);
    const saved = JSON.parse(readFileSync(result.file, 'utf8')).auths[registry.host];
    assert.equal(Buffer.from(saved.auth, 'base64').toString(), 'alice:');
    assert.match(saved.identitytoken, /^[0-9a-f]{32}$/);
    const before = tokens.requests.length;
    await pushImage(`${registry.host}/team/identity:1`, await sampleImage('identity'), withDockerConfig({ [registry.host]: saved }));
    assert.deepEqual(tokens.requests.slice(before).map((t) => [t.method, t.grantType, t.user]), [['POST', 'refresh_token', 'alice']]);
    await assert.rejects(login(registry.host, { username: 'alice', password: 'wrong' }, withDockerConfig()), (e) => isPithError(e, 'REGISTRY_LOGIN_FAILED'));
  });
});
