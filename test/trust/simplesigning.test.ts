/**
 * containers/image's simple signing with OpenPGP keys, checked by the real consumer no one here wrote: Debian's
 * skopeo, copying with a `signedBy` (GPGKeys) policy and a registries.d lookaside, accepts what pith signs and refuses
 * unsigned, tampered and strangers' signatures; pith verifies what `skopeo copy --sign-by` writes. Keys are made by
 * gpg; the registry is Debian's docker-registry on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { digestHex } from '../../src/oci/digest.ts';
import { buildIndex } from '../../src/oci/image.ts';
import { pushImage } from '../../src/registry/push.ts';
import { loadSigningKey, loadVerificationKey } from '../../src/trust/keys.ts';
import { ATOMIC_SIGNATURE_TYPE, lookasideSignatureUrl } from '../../src/trust/simplesigning.ts';
import { sign, verify } from '../../src/trust/trust.ts';
import { missingTools } from '../fixtures/apt.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { sampleImage } from '../registry/helpers.ts';
import { rejects } from '../fixtures/trust.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-simplesigning-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A GnuPG home with one ed25519 signing key, exported as pith and skopeo read keys. */
function gpgKey(name: string): { home: string; fingerprint: string; secret: string; publicBinary: string; publicArmored: string } {
  const home = join(scratch, `gnupg-${name}`);
  mkdirSync(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync('gpg', ['--batch', '--gen-key'], { env, input: `Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: ${name}\nName-Email: ${name}@pith.test\n%no-protection\n%commit\n`, stdio: ['pipe', 'ignore', 'ignore'] });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(execFileSync('gpg', ['--with-colons', '--list-secret-keys'], { env, encoding: 'utf8' }))![1]!;
  const secret = join(scratch, `${name}.asc`);
  writeFileSync(secret, execFileSync('gpg', ['--batch', '--armor', '--export-secret-keys', fingerprint], { env }));
  const publicBinary = join(scratch, `${name}.gpg`);
  writeFileSync(publicBinary, execFileSync('gpg', ['--export', fingerprint], { env }));
  const publicArmored = join(scratch, `${name}.pub.asc`);
  writeFileSync(publicArmored, execFileSync('gpg', ['--armor', '--export', fingerprint], { env }));
  return { home, fingerprint, secret, publicBinary, publicArmored };
}

/** Runs skopeo without blocking this process (the registry fixture answers from it). */
function skopeo(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('skopeo', args, { env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? -1, stderr }));
  });
}

