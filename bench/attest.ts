// bench/attest: issue 15 §5 — attesting a fleet's images where they are pushed, and verifying them, in-process.
// FLEET images (default 20; each built by pith from the fixture archive with a file of its own) are pushed to a
// real docker-registry on 127.0.0.1; then each gets its SLSA provenance and both SBOMs as signed attestations in
// cosign's two forms (the .att tag, and a Sigstore bundle referrer each through the fallback tag, which Debian's
// registry needs), one image after another. Per image, median and 95th percentile of:
// - attest with the image in memory (what a build that attests adds to its push: SBOMs made from the built image);
// - attest from the registry alone (SBOMs read back from the pushed image: its layers are pulled);
// - verify with the lock (warm): both forms found, every signature and subject checked, the provenance compared.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attestImage, build, verifyAttestations, writeKeyPair, type BuildResult } from 'pith';
import { fixtureSpec, startFixtureArchive } from '../test/fixtures/archive.ts';
import { Registry } from '../test/fixtures/registry.ts';

const FLEET = Number(process.env.FLEET ?? 20);
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-attest-'));
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const show = (xs: number[]) => `median ${percentile(xs, 0.5).toFixed(1)} ms, p95 ${percentile(xs, 0.95).toFixed(1)} ms`;

const archive = await startFixtureArchive(join(scratch, 'archive'));
const registry = await Registry.start(join(scratch, 'registry'));
try {
  // Key files as a CLI run reads them: loading the key is part of each image's cost.
  const { privateKeyFile: key, publicKeyFile: pub } = await writeKeyPair(join(scratch, 'release'), '');
  const fleet: Array<{ spec: string; built: BuildResult; ref: string; copy: string }> = [];
  for (let i = 0; i < FLEET; i++) {
    const dir = join(scratch, `app${i}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'hello.txt'), `hello from image ${i}\n`);
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(archive, 'packages: [app]\nfiles:\n  - from: hello.txt\n    to: /srv/hello.txt\n'));
    const [ref, copy] = [`${registry.host}/fleet/app${i}:1`, `${registry.host}/fleet/copy${i}:1`];
    const built = await build(spec, { cacheDir: join(scratch, 'cache'), outputs: [`oci:${join(dir, 'out')}:app`], push: [ref, copy] });
    fleet.push({ spec, built, ref, copy });
  }
  const inMemory: number[] = [];
  const fromRegistry: number[] = [];
  const verifying: number[] = [];
  for (const { spec, built, ref } of fleet) {
    const t = performance.now();
    await attestImage(ref, key, { spec, image: built.image });
    inMemory.push(performance.now() - t);
  }
  for (const { spec, copy } of fleet) {
    const t = performance.now();
    await attestImage(copy, key, { spec });
    fromRegistry.push(performance.now() - t);
  }
  for (const { spec, ref } of fleet) {
    const t = performance.now();
    const r = await verifyAttestations(ref, pub, { lock: spec.replace(/yaml$/, 'lock') });
    verifying.push(performance.now() - t);
    if (r.verified.length !== 6) throw new Error(`${ref}: expected 3 attestations in 2 forms verified, found ${r.verified.length}`);
  }
  console.log(`bench:attest — ${FLEET} images built from the fixture archive, ECDSA P-256, provenance + SPDX + CycloneDX, cosign's two forms, real docker-registry (fallback tag)`);
  console.log(`  attest + push, image in memory:     ${show(inMemory)}`);
  console.log(`  attest + push, SBOMs from registry: ${show(fromRegistry)}`);
  console.log(`  verify with --lock (warm):          ${show(verifying)}`);
} finally {
  await registry.stop();
  await archive.close();
  rmSync(scratch, { recursive: true, force: true });
}
