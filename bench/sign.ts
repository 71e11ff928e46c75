// bench/sign: issue 15 §5 — what signing adds to a fleet's pushes, and verifying the result, in-process.
// FLEET images (default 100), each built by pith from the fixture archive with a file of its own, are pushed to a real
// docker-registry on 127.0.0.1. Then, one image after another, what `build --push --sign` adds after its push:
// `sign()` with the build's attestations — cosign's two signature forms (the .sig tag, a Sigstore bundle referrer),
// the SLSA provenance and both SBOMs (made from the image in memory) as DSSE envelopes in the .att tag and as bundle
// referrers, through the fallback tag Debian's registry needs — then `verify()` with `--lock` (warm: every signature
// and attestation found, checked, and the provenance compared with the lock). Goals: sign + attest ≤ 50 ms per image,
// verify ≤ 100 ms. pith's own CPU time is shown beside the wall time: the registry is another process. Peer:
// cosign is not packaged for Debian 12; the signer that is, skopeo, signs one image per process (`skopeo
// standalone-sign`, containers/image's OpenPGP simple signing): timed on the same manifests, beside pith signing the
// same format with the same GnuPG key.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, loadSigningKey, loadVerificationKey, sign, verify, writeKeyPair, type BuildResult } from 'pith';
import { fixtureSpec, startFixtureArchive } from '../test/fixtures/archive.ts';
import { Registry } from '../test/fixtures/registry.ts';

const FLEET = Number(process.env.FLEET ?? 100);
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-sign-'));
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const median = (xs: number[]) => percentile(xs, 0.5);
const show = (xs: number[]) => `median ${median(xs).toFixed(1)} ms, p95 ${percentile(xs, 0.95).toFixed(1)} ms, total ${(xs.reduce((a, b) => a + b, 0) / 1000).toFixed(2)} s`;

const archive = await startFixtureArchive(join(scratch, 'archive'));
const registry = await Registry.start(join(scratch, 'registry'));
try {
  const { privateKeyFile, publicKeyFile } = await writeKeyPair(join(scratch, 'release'), '');
  const key = await loadSigningKey(privateKeyFile, '');
  const pub = await loadVerificationKey(publicKeyFile);
  const fleet: Array<{ spec: string; lock: string; built: BuildResult; ref: string }> = [];
  for (let i = 0; i < FLEET; i++) {
    const dir = join(scratch, `app${i}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'hello.txt'), `hello from image ${i}\n`);
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(archive, 'packages: [app]\nfiles:\n  - from: hello.txt\n    to: /srv/hello.txt\n'));
    const ref = `${registry.host}/fleet/app${i}:1`;
    const built = await build(spec, { cacheDir: join(scratch, 'cache'), outputs: [`oci:${join(dir, 'out')}:app`], push: [ref] });
    fleet.push({ spec, lock: join(dir, 'pith.lock'), built, ref: `${ref}@${built.digest}` });
  }

  const signing: number[] = [];
  const signingCpu: number[] = [];
  for (const { spec, lock, built, ref } of fleet) {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const r = await sign(ref, key, { attest: { spec, lock, image: built.image } });
    signing.push(performance.now() - t);
    const used = process.cpuUsage(cpu);
    signingCpu.push((used.user + used.system) / 1000);
    if (r.attestations?.attestations.length !== 3) throw new Error(`${ref}: expected 3 attestations, found ${r.attestations?.attestations.length}`);
  }
  const verifying: number[] = [];
  for (const { lock, ref } of fleet) {
    const t = performance.now();
    const r = await verify(ref, pub, { lock });
    verifying.push(performance.now() - t);
    if (r.cosign!.verified.length !== 2 || r.attestations!.verified.length !== 6) throw new Error(`${ref}: expected 2 signatures and 6 attestations verified`);
  }

  // The peer: skopeo signing the same manifests with a GnuPG key, one process per image.
  const gnupg = join(scratch, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupg };
  execFileSync('gpg', ['--batch', '--gen-key'], { env, input: 'Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: bench\n%no-protection\n%commit\n', stdio: ['pipe', 'ignore', 'ignore'] });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(execFileSync('gpg', ['--with-colons', '--list-secret-keys'], { env, encoding: 'utf8' }))![1]!;
  const secret = join(scratch, 'bench.asc');
  writeFileSync(secret, execFileSync('gpg', ['--batch', '--armor', '--export-secret-keys', fingerprint], { env }));
  const pgp = await loadSigningKey(secret, '');
  const lookaside = join(scratch, 'lookaside');
  const pithSimple: number[] = [];
  for (const { ref } of fleet) {
    const t = performance.now();
    await sign(ref, pgp, { lookaside });
    pithSimple.push(performance.now() - t);
  }
  const skopeo: number[] = [];
  for (const [i, { built, ref }] of fleet.entries()) {
    const manifest = join(scratch, `manifest-${i}.json`);
    writeFileSync(manifest, 'indexBytes' in built.image ? built.image.indexBytes : built.image.manifestBytes);
    const t = performance.now();
    const r = spawnSync('skopeo', ['standalone-sign', manifest, ref.replace(/@sha256:.*/, ''), fingerprint, '-o', join(scratch, `signature-${i}`)], { env });
    skopeo.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`skopeo standalone-sign: ${r.stderr}`);
  }

  console.log(`bench:sign — ${FLEET} images built from the fixture archive, ECDSA P-256, real docker-registry (fallback tag)`);
  console.log(`  pith sign + attest + push per image:  ${show(signing)}  (goal ≤ 50 ms: ${median(signing) <= 50 ? 'met' : 'not met'})`);
  console.log(`    of which pith's own CPU:             ${show(signingCpu)}  (the rest is waiting on the registry: ~9 ms per blob upload here)`);
  console.log(`  pith verify --lock per image (warm):  ${show(verifying)}  (goal ≤ 100 ms: ${median(verifying) <= 100 ? 'met' : 'not met'})`);
  console.log(`  pith simple signing (OpenPGP) per image: ${show(pithSimple)}  (the manifest read from the registry, the lookaside read, one signature written)`);
  console.log(`  skopeo standalone-sign per image:     ${show(skopeo)}  (the manifest from a file, one OpenPGP signature written; one process per image)`);
  console.log(`  ratio pith simple signing / skopeo standalone-sign: ${(median(pithSimple) / median(skopeo)).toFixed(2)}`);
  console.log(`  ratio pith sign+attest+push / skopeo standalone-sign: ${(median(signing) / median(skopeo)).toFixed(2)}`);
} finally {
  await registry.stop();
  await archive.close();
  rmSync(scratch, { recursive: true, force: true });
}