describe('OpenPGP simple signing, with skopeo as the judge', { skip: registryMissing() ?? missingTools({ skopeo: 'skopeo', gpg: 'gpg' }) }, () => {
  let registry: Registry;
  let alice: ReturnType<typeof gpgKey>;
  let mallory: ReturnType<typeof gpgKey>;
  const lookaside = join(scratch, 'lookaside');
  const policy = join(scratch, 'policy.json');
  const registriesD = join(scratch, 'registries.d');
  const images: Record<string, string> = {};

  /** skopeo copy of `image` under the signedBy policy trusting alice; exit 0 means skopeo accepted its signature. */
  const judge = (image: string) =>
    skopeo(['copy', '--policy', policy, '--registries.d', registriesD, '--src-tls-verify=false', `docker://${image}`, `dir:${mkdtempSync(join(scratch, 'copy-'))}`]);

  before(async () => {
    registry = await Registry.start(join(scratch, 'registry'));
    alice = gpgKey('alice');
    mallory = gpgKey('mallory');
    for (const name of ['signed', 'unsigned', 'tampered', 'stranger', 'other']) {
      const img = await sampleImage(`simple-${name}`);
      await pushImage(`${registry.host}/team/${name}:1`, img);
      images[name] = img.digest;
    }
    writeFileSync(policy, JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { [registry.host]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: alice.publicBinary }] }, dir: { '': [{ type: 'insecureAcceptAnything' }] } },
    }));
    mkdirSync(registriesD);
    writeFileSync(join(registriesD, 'pith-test.yaml'), `docker:\n  ${registry.host}:\n    lookaside: file://${lookaside}\n`);
  });
  after(() => registry?.stop());

  it('pith signs into the lookaside as registries.d lays it out, and skopeo\'s signedBy policy accepts the image', async () => {
    const r = await sign(`${registry.host}/team/signed:1`, alice.secret, { lookaside });
    assert.equal(r.format, 'simple-signing');
    assert.deepEqual(r.digests, [images.signed]);
    const file = join(lookaside, 'team', `signed@sha256=${digestHex(images.signed as `sha256:${string}`)}`, 'signature-1');
    assert.ok(existsSync(file), file);
    // The stored bytes are a binary OpenPGP message holding the signed JSON (read here with openpgp, not pith).
    const message = await openpgp.readMessage({ binaryMessage: readFileSync(file) });
    const { data, signatures } = await openpgp.verify({ message, verificationKeys: await openpgp.readKey({ binaryKey: readFileSync(alice.publicBinary) }), format: 'binary', expectSigned: true });
    assert.equal(signatures[0]!.keyID.toHex().toUpperCase(), alice.fingerprint.slice(-16));
    const doc = JSON.parse(Buffer.from(data as Uint8Array).toString());
    assert.deepEqual(doc.critical, { identity: { 'docker-reference': `${registry.host}/team/signed:1` }, image: { 'docker-manifest-digest': images.signed }, type: ATOMIC_SIGNATURE_TYPE });
    assert.deepEqual(Object.keys(doc.optional), ['creator', 'timestamp']);

    const accepted = await judge(`${registry.host}/team/signed:1`);
    assert.equal(accepted.code, 0, accepted.stderr);
    const byDigest = await judge(`${registry.host}/team/signed@${images.signed}`);
    assert.equal(byDigest.code, 0, byDigest.stderr);
  });

  it('signing again with the same key adds nothing; another key appends signature-2 and never replaces signature-1', async () => {
    const again = await sign(`${registry.host}/team/signed:1`, alice.secret, { lookaside });
    assert.equal(again.simpleSigning![0]!.added, false);
    const other = await sign(`${registry.host}/team/signed:1`, mallory.secret, { lookaside });
    assert.equal(other.simpleSigning![0]!.added, true);
    assert.match(other.simpleSigning![0]!.url, /signature-2$/);
    assert.equal((await judge(`${registry.host}/team/signed:1`)).code, 0, "alice's signature still counts beside mallory's");
  });

  it('skopeo refuses an unsigned image, a tampered signature, a stranger\'s, and a signature of another image', async () => {
    const unsigned = await judge(`${registry.host}/team/unsigned:1`);
    assert.notEqual(unsigned.code, 0);
    assert.match(unsigned.stderr, /signature|rejected/i);

    await sign(`${registry.host}/team/tampered:1`, alice.secret, { lookaside });
    const file = join(lookaside, 'team', `tampered@sha256=${digestHex(images.tampered as `sha256:${string}`)}`, 'signature-1');
    const bytes = readFileSync(file);
    bytes[bytes.length - 5]! ^= 0x01;
    writeFileSync(file, bytes);
    assert.notEqual((await judge(`${registry.host}/team/tampered:1`)).code, 0);
    await rejects(verify(`${registry.host}/team/tampered:1`, alice.publicBinary, { lookaside }), 'SIGNATURE_INVALID', /tampered@sha256=.*signature-1 is not an OpenPGP message signed by one of the given keys/);

    await sign(`${registry.host}/team/stranger:1`, mallory.secret, { lookaside });
    assert.notEqual((await judge(`${registry.host}/team/stranger:1`)).code, 0);
    await rejects(verify(`${registry.host}/team/stranger:1`, alice.publicArmored, { lookaside }), 'SIGNATURE_INVALID');

    // alice's signature of team/signed, copied where team/other's would be: about another digest.
    const signedDir = join(lookaside, 'team', `signed@sha256=${digestHex(images.signed as `sha256:${string}`)}`);
    const otherDir = join(lookaside, 'team', `other@sha256=${digestHex(images.other as `sha256:${string}`)}`);
    mkdirSync(otherDir, { recursive: true });
    copyFileSync(join(signedDir, 'signature-1'), join(otherDir, 'signature-1'));
    assert.notEqual((await judge(`${registry.host}/team/other:1`)).code, 0);
    await rejects(verify(`${registry.host}/team/other:1`, alice.publicBinary, { lookaside }), 'SIGNATURE_WRONG_IMAGE', new RegExp(`signs ${images.signed}, not ${images.other}`));
  });

  it('pith verifies with a public key as gpg --export writes it, binary or armored; no signature is SIGNATURE_NOT_FOUND; a name other than the tag signed is refused', async () => {
    for (const key of [alice.publicBinary, alice.publicArmored]) {
      const r = await verify(`${registry.host}/team/signed:1`, key, { lookaside });
      assert.equal(r.format, 'simple-signing');
      assert.equal(r.digest, images.signed);
      assert.deepEqual(r.simpleSigning!.verified.map((v) => v.fingerprint), [alice.fingerprint]);
    }
    await rejects(verify(`${registry.host}/team/unsigned:1`, alice.publicBinary, { lookaside }), 'SIGNATURE_NOT_FOUND', /expected a simple signature of .*team\/unsigned@sha256:[0-9a-f]{64} at file:.*signature-1, found none/);
    // Signed as :1; by digest the repository suffices (matchRepoDigestOrExact), by another tag it does not.
    assert.equal((await verify(`${registry.host}/team/signed@${images.signed}`, alice.publicBinary, { lookaside })).digest, images.signed);
    await pushImage(`${registry.host}/team/signed:2`, await sampleImage('simple-signed'));
    await rejects(verify(`${registry.host}/team/signed:2`, alice.publicBinary, { lookaside }), 'SIGNATURE_WRONG_IMAGE', /names .*team\/signed:1, not .*team\/signed:2/);
  });

  it('pith verifies what skopeo copy --sign-by wrote, and the other way round', async () => {
    const source = join(scratch, 'source-layout');
    await (await import('../../src/transports/transports.ts')).writeImage(`oci:${source}:v1`, await sampleImage('simple-by-skopeo'));
    const signedBySkopeo = await skopeo(['copy', '--registries.d', registriesD, '--dest-tls-verify=false', '--sign-by', alice.fingerprint, `oci:${source}:v1`, `docker://${registry.host}/team/by-skopeo:1`], { GNUPGHOME: alice.home });
    assert.equal(signedBySkopeo.code, 0, signedBySkopeo.stderr);
    const r = await verify(`${registry.host}/team/by-skopeo:1`, alice.publicBinary, { lookaside });
    assert.deepEqual(r.simpleSigning!.verified.map((v) => [v.dockerReference, v.fingerprint]), [[`${registry.host}/team/by-skopeo:1`, alice.fingerprint]]);
  });

  it('an index: the index and each platform manifest are signed, and skopeo accepts it', async () => {
    const index = buildIndex([await sampleImage('simple-multi', 'amd64'), await sampleImage('simple-multi', 'arm64')]);
    await pushImage(`${registry.host}/team/multi:1`, index);
    const r = await sign(`${registry.host}/team/multi:1`, alice.secret, { lookaside });
    assert.deepEqual(r.digests, [index.digest, ...index.images.map((i) => i.digest)]);
    assert.equal((await judge(`${registry.host}/team/multi:1`)).code, 0);
  });

  it('an http(s) lookaside is read (signature-1, -2, … until one is missing), and refused for writing', async () => {
    const server: Server = createServer((req, res) => {
      const path = join(lookaside, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (!path.startsWith(lookaside) || !existsSync(path)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(path));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await verify(`${registry.host}/team/signed:1`, alice.publicBinary, { lookaside: url });
      assert.equal(r.simpleSigning!.verified[0]!.url, lookasideSignatureUrl(url, 'team/signed', images.signed as `sha256:${string}`, 1));
      assert.equal(r.simpleSigning!.rejected.length, 1, "mallory's signature-2 was read too, and set aside");
      await rejects(sign(`${registry.host}/team/signed:1`, alice.secret, { lookaside: url }), 'USAGE', /read-only/);
    } finally {
      server.close();
    }
  });

  it('an OpenPGP key needs a lookaside, and cannot sign attestations', async () => {
    await rejects(sign(`${registry.host}/team/signed:1`, alice.secret), 'USAGE', /alice\.asc is an OpenPGP key: .*give --lookaside/);
    await rejects(verify(`${registry.host}/team/signed:1`, alice.publicBinary), 'USAGE', /--lookaside/);
    await rejects(sign(`${registry.host}/team/signed:1`, alice.secret, { lookaside, attest: { spec: 'pith.yaml' } }), 'USAGE', /add --no-attest/);
    assert.equal((await loadSigningKey(alice.secret)).kind, 'openpgp');
    assert.equal((await loadVerificationKey(alice.publicArmored)).kind, 'openpgp');
  });
});
