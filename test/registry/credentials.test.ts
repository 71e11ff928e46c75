/**
 * Credentials found where docker and podman keep them, and saved (login) and removed (logout) as docker does,
 * including through a real credential-helper program speaking docker's protocol.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { credentialFiles, dockerConfigKey, findCredentials, removeCredentials, storeCredentials } from '../../src/registry/credentials.ts';
import { DEFAULT_DOMAIN } from '../../src/oci/reference.ts';
import { isPithError } from '../../src/errors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-credentials-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

/** A HOME of its own, with nothing in it unless the test writes it. */
function home(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = join(scratch, `home-${++n}`);
  mkdirSync(dir, { recursive: true });
  return { dir, env: { HOME: dir, PATH: process.env.PATH } };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}

/**
 * `docker-credential-pithtest`: a credential helper as a shell script, keeping each secret in a file named after
 * the server URL, and answering "credentials not found" as docker's helpers do.
 */
function installHelper(dir: string): { bin: string; store: string } {
  const bin = join(dir, 'bin');
  const store = join(dir, 'store');
  mkdirSync(bin, { recursive: true });
  mkdirSync(store, { recursive: true });
  const script = `#!/bin/sh
IFS= read -r line
case "$1" in
  store) url=$(printf %s "$line" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p') ;;
  *) url=$line ;;
esac
key="${store}/$(printf %s "$url" | sha256sum | cut -c1-16)"
case "$1" in
  get) if [ -f "$key" ]; then cat "$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) printf %s "$line" > "$key" ;;
  erase) if [ -f "$key" ]; then rm "$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`;
  writeFileSync(join(bin, 'docker-credential-pithtest'), script);
  chmodSync(join(bin, 'docker-credential-pithtest'), 0o755);
  return { bin, store };
}

