import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as openpgp from 'openpgp';
import { writeImage } from '../../src/transports/transports.ts';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { sampleImage } from '../registry/helpers.ts';
import { identityToken, SigstoreStandIns, TEST_ISSUER } from '../fixtures/sigstore.ts';

const bin = fileURLToPath(new URL('../../bin/pith.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'pith-cli-trust-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs pith as a user does, with a HOME of the test's own; asynchronously, so servers in this process keep answering. */
function pith(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, HOME: join(scratch, 'home'), XDG_CACHE_HOME: join(scratch, 'xdg'), PITH_KEY_PASSWORD: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

describe('pith keygen', () => {
  it('writes PREFIX.key (0600, encrypted with PITH_KEY_PASSWORD) and PREFIX.pub that openssl reads as one P-256 pair', async () => {
    const prefix = join(scratch, 'release');
    const r = await pith(['keygen', prefix, '--json'], { PITH_KEY_PASSWORD: 'hunter2' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { privateKeyFile: `${prefix}.key`, publicKeyFile: `${prefix}.pub`, encrypted: true });
    assert.equal(statSync(`${prefix}.key`).mode & 0o777, 0o600);
    assert.match(readFileSync(`${prefix}.key`, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const derived = execFileSync('openssl', ['pkey', '-in', `${prefix}.key`, '-passin', 'pass:hunter2', '-pubout'], { encoding: 'utf8' });
    assert.equal(derived, readFileSync(`${prefix}.pub`, 'utf8'));
  });

  it('never overwrites a key: KEY_EXISTS, both files as they were', async () => {
    const prefix = join(scratch, 'kept');
    writeFileSync(`${prefix}.pub`, 'precious');
    const r = await pith(['keygen', prefix]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KEY_EXISTS: .*kept\.pub.*never overwrites/);
    assert.equal(readFileSync(`${prefix}.pub`, 'utf8'), 'precious');
    assert.throws(() => statSync(`${prefix}.key`));
  });

  it('without PITH_KEY_PASSWORD the key is plain PKCS#8 and the output says how to encrypt it', async () => {
    const r = await pith(['keygen', join(scratch, 'plain')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /not encrypted: set PITH_KEY_PASSWORD/);
    assert.match(readFileSync(join(scratch, 'plain.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  });
});

describe('pith sign and pith verify', { skip: registryMissing() }, () => {
  let registry: Registry;
  let image: string;
  let digest: string;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry'));
    const layout = join(scratch, 'layout');
    const img = await sampleImage('signed');
    await writeImage(`oci:${layout}:v1`, img);
    digest = img.digest;
    image = `${registry.host}/team/app:1`;
    const pushed = await pith(['push', layout, image]);
    assert.equal(pushed.code, 0, pushed.stderr);
    for (const name of ['signer', 'stranger']) assert.equal((await pith(['keygen', join(scratch, name)])).code, 0);
  });
  after(() => registry?.stop());

  it('an unsigned image fails verification with SIGNATURE_NOT_FOUND (exit 1, one line); signed, it verifies with the key and with docker://', async () => {
    const unsigned = await pith(['verify', image, '--key', join(scratch, 'signer.pub')]);
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /^pith: SIGNATURE_NOT_FOUND: expected a cosign signature of .*team\/app@sha256:/);
    const signed = await pith(['sign', image, '--key', join(scratch, 'signer.key')]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.stdout, `signed ${digest} in ${registry.host}/team/app (cosign)\n`);
    const ok = await pith(['verify', `docker://${image}`, '--key', join(scratch, 'signer.pub'), '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.digest, digest);
    assert.deepEqual(report.cosign.verified.map((v: { form: string }) => v.form).sort(), ['bundle', 'tag']);
  });

  it('another key is refused with SIGNATURE_INVALID and says which key', async () => {
    assert.equal((await pith(['sign', image, '--key', join(scratch, 'signer.key')])).code, 0);
    const r = await pith(['verify', image, '--key', join(scratch, 'stranger.pub')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SIGNATURE_INVALID: no signature of .* verifies with key [0-9a-f]{64}/);
  });

  it('a missing --key is a usage error; a non-key file is KEY_INVALID', async () => {
    assert.equal((await pith(['verify', image])).code, 2);
    const neither = await pith(['sign', image]);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /expected --key FILE .* or --keyless, found neither/);
    const half = await pith(['verify', image, '--certificate-identity', 'someone@example.test']);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /needs both --certificate-identity .* and --certificate-oidc-issuer/);
    assert.equal((await pith(['verify', image, '--key', join(scratch, 'signer.pub'), '--attestation', 'nonsense'])).code, 2);
    writeFileSync(join(scratch, 'notakey'), 'hello');
    const r = await pith(['sign', image, '--key', join(scratch, 'notakey')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KEY_INVALID/);
  });

  it('an OpenPGP key signs and verifies in containers/image\'s simple-signing format, in the lookaside named', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'pith test' }], type: 'ecc', curve: 'nistP256' as never, format: 'armored' });
    writeFileSync(join(scratch, 'pgp.key'), privateKey);
    writeFileSync(join(scratch, 'pgp.pub'), publicKey);
    const noLookaside = await pith(['sign', image, '--key', join(scratch, 'pgp.key')]);
    assert.equal(noLookaside.code, 2);
    assert.match(noLookaside.stderr, /pgp\.key is an OpenPGP key: its simple signatures live in a lookaside .* give --lookaside DIR\|URL/);
    const lookaside = join(scratch, 'sigstore');
    const signed = await pith(['sign', image, '--key', join(scratch, 'pgp.key'), '--lookaside', lookaside]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.stdout, `signed ${digest} in ${registry.host}/team/app (simple-signing)\n`);
    assert.ok(statSync(join(lookaside, 'team', `app@sha256=${digest.slice('sha256:'.length)}`, 'signature-1')).isFile());
    const ok = await pith(['verify', image, '--key', join(scratch, 'pgp.pub'), '--lookaside', `file://${lookaside}`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `verified ${registry.host}/team/app:1@${digest} (simple-signing)\n`);
  });
});

describe('--sign on push and build', { skip: registryMissing() ?? missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' }) }, () => {
  let registry: Registry;
  let server: FixtureArchive;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry-sign'));
    server = await startFixtureArchive(join(scratch, 'archive'));
    assert.equal((await pith(['keygen', join(scratch, 'ci')])).code, 0);
  });
  after(async () => {
    await registry?.stop();
    await server?.close();
  });

  it('push --sign signs what it pushed, and verify accepts it; a wrong key path fails before anything is sent', async () => {
    const layout = join(scratch, 'layout-push');
    const img = await sampleImage('pushed-signed');
    await writeImage(`oci:${layout}:v1`, img);
    const refused = await pith(['push', layout, `${registry.host}/ci/app:1`, '--sign', join(scratch, 'absent.key')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /KEY_INVALID/);
    assert.equal((await pith(['inspect', `${registry.host}/ci/app:1`])).code, 1, 'nothing was pushed');
    const r = await pith(['push', layout, `${registry.host}/ci/app:1`, '--sign', join(scratch, 'ci.key')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`signed ${img.digest} in ${registry.host}/ci/app \\(cosign\\)\\n${img.digest}\\n$`));
    assert.equal((await pith(['verify', `${registry.host}/ci/app:1`, '--key', join(scratch, 'ci.pub')])).code, 0);
  });

  it('build --push --sign signs the pushed digest (verify accepts it); --sign with nothing pushed is a usage error, before any build', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    const usage = await pith(['build', spec, '--sign', join(scratch, 'ci.key')]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--sign signs the image where it is pushed: add --push REF/);
    assert.throws(() => statSync(join(dir, 'out')), 'nothing was built');
    const r = await pith(['build', spec, '--push', `${registry.host}/ci/built:1`, '--sign', join(scratch, 'ci.key')]);
    assert.equal(r.code, 0, r.stderr);
    const digest = r.stdout.trim().split('\n').at(-1)!;
    assert.ok(r.stdout.includes(`signed ${digest} in ${registry.host}/ci/built (cosign)`), r.stdout);
    for (const type of ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document', 'https://cyclonedx.org/bom']) {
      assert.ok(r.stdout.includes(`attested ${digest} in ${registry.host}/ci/built (${type})`), r.stdout);
    }
    const verified = await pith(['verify', `${registry.host}/ci/built:1`, '--key', join(scratch, 'ci.pub'), '--json']);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(JSON.parse(verified.stdout).digest, digest);

    // The provenance proves which lock the image was built from: that one passes, any other is refused by name.
    const lockFile = join(dir, 'pith.lock');
    const fromLock = await pith(['verify', `${registry.host}/ci/built:1`, '--key', join(scratch, 'ci.pub'), '--lock', lockFile, '--attestation', 'cyclonedx']);
    assert.equal(fromLock.code, 0, fromLock.stderr);
    assert.equal(fromLock.stdout, `verified ${registry.host}/ci/built:1@${digest} (cosign); attested: https://slsa.dev/provenance/v1, https://spdx.dev/Document, https://cyclonedx.org/bom; built from ${lockFile}\n`);
    const hexes = readFileSync(lockFile, 'utf8').match(/[0-9a-f]{64}/g)!;
    const other = join(dir, 'other.lock');
    writeFileSync(other, readFileSync(lockFile, 'utf8').replace(hexes.at(-1)!, 'f'.repeat(64)));
    const mismatch = await pith(['verify', `${registry.host}/ci/built:1`, '--key', join(scratch, 'ci.pub'), '--lock', other]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /^pith: ATTESTATION_LOCK_MISMATCH: the provenance of .*ci\/built@sha256:[0-9a-f]{64} was not built from .*other\.lock: /);
  });

  it('build --push --sign-keyless signs and attests keylessly (settings from the environment); verify by identity accepts the lock it was built from', async () => {
    const sigstore = await SigstoreStandIns.start();
    try {
      const release = 'https://ci.pith.test/team/app/.github/workflows/release.yml@refs/heads/main';
      const env = { SIGSTORE_ID_TOKEN: identityToken({ sub: release }), PITH_FULCIO_URL: sigstore.fulcioUrl, PITH_REKOR_URL: sigstore.rekorUrl };
      const dir = mkdtempSync(join(scratch, 'spec-'));
      const spec = join(dir, 'pith.yaml');
      writeFileSync(spec, fixtureSpec(server));
      const both = await pith(['build', spec, '--push', `${registry.host}/ci/keyless:1`, '--sign', join(scratch, 'ci.key'), '--sign-keyless'], env);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /give --sign KEYFILE or --sign-keyless, not both/);
      const r = await pith(['build', spec, '--push', `${registry.host}/ci/keyless:1`, '--sign-keyless'], env);
      assert.equal(r.code, 0, r.stderr);
      const digest = r.stdout.trim().split('\n').at(-1)!;
      assert.ok(r.stdout.includes(`signed ${digest} in ${registry.host}/ci/keyless (keyless)`), r.stdout);
      assert.ok(r.stdout.includes(`attested ${digest} in ${registry.host}/ci/keyless (https://slsa.dev/provenance/v1)`), r.stdout);
      const root = join(dir, 'trusted_root.json');
      writeFileSync(root, JSON.stringify(sigstore.trustedRoot));
      const ok = await pith(['verify', `${registry.host}/ci/keyless:1`, '--certificate-identity', release, '--certificate-oidc-issuer', TEST_ISSUER, '--trusted-root', root, '--lock', join(dir, 'pith.lock')]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /\(keyless by https:\/\/ci\.pith\.test\/.*; attested: https:\/\/slsa\.dev\/provenance\/v1, .*; built from .*pith\.lock\n$/);
    } finally {
      sigstore.stop();
    }
  });

  it('build --sign with an OpenPGP key: refused before any build without --no-attest and --lookaside; with them, simple-signed under the pushed tag', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'pith ci' }], type: 'ecc', curve: 'nistP256' as never, format: 'armored' });
    writeFileSync(join(scratch, 'ci-pgp.key'), privateKey);
    writeFileSync(join(scratch, 'ci-pgp.pub'), publicKey);
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    const lookaside = join(dir, 'lookaside');
    const attesting = await pith(['build', spec, '--push', `${registry.host}/ci/pgp:1`, '--sign', join(scratch, 'ci-pgp.key'), '--lookaside', lookaside]);
    assert.equal(attesting.code, 2);
    assert.match(attesting.stderr, /ci-pgp\.key is an OpenPGP key, .* add --no-attest/);
    const nowhere = await pith(['build', spec, '--push', `${registry.host}/ci/pgp:1`, '--sign', join(scratch, 'ci-pgp.key'), '--no-attest']);
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /give --lookaside/);
    assert.throws(() => statSync(join(dir, 'out')), 'nothing was built');
    const r = await pith(['build', spec, '--push', `${registry.host}/ci/pgp:1`, '--sign', join(scratch, 'ci-pgp.key'), '--no-attest', '--lookaside', lookaside]);
    assert.equal(r.code, 0, r.stderr);
    const digest = r.stdout.trim().split('\n').at(-1)!;
    assert.ok(r.stdout.includes(`signed ${digest} in ${registry.host}/ci/pgp (simple-signing)`), r.stdout);
    const ok = await pith(['verify', `${registry.host}/ci/pgp:1`, '--key', join(scratch, 'ci-pgp.pub'), '--lookaside', lookaside, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).simpleSigning.verified[0].dockerReference, `${registry.host}/ci/pgp:1`, 'named by the pushed tag');
  });

  it('build --sign --no-attest signs the image alone: verify passes, verify --lock finds no provenance', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    const r = await pith(['build', spec, '--push', `${registry.host}/ci/bare:1`, '--sign', join(scratch, 'ci.key'), '--no-attest']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('attested'), r.stdout);
    assert.equal((await pith(['verify', `${registry.host}/ci/bare:1`, '--key', join(scratch, 'ci.pub')])).code, 0);
    const missing = await pith(['verify', `${registry.host}/ci/bare:1`, '--key', join(scratch, 'ci.pub'), '--lock', join(dir, 'pith.lock')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ATTESTATION_NOT_FOUND: expected a https:\/\/slsa\.dev\/provenance\/v1 attestation of /);
  });
});

