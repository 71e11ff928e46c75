import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { isPithError } from '../../src/errors.ts';
import { generateKeyPair, loadSigningKey, loadVerificationKey } from '../../src/trust/keys.ts';
import { openEnvelope, pae, signEnvelope } from '../../src/trust/dsse.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-keys-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
};

describe('signing keys', () => {
  it('keygen writes a P-256 pair that openssl reads; an encrypted key opens only with its passphrase', async () => {
    const pair = generateKeyPair('s3cret');
    const key = write('enc.key', pair.privateKeyPem);
    assert.match(pair.privateKeyPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const text = execFileSync('openssl', ['pkey', '-in', key, '-passin', 'pass:s3cret', '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /prime256v1|P-256/);
    await assert.rejects(loadSigningKey(key, undefined), (e) => isPithError(e, 'KEY_PASSWORD') && e.message.includes('PITH_KEY_PASSWORD'));
    await assert.rejects(loadSigningKey(key, 'wrong'), (e) => isPithError(e, 'KEY_PASSWORD'));
    const signing = await loadSigningKey(key, 's3cret');
    assert.equal(signing.kind, 'ecdsa');
    const pub = await loadVerificationKey(write('enc.pub', pair.publicKeyPem));
    assert.equal(pub.kind, 'ecdsa');
  });

  it('reads a SEC1 key as openssl and cosign write it, and refuses keys of other kinds by name', async () => {
    const sec1 = join(scratch, 'sec1.key');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', sec1]);
    assert.equal((await loadSigningKey(sec1, undefined)).kind, 'ecdsa');
    const rsa = join(scratch, 'rsa.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsa]);
    await assert.rejects(loadSigningKey(rsa, undefined), (e) => isPithError(e, 'KEY_INVALID') && e.message.includes('P-256') && e.message.includes('rsa'));
    const p384 = join(scratch, 'p384.key');
    execFileSync('openssl', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', p384]);
    await assert.rejects(loadSigningKey(p384, undefined), (e) => isPithError(e, 'KEY_INVALID') && e.message.includes('secp384r1'));
    await assert.rejects(loadSigningKey(write('junk.key', 'not a key'), undefined), (e) => isPithError(e, 'KEY_INVALID') && e.message.includes('neither PEM nor OpenPGP'));
    await assert.rejects(loadSigningKey(join(scratch, 'absent.key'), undefined), (e) => isPithError(e, 'KEY_INVALID') && e.message.includes('ENOENT'));
  });

  it('an armored OpenPGP secret key signs; its public key is read armored and binary', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'pith test', email: 'test@example.invalid' }], type: 'ecc', curve: 'nistP256' as never, format: 'armored' });
    const signing = await loadSigningKey(write('pgp.key', privateKey), undefined);
    assert.equal(signing.kind, 'openpgp');
    const armored = await loadVerificationKey(write('pgp.pub', publicKey));
    assert.equal(armored.kind, 'openpgp');
    const binary = (await openpgp.readKey({ armoredKey: publicKey })).write();
    const binFile = join(scratch, 'pgp.gpg');
    writeFileSync(binFile, binary);
    const read = await loadVerificationKey(binFile);
    assert.ok(read.kind === 'openpgp' && read.publicKeys[0].getFingerprint() === (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint());
  });
});

describe('DSSE envelopes', () => {
  it('PAE is the specification\'s encoding (its example: DSSEv1 29 http://example.com/HelloWorld 11 hello world)', () => {
    assert.equal(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('a signed envelope verifies with Node\'s crypto over PAE; a tampered payload or another key is refused', async () => {
    const pair = generateKeyPair();
    const key = await loadSigningKey(write('dsse.key', pair.privateKeyPem), undefined);
    assert.equal(key.kind, 'ecdsa');
    if (key.kind !== 'ecdsa') return;
    const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
    const envelope = signEnvelope('application/vnd.in-toto+json', payload, key.privateKey);
    const signed = Buffer.concat([Buffer.from('DSSEv1 28 application/vnd.in-toto+json '), Buffer.from(`${payload.byteLength} `), payload]);
    assert.ok(verify('sha256', signed, createPublicKey(pair.publicKeyPem), Buffer.from(envelope.signatures[0].sig, 'base64')));
    assert.deepEqual(openEnvelope(envelope, key.publicKey, 'the test envelope'), payload);
    const tampered = { ...envelope, payload: Buffer.from('{"_type":"other"}').toString('base64') };
    assert.throws(() => openEnvelope(tampered, key.publicKey, 'the tampered envelope'), (e) => isPithError(e, 'SIGNATURE_INVALID'));
    const other = createPublicKey(generateKeyPair().publicKeyPem);
    assert.throws(() => openEnvelope(envelope, other, 'the envelope'), (e) => isPithError(e, 'SIGNATURE_INVALID') && e.message.includes('1 signature'));
  });
});