test('the files searched: an explicit podman auth file, docker config, podman default', () => {
  assert.deepEqual(credentialFiles({ HOME: '/h' }), ['/h/.docker/config.json']);
  assert.deepEqual(credentialFiles({ HOME: '/h', DOCKER_CONFIG: '/d', REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/u' }), ['/a.json', '/d/config.json', '/run/u/containers/auth.json']);
});

test("docker's auths: base64 auth, username/password fields, identitytoken; keys with a scheme and path", async () => {
  const { dir, env } = home();
  writeJson(join(dir, '.docker', 'config.json'), {
    auths: {
      'https://registry.test:5000/v1/': { auth: b64('alice:pa:ss') },
      'other.test': { username: 'bob', password: 'pw' },
      'token.test': { auth: b64('carol:'), identitytoken: 'refresh-123' },
    },
  });
  assert.deepEqual(await findCredentials('registry.test:5000', 'team/app', env), { username: 'alice', password: 'pa:ss', from: join(dir, '.docker', 'config.json') });
  assert.deepEqual(await findCredentials('other.test', undefined, env), { username: 'bob', password: 'pw', from: join(dir, '.docker', 'config.json') });
  assert.deepEqual(await findCredentials('token.test', undefined, env), { username: 'carol', identityToken: 'refresh-123', from: join(dir, '.docker', 'config.json') });
  assert.equal(await findCredentials('unknown.test', undefined, env), undefined);
});

test("podman's auth.json: the most specific key (registry/namespace) wins; the default registry under its legacy key", async () => {
  const { dir, env } = home();
  const file = join(dir, 'auth.json');
  writeJson(file, { auths: { 'registry.test': { auth: b64('wide:1') }, 'registry.test/team': { auth: b64('narrow:2') }, [dockerConfigKey(DEFAULT_DOMAIN)]: { auth: b64('hub:3') } } });
  env.REGISTRY_AUTH_FILE = file;
  assert.equal((await findCredentials('registry.test', 'team/app', env))?.username, 'narrow');
  assert.equal((await findCredentials('registry.test', 'other/app', env))?.username, 'wide');
  assert.equal((await findCredentials(DEFAULT_DOMAIN, 'library/debian', env))?.username, 'hub');
});

test('$XDG_RUNTIME_DIR/containers/auth.json is read after docker config', async () => {
  const { dir, env } = home();
  env.XDG_RUNTIME_DIR = join(dir, 'run');
  writeJson(join(dir, 'run', 'containers', 'auth.json'), { auths: { 'registry.test': { auth: b64('podman:1') } } });
  assert.equal((await findCredentials('registry.test', undefined, env))?.username, 'podman');
  writeJson(join(dir, '.docker', 'config.json'), { auths: { 'registry.test': { auth: b64('docker:2') } } });
  assert.equal((await findCredentials('registry.test', undefined, env))?.username, 'docker');
});

test('a malformed file is an error naming it', async () => {
  const { dir, env } = home();
  mkdirSync(join(dir, '.docker'));
  writeFileSync(join(dir, '.docker', 'config.json'), '{not json');
  await assert.rejects(findCredentials('registry.test', undefined, env), (e) => isPithError(e, 'REGISTRY_AUTH_FILE') && e.message.includes('config.json'));
});

test('store and remove as docker login/logout: auths entry, other settings kept, file 0600', async () => {
  const { dir, env } = home();
  const file = join(dir, '.docker', 'config.json');
  writeJson(file, { auths: { 'keep.test': { auth: b64('k:k') } }, detachKeys: 'ctrl-p' });
  const stored = await storeCredentials('registry.test:5000', { username: 'alice', password: 's3cret' }, env);
  assert.deepEqual(stored, { file });
  const config = JSON.parse(readFileSync(file, 'utf8'));
  assert.deepEqual(config, { auths: { 'keep.test': { auth: b64('k:k') }, 'registry.test:5000': { auth: b64('alice:s3cret') } }, detachKeys: 'ctrl-p' });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal((await findCredentials('registry.test:5000', undefined, env))?.password, 's3cret');
  assert.equal(await removeCredentials('registry.test:5000', env), true);
  assert.equal(await removeCredentials('registry.test:5000', env), false);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).auths, { 'keep.test': { auth: b64('k:k') } });
});

test('credsStore: secrets go to the helper program, config.json keeps an empty marker; get and erase through it', async () => {
  const { dir, env } = home();
  const { bin, store } = installHelper(dir);
  env.PATH = `${bin}:${process.env.PATH}`;
  const file = join(dir, '.docker', 'config.json');
  writeJson(file, { credsStore: 'pithtest' });
  assert.deepEqual(await storeCredentials('registry.test', { username: 'dave', password: 'helper-pw' }, env), { file, helper: 'pithtest' });
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).auths, { 'registry.test': {} });
  assert.ok(!readFileSync(file, 'utf8').includes('helper-pw'));
  assert.deepEqual(await findCredentials('registry.test', undefined, env), { username: 'dave', password: 'helper-pw', from: 'docker-credential-pithtest' });
  assert.equal(await findCredentials('nothing.test', undefined, env), undefined, '"credentials not found" is no credentials, not an error');
  assert.equal(await removeCredentials('registry.test', env), true);
  assert.equal(await findCredentials('registry.test', undefined, env), undefined);
  assert.ok(statSync(store).isDirectory());
});

test('credHelpers names a helper per registry; a missing helper program is an error naming it', async () => {
  const { dir, env } = home();
  writeJson(join(dir, '.docker', 'config.json'), { credHelpers: { 'registry.test': 'absent' } });
  await assert.rejects(findCredentials('registry.test', undefined, env), (e) => isPithError(e, 'REGISTRY_CREDENTIAL_HELPER') && e.message.includes('docker-credential-absent'));
  assert.equal(await findCredentials('other.test', undefined, env), undefined);
});

test('an identity token from a helper is marked by the user name <token>', async () => {
  const { dir, env } = home();
  const { bin } = installHelper(dir);
  env.PATH = `${bin}:${process.env.PATH}`;
  writeJson(join(dir, '.docker', 'config.json'), { credHelpers: { 'registry.test': 'pithtest' } });
  await storeCredentials('registry.test', { username: 'erin', identityToken: 'rt-1' }, env);
  assert.deepEqual(await findCredentials('registry.test', undefined, env), { identityToken: 'rt-1', from: 'docker-credential-pithtest' });
});