describe('pith sign --keyless and pith verify --certificate-identity', { skip: registryMissing() }, () => {
  const RELEASE = 'https://ci.pith.test/team/app/.github/workflows/release.yml@refs/heads/main';
  let registry: Registry;
  let sigstore: SigstoreStandIns;
  let image: string;
  let digest: string;
  let trustedRoot: string;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry-keyless'));
    sigstore = await SigstoreStandIns.start();
    trustedRoot = join(scratch, 'trusted_root.json');
    writeFileSync(trustedRoot, JSON.stringify(sigstore.trustedRoot));
    const layout = join(scratch, 'layout-keyless');
    const img = await sampleImage('keyless');
    await writeImage(`oci:${layout}:v1`, img);
    digest = img.digest;
    image = `${registry.host}/ci/keyless:1`;
    assert.equal((await pith(['push', layout, image])).code, 0);
  });
  after(async () => {
    sigstore?.stop();
    await registry?.stop();
  });

  it('signs with the OIDC identity in SIGSTORE_ID_TOKEN through the Fulcio and Rekor named; verify names who signed, and refuses another identity', async () => {
    const signed = await pith(['sign', image, '--keyless', '--fulcio-url', sigstore.fulcioUrl, '--rekor-url', sigstore.rekorUrl], { SIGSTORE_ID_TOKEN: identityToken({ sub: RELEASE }) });
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.stdout, `signed ${digest} in ${registry.host}/ci/keyless (keyless)\n`);
    const ok = await pith(['verify', image, '--certificate-identity', RELEASE, '--certificate-oidc-issuer', TEST_ISSUER, '--trusted-root', trustedRoot]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `verified ${registry.host}/ci/keyless:1@${digest} (keyless by ${RELEASE} (${TEST_ISSUER}))\n`);
    const pattern = await pith(['verify', image, '--certificate-identity-regexp', '^https://ci\\.pith\\.test/team/', '--certificate-oidc-issuer', TEST_ISSUER], { PITH_TRUSTED_ROOT: trustedRoot });
    assert.equal(pattern.code, 0, pattern.stderr);
    const other = await pith(['verify', image, '--certificate-identity', 'mallory@example.test', '--certificate-oidc-issuer', TEST_ISSUER, '--trusted-root', trustedRoot]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /^pith: CERTIFICATE_IDENTITY_MISMATCH: .*expected .* to be signed by mallory@example\.test .* found https:\/\/ci\.pith\.test\//);
  });

  it('rollout verifies every pin by keyless identity before writing; run refuses half an identity', async () => {
    assert.equal((await pith(['sign', image, '--keyless', '--fulcio-url', sigstore.fulcioUrl, '--rekor-url', sigstore.rekorUrl], { SIGSTORE_ID_TOKEN: identityToken({ sub: RELEASE }) })).code, 0);
    const dir = mkdtempSync(join(scratch, 'manifests-'));
    const compose = join(dir, 'compose.yaml');
    const text = `services:\n  app:\n    image: ${registry.host}/ci/keyless:0\n`;
    writeFileSync(compose, text);
    const pin = ['--image', `${registry.host}/ci/keyless=${image}@${digest}`];
    const stranger = await pith(['rollout', ...pin, '--certificate-identity', 'mallory@example.test', '--certificate-oidc-issuer', TEST_ISSUER, '--trusted-root', trustedRoot, '--write', dir]);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /CERTIFICATE_IDENTITY_MISMATCH/);
    assert.equal(readFileSync(compose, 'utf8'), text, 'nothing written');
    const ok = await pith(['rollout', ...pin, '--certificate-identity', RELEASE, '--certificate-oidc-issuer', TEST_ISSUER, '--trusted-root', trustedRoot, '--write', dir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(readFileSync(compose, 'utf8').includes(`image: ${image}@${digest}`));
    const half = await pith(['run', image, '--certificate-oidc-issuer', TEST_ISSUER]);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /pith run: keyless verification needs both --certificate-identity/);
  });

  it('with no Fulcio configured, keyless signing fails naming the setting, and nothing is attached', async () => {
    const r = await pith(['sign', `${registry.host}/ci/keyless:1`, '--keyless'], { SIGSTORE_ID_TOKEN: identityToken({ sub: RELEASE }) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KEYLESS_NOT_CONFIGURED: .*PITH_FULCIO_URL/);
  });
});

