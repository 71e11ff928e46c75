/**
 * Run by determinism.test.ts in a child process with a chosen TZ, umask and locale: builds the sample image
 * (entries shuffled by PITH_TEST_SEED), writes every transport into argv[2] and prints what must not vary.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, buildIndex } from '../../src/oci/image.ts';
import { writeImage } from '../../src/transports/transports.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { sampleEntries, shuffled } from './helpers.ts';

const out = process.argv[2]!;
const seed = Number(process.env.PITH_TEST_SEED ?? '1');
const build = (arch: string) => buildImage({
  layers: [
    { entries: shuffled(sampleEntries(), seed), comment: 'base' },
    { entries: shuffled(sampleEntries().filter((e) => e.type === 'dir'), seed + 1), comment: 'dirs' },
  ],
  config: { architecture: arch, os: 'linux', user: '65532', env: ['PATH=/usr/bin'], entrypoint: ['/usr/bin/hello'] },
  sourceDateEpoch: 1_700_000_000,
  annotations: { 'org.opencontainers.image.title': 'determinism' },
});
const [amd, arm] = await Promise.all([build('amd64'), build('arm64')]);
const idx = buildIndex([amd, arm]);
await writeImage(`oci:${join(out, 'layout')}:single`, amd);
await writeImage(`oci:${join(out, 'layout')}:multi`, idx);
await writeImage(`oci-archive:${join(out, 'o.tar')}:multi`, idx);
await writeImage(`docker-archive:${join(out, 'd.tar')}:pith/x:1`, amd);
const files = ['layout/index.json', 'o.tar', 'd.tar'];
const hashes = Object.fromEntries(await Promise.all(files.map(async (f) => [f, digestOf(await readFile(join(out, f)))])));
console.log(JSON.stringify({ amd: amd.digest, arm: arm.digest, index: idx.digest, hashes }));
