// bench/sign: issue 15 §5 — signing a fleet's images where they are pushed, and verifying them, in-process.
// FLEET images (default 100; each a small image of its own) are pushed to a real docker-registry on 127.0.0.1; then
// each is signed with an ECDSA key (cosign's two forms: the .sig tag and a Sigstore bundle referrer through the
// fallback tag, which Debian's registry needs) and verified, one after another. Per image: median and 95th
// percentile of signing (pith's `sign()`, what `--sign` adds to a push) and of verifying (warm: the JIT and the
// registry's token-free connection already used). Goals: sign ≤ 50 ms, verify ≤ 100 ms per image. No peer runs:
// cosign is not packaged for Debian 12, and skopeo's verifier checks OpenPGP signatures (the simple-signing format).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, loadSigningKey, loadVerificationKey, pushImage, sign, verify } from 'pith';
import { Registry } from '../test/fixtures/registry.ts';
import { sampleImage } from '../test/registry/helpers.ts';

const FLEET = Number(process.env.FLEET ?? 100);
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-sign-'));
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const show = (xs: number[]) => `median ${percentile(xs, 0.5).toFixed(1)} ms, p95 ${percentile(xs, 0.95).toFixed(1)} ms, total ${(xs.reduce((a, b) => a + b, 0) / 1000).toFixed(2)} s`;

const registry = await Registry.start(join(scratch, 'registry'));
try {
  const pair = generateKeyPair();
  writeFileSync(join(scratch, 'k.key'), pair.privateKeyPem);
  writeFileSync(join(scratch, 'k.pub'), pair.publicKeyPem);
  const key = await loadSigningKey(join(scratch, 'k.key'), undefined);
  const pub = await loadVerificationKey(join(scratch, 'k.pub'));
  const refs: string[] = [];
  for (let i = 0; i < FLEET; i++) {
    const img = await sampleImage(`image-${i}`);
    await pushImage(`${registry.host}/fleet/app${i}:1`, img);
    refs.push(`${registry.host}/fleet/app${i}@${img.digest}`);
  }
  const signing: number[] = [];
  for (const ref of refs) {
    const t = performance.now();
    await sign(ref, key);
    signing.push(performance.now() - t);
  }
  const verifying: number[] = [];
  for (const ref of refs) {
    const t = performance.now();
    const r = await verify(ref, pub);
    verifying.push(performance.now() - t);
    if (r.cosign!.verified.length !== 2) throw new Error(`${ref}: expected both forms verified, found ${r.cosign!.verified.length}`);
  }
  console.log(`bench:sign — ${FLEET} images, ECDSA P-256, cosign's two forms, real docker-registry (fallback tag)`);
  console.log(`  sign (tag + bundle referrer) per image: ${show(signing)}  (goal ≤ 50 ms: ${percentile(signing, 0.5) <= 50 ? 'met' : 'not met'})`);
  console.log(`  verify per image (warm):               ${show(verifying)}  (goal ≤ 100 ms: ${percentile(verifying, 0.5) <= 100 ? 'met' : 'not met'})`);
} finally {
  await registry.stop();
  rmSync(scratch, { recursive: true, force: true });
}