describe('verification before run and rollout', { skip: registryMissing() }, () => {
  let registry: Registry;
  let signed: string;
  let unsigned: string;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry-verify'));
    assert.equal((await pith(['keygen', join(scratch, 'deploy')])).code, 0);
    const push = async (marker: string, repo: string, sign: boolean) => {
      const layout = join(scratch, `layout-${marker}`);
      await writeImage(`oci:${layout}:v1`, await sampleImage(marker));
      const r = await pith(['push', layout, `${registry.host}/${repo}:1`, ...(sign ? ['--sign', join(scratch, 'deploy.key')] : [])]);
      assert.equal(r.code, 0, r.stderr);
      return `${registry.host}/${repo}:1@${r.stdout.trim().split('\n').at(-1)}`;
    };
    signed = await push('deploy-signed', 'deploy/web', true);
    unsigned = await push('deploy-unsigned', 'deploy/worker', false);
  });
  after(() => registry?.stop());

  it('rollout --verify pins a signed digest and refuses an unsigned one before any file is written', async () => {
    const dir = mkdtempSync(join(scratch, 'manifests-'));
    const compose = join(dir, 'compose.yaml');
    const text = `services:\n  web:\n    image: ${registry.host}/deploy/web:0\n  worker:\n    image: ${registry.host}/deploy/worker:0\n`;
    writeFileSync(compose, text);
    const refused = await pith(['rollout', '--image', `${registry.host}/deploy/web=${signed}`, '--image', `${registry.host}/deploy/worker=${unsigned}`, '--verify', join(scratch, 'deploy.pub'), '--write', dir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /SIGNATURE_NOT_FOUND: .*deploy\/worker@sha256:/);
    assert.equal(readFileSync(compose, 'utf8'), text, 'nothing written');
    const ok = await pith(['rollout', '--image', `${registry.host}/deploy/web=${signed}`, '--verify', join(scratch, 'deploy.pub'), '--write', dir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(readFileSync(compose, 'utf8').includes(`image: ${signed}`));
  });

  it('run --verify refuses an unsigned image before anything starts, and a local location by name', async () => {
    const r = await pith(['run', unsigned.replace(/@sha256:.*/, ''), '--verify', join(scratch, 'deploy.pub')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SIGNATURE_NOT_FOUND/);
    const local = await pith(['run', `oci:${join(scratch, 'layout-deploy-signed')}:v1`, '--verify', join(scratch, 'deploy.pub')]);
    assert.equal(local.code, 1);
    assert.match(local.stderr, /expected a registry reference .* pith run --verify/);
  });
});
