import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { isPithError, type ErrorCode } from '../../src/errors.ts';
import { loadKeyring, verifyInRelease, type Keyring } from '../../src/debian/release.ts';
import { loadAptSources } from '../../src/debian/sources.ts';

const URL_ = 'http://archive.example/debian/dists/bookworm/InRelease';
const HASH_A = 'a'.repeat(64);
const HASH_B = '0123456789abcdef'.repeat(4);

async function makeKey(name: string) {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name, email: `${name}@archive.example` }],
    format: 'object',
  });
  return { privateKey, publicKey };
}

const archive = await makeKey('archive');
const second = await makeKey('second');
const stranger = await makeKey('stranger');
const tmp = mkdtempSync(join(tmpdir(), 'pith-release-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const ascPath = join(tmp, 'archive.asc');
writeFileSync(ascPath, archive.publicKey.armor());
const gpgPath = join(tmp, 'archive.gpg');
// A binary keyring is concatenated binary public keys, as in /usr/share/keyrings/*.gpg.
writeFileSync(gpgPath, Buffer.concat([archive.publicKey.write(), second.publicKey.write()]));
const keyring = await loadKeyring(ascPath);

function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', 'UTC');
}

interface ReleaseParts {
  date?: Date | null;
  validUntil?: Date;
  suite?: string;
  codename?: string;
  sha256?: string[];
}

function releaseText(p: ReleaseParts = {}): string {
  const date = p.date === undefined ? new Date(Date.now() - 3600_000) : p.date;
  const lines = ['Origin: Debian', 'Label: Debian', `Suite: ${p.suite ?? 'stable'}`, `Codename: ${p.codename ?? 'bookworm'}`];
  if (date !== null) lines.push(`Date: ${rfc2822(date)}`);
  if (p.validUntil) lines.push(`Valid-Until: ${rfc2822(p.validUntil)}`);
  lines.push(
    'Acquire-By-Hash: yes',
    'No-Support-for-Architecture-all: Packages',
    'Architectures: all amd64 arm64',
    'Components: main contrib',
    'Description: test archive',
    'MD5Sum:',
    ` ${'b'.repeat(32)}  1234 main/binary-amd64/Packages`,
    'SHA256:',
    ...(p.sha256 ?? [` ${HASH_A}  1234 main/binary-amd64/Packages`, ` ${HASH_B}   567 main/binary-amd64/Packages.xz`]),
  );
  return lines.join('\n') + '\n';
}

async function clearsign(text: string, keys = [archive.privateKey], date?: Date): Promise<Uint8Array> {
  const message = await openpgp.createCleartextMessage({ text });
  const armored = await openpgp.sign({ message, signingKeys: keys, format: 'armored', ...(date ? { date } : {}) });
  return new TextEncoder().encode(armored);
}

async function rejects(p: Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPithError(e, code), `expected PithError ${code}, got ${String(e)}`);
    for (const f of [URL_, ...fragments]) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

const verify = (bytes: Uint8Array, extra: Partial<Parameters<typeof verifyInRelease>[1]> = {}, ring: Keyring = keyring) =>
  verifyInRelease(bytes, { keyring: ring, url: URL_, suite: 'bookworm', ...extra });

test('a good signature is accepted and the signed fields are parsed', async () => {
  const text = releaseText({ validUntil: new Date(Date.now() + 86400_000) });
  const bytes = await clearsign(text);
  const r = await verify(bytes);
  assert.equal(r.text, text);
  assert.equal(r.digest, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(r.signer, archive.publicKey.getFingerprint().toUpperCase());
  assert.equal(r.suite, 'stable');
  assert.equal(r.codename, 'bookworm');
  assert.equal(r.origin, 'Debian');
  assert.equal(r.label, 'Debian');
  assert.equal(r.fields['description'], 'test archive');
  assert.equal(r.acquireByHash, true);
  assert.equal(r.noSupportForArchitectureAll, true);
  assert.deepEqual(r.architectures, ['all', 'amd64', 'arm64']);
  assert.deepEqual(r.components, ['main', 'contrib']);
  assert.ok(Math.abs(r.date.getTime() - (Date.now() - 3600_000)) < 5000);
  assert.ok(r.validUntil && r.validUntil.getTime() > Date.now());
  assert.deepEqual([...r.files.values()], [
    { path: 'main/binary-amd64/Packages', size: 1234, sha256: HASH_A },
    { path: 'main/binary-amd64/Packages.xz', size: 567, sha256: HASH_B },
  ]);
  // the suite may be given as Suite or as Codename
  assert.equal((await verify(bytes, { suite: 'stable' })).suite, 'stable');
});

test('armored, binary, inline and comma-separated keyrings are accepted', async () => {
  const bytes = await clearsign(releaseText(), [second.privateKey]);
  const binary = await loadKeyring(gpgPath);
  assert.equal(binary.keys.length, 2);
  assert.equal((await verify(bytes, {}, binary)).signer, second.publicKey.getFingerprint().toUpperCase());

  const inline = await loadKeyring(second.publicKey.armor());
  assert.equal((await verify(bytes, {}, inline)).signer, second.publicKey.getFingerprint().toUpperCase());

  const secondAsc = join(tmp, 'second.asc');
  writeFileSync(secondAsc, second.publicKey.armor());
  const both = await loadKeyring(`${ascPath},${secondAsc}`);
  assert.equal(both.keys.length, 2);
  await verify(bytes, {}, both);

  assert.equal(await loadKeyring(ascPath), keyring, 'keyrings are cached per path');
});

test('keyring errors: missing and invalid files', async () => {
  const missing = join(tmp, 'nope.gpg');
  await assert.rejects(loadKeyring(missing), (e: unknown) => isPithError(e, 'KEYRING_MISSING') && e.message.includes(missing));
  const garbage = join(tmp, 'garbage.gpg');
  writeFileSync(garbage, 'this is not a keyring at all\n');
  await assert.rejects(loadKeyring(garbage), (e: unknown) => isPithError(e, 'KEYRING_INVALID') && e.message.includes(garbage));
  const empty = join(tmp, 'empty.gpg');
  writeFileSync(empty, '');
  await assert.rejects(loadKeyring(empty), (e: unknown) => isPithError(e, 'KEYRING_INVALID') && e.message.includes(empty));
  const armorless = join(tmp, 'armorless.asc');
  writeFileSync(armorless, '-----BEGIN PGP MESSAGE-----\nxx\n-----END PGP MESSAGE-----\n');
  await assert.rejects(loadKeyring(armorless), (e: unknown) => isPithError(e, 'KEYRING_INVALID') && e.message.includes(armorless));
});

test('one good signature among several is enough, like apt', async () => {
  const bytes = await clearsign(releaseText(), [stranger.privateKey, archive.privateKey]);
  assert.equal((await verify(bytes)).signer, archive.publicKey.getFingerprint().toUpperCase());
});

test('RELEASE_NOT_SIGNED: plain text, or text before the signed message', async () => {
  await rejects(verify(new TextEncoder().encode(releaseText())), 'RELEASE_NOT_SIGNED');
  const signed = await clearsign(releaseText());
  const prefixed = Buffer.concat([Buffer.from('Origin: evil\n\n'), signed]);
  await rejects(verify(prefixed), 'RELEASE_NOT_SIGNED');
  await rejects(verify(Buffer.from([0xff, 0xfe, 0x00])), 'RELEASE_NOT_SIGNED');
});

test('RELEASE_MALFORMED: unsigned content after the signature', async () => {
  const signed = await clearsign(releaseText());
  await rejects(verify(Buffer.concat([signed, Buffer.from('\nSHA256:\n evil\n')])), 'RELEASE_MALFORMED', 'after');
});

test('RELEASE_UNKNOWN_KEY: signed only by keys outside the keyring', async () => {
  const bytes = await clearsign(releaseText(), [stranger.privateKey]);
  const keyId = stranger.privateKey.getSigningKey().then((k) => k.getKeyID().toHex().toUpperCase());
  await rejects(verify(bytes), 'RELEASE_UNKNOWN_KEY', await keyId, ascPath);
});

test('RELEASE_BAD_SIGNATURE: one byte of the signed text changed', async () => {
  const bytes = await clearsign(releaseText());
  const text = Buffer.from(bytes).toString('utf8');
  const at = text.indexOf(HASH_B);
  const tampered = Buffer.from(text.slice(0, at) + '1' + text.slice(at + 1));
  assert.equal(tampered.length, bytes.length);
  await rejects(verify(tampered), 'RELEASE_BAD_SIGNATURE', ascPath);
});

test('RELEASE_EXPIRED: Valid-Until in the past', async () => {
  const bytes = await clearsign(releaseText({ validUntil: new Date(Date.now() - 60_000) }));
  await rejects(verify(bytes), 'RELEASE_EXPIRED', 'Valid-Until');
});

test('RELEASE_FROM_FUTURE: Date more than the allowed skew ahead (apt default 10 s)', async () => {
  const soon = await clearsign(releaseText({ date: new Date(Date.now() + 5_000) }));
  await verify(soon);
  await rejects(verify(soon, { maxFutureSkewSeconds: 0 }), 'RELEASE_FROM_FUTURE');
  const later = await clearsign(releaseText({ date: new Date(Date.now() + 60_000) }));
  await rejects(verify(later), 'RELEASE_FROM_FUTURE', 'Date');
  await verify(later, { maxFutureSkewSeconds: 120 });
  // a signature made in the future is reported as a clock problem, not as tampering
  const futureSig = await clearsign(releaseText(), [archive.privateKey], new Date(Date.now() + 3600_000));
  await rejects(verify(futureSig), 'RELEASE_FROM_FUTURE', 'clock');
});

test('RELEASE_SUITE_MISMATCH: requested suite is neither Suite nor Codename', async () => {
  const bytes = await clearsign(releaseText());
  await rejects(verify(bytes, { suite: 'trixie' }), 'RELEASE_SUITE_MISMATCH', '"trixie"', 'stable', 'bookworm');
});

test('RELEASE_MALFORMED: no Date, bad SHA256 lines', async () => {
  await rejects(verify(await clearsign(releaseText({ date: null }))), 'RELEASE_MALFORMED', 'Date');
  await rejects(verify(await clearsign(releaseText({ sha256: [` ${HASH_A} main/Packages`] }))), 'RELEASE_MALFORMED', 'SHA256');
  await rejects(verify(await clearsign(releaseText({ sha256: [` ${'z'.repeat(64)} 1 main/Packages`] }))), 'RELEASE_MALFORMED', 'SHA256');
  await rejects(verify(await clearsign(releaseText({ sha256: [` ${HASH_A} 1 ../../etc/passwd`] }))), 'RELEASE_MALFORMED', '../../etc/passwd');
  const text = releaseText().replace(/^Date: .*$/m, 'Date: yesterday');
  await rejects(verify(await clearsign(text)), 'RELEASE_MALFORMED', 'yesterday');
});

const DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const requireIntegration = process.env['PITH_REQUIRE_INTEGRATION'] === '1';

test('live: the InRelease of every suite in the machine apt sources verifies', async (t) => {
  const seen = new Set<string>();
  const targets = loadAptSources({ onWarning: () => {} }).flatMap((e) =>
    /^https?:/.test(e.uri) ? e.suites.map((suite) => ({ uri: e.uri, suite, signedBy: e.signedBy ?? DEFAULT_KEYRING, where: e.where })) : [],
  );
  if (targets.length === 0) {
    if (requireIntegration) assert.fail('no http(s) apt sources on this machine');
    t.skip('no http(s) apt sources on this machine');
    return;
  }
  for (const { uri, suite, signedBy, where } of targets) {
    const url = `${uri}/dists/${suite}/InRelease`;
    if (seen.has(url)) continue;
    seen.add(url);
    await t.test(`${suite} (${where})`, async (st) => {
      const inline = signedBy.trim().startsWith('-----BEGIN');
      const missing = inline ? [] : signedBy.split(',').filter((p) => !existsSync(p));
      if (missing.length > 0) {
        st.skip(`keyring ${missing.join(', ')} is not on this machine`);
        return;
      }
      let bytes: Uint8Array;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
        assert.equal(res.status, 200, `GET ${url}`);
        bytes = new Uint8Array(await res.arrayBuffer());
      } catch (e) {
        if (e instanceof assert.AssertionError || requireIntegration) throw e;
        st.skip(`network unreachable: ${url}: ${(e as Error).message}`);
        return;
      }
      const r = await verifyInRelease(bytes, { keyring: await loadKeyring(signedBy), url, suite });
      assert.match(r.signer, /^[0-9A-F]{40}$/);
      assert.ok(r.files.size > 0);
      assert.ok(r.suite === suite || r.codename === suite);
      st.diagnostic(`${url}: Date ${r.date.toISOString()}, signed by ${r.signer}, ${r.files.size} files`);
    });
  }
});
