import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/pith.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'pith-cli-trust-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const pith = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, PITH_KEY_PASSWORD: '', ...env } });
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
