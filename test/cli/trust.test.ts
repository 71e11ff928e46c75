import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeImage } from '../../src/transports/transports.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { sampleImage } from '../registry/helpers.ts';

const bin = fileURLToPath(new URL('../../bin/pith.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'pith-cli-trust-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const pith = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: join(scratch, 'home'), XDG_CACHE_HOME: join(scratch, 'xdg'), PITH_KEY_PASSWORD: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('pith keygen', () => {
  it('writes PREFIX.key (0600, encrypted with PITH_KEY_PASSWORD) and PREFIX.pub that openssl reads as one P-256 pair', () => {
    const prefix = join(scratch, 'release');
    const r = pith(['keygen', prefix, '--json'], { PITH_KEY_PASSWORD: 'hunter2' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { privateKeyFile: `${prefix}.key`, publicKeyFile: `${prefix}.pub`, encrypted: true });
    assert.equal(statSync(`${prefix}.key`).mode & 0o777, 0o600);
    assert.match(readFileSync(`${prefix}.key`, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const derived = execFileSync('openssl', ['pkey', '-in', `${prefix}.key`, '-passin', 'pass:hunter2', '-pubout'], { encoding: 'utf8' });
    assert.equal(derived, readFileSync(`${prefix}.pub`, 'utf8'));
  });

  it('never overwrites a key: KEY_EXISTS, both files as they were', () => {
    const prefix = join(scratch, 'kept');
    writeFileSync(`${prefix}.pub`, 'precious');
    const r = pith(['keygen', prefix]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KEY_EXISTS: .*kept\.pub.*never overwrites/);
    assert.equal(readFileSync(`${prefix}.pub`, 'utf8'), 'precious');
    assert.throws(() => statSync(`${prefix}.key`));
  });

  it('without PITH_KEY_PASSWORD the key is plain PKCS#8 and the output says how to encrypt it', () => {
    const r = pith(['keygen', join(scratch, 'plain')]);
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
    const pushed = pith(['push', layout, image]);
    assert.equal(pushed.code, 0, pushed.stderr);
    for (const name of ['signer', 'stranger']) assert.equal(pith(['keygen', join(scratch, name)]).code, 0);
  });
  after(() => registry?.stop());

  it('an unsigned image fails verification with SIGNATURE_NOT_FOUND (exit 1, one line); signed, it verifies with the key and with docker://', () => {
    const unsigned = pith(['verify', image, '--key', join(scratch, 'signer.pub')]);
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /^pith: SIGNATURE_NOT_FOUND: expected a cosign signature of .*team\/app@sha256:/);
    const signed = pith(['sign', image, '--key', join(scratch, 'signer.key')]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.stdout, `signed ${digest} (cosign)\n`);
    const ok = pith(['verify', `docker://${image}`, '--key', join(scratch, 'signer.pub'), '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.digest, digest);
    assert.deepEqual(report.cosign.verified.map((v: { form: string }) => v.form).sort(), ['bundle', 'tag']);
  });

  it('another key is refused with SIGNATURE_INVALID and says which key', () => {
    assert.equal(pith(['sign', image, '--key', join(scratch, 'signer.key')]).code, 0);
    const r = pith(['verify', image, '--key', join(scratch, 'stranger.pub')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SIGNATURE_INVALID: no signature of .* verifies with key [0-9a-f]{64}/);
  });

  it('a missing --key is a usage error; a non-key file is KEY_INVALID', () => {
    assert.equal(pith(['verify', image]).code, 2);
    writeFileSync(join(scratch, 'notakey'), 'hello');
    const r = pith(['sign', image, '--key', join(scratch, 'notakey')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KEY_INVALID/);
  });
});
