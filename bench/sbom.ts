// bench/sbom: issue 5, section 5. SBOM generation (SPDX 2.3 and CycloneDX 1.6), inspect and diff on the Python
// example image (amd64 + arm64, built from the machine's apt sources into a temp dir), timed in-process (median of
// five runs, after one warm-up) and through the CLI (one process, as users run it), with the SBOMs' sizes.
// There is no peer to compare with in the same run: Syft and Trivy need a newer Go toolchain than this machine has.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, cyclonedxJson, diff, diffImages, imageInventory, inspect, sbomFor, spdxJson } from 'pith';
import { readImage } from '../src/transports/transports.ts';
import { selectPlatform } from '../src/oci/read.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'pith.js');
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-sbom-'));

async function median(runs: number, f: () => Promise<unknown>): Promise<number> {
  await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[runs >> 1]!;
}

function cli(args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`pith ${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t;
}

try {
  const dir = join(scratch, 'python');
  mkdirSync(dir);
  const from = join(root, 'examples', 'python');
  for (const e of readdirSync(from, { withFileTypes: true })) if (e.isFile() && e.name !== 'pith.lock') copyFileSync(join(from, e.name), join(dir, e.name));
  const layout = `oci:${join(dir, 'out')}:python`;
  const archive = `oci-archive:${join(dir, 'python.tar')}`;
  await build(join(dir, 'pith.yaml'), { outputs: [layout, archive] });
  const amd64 = selectPlatform(await readImage(layout), 'linux/amd64');

  const rows: Array<[string, number]> = [];
  rows.push(['read the image back (layers, filesystem, packages, licences)', await median(5, () => imageInventory(amd64))]);
  const inv = await imageInventory(amd64);
  rows.push(['SPDX 2.3 from the inventory', await median(5, async () => spdxJson(inv))]);
  rows.push(['CycloneDX 1.6 from the inventory', await median(5, async () => cyclonedxJson(inv))]);
  rows.push(['sbom oci: (SPDX, both steps, from the layout)', await median(5, () => sbomFor(layout, { format: 'spdx', platform: 'linux/amd64', fresh: true }))]);
  rows.push(['sbom oci-archive: (CycloneDX)', await median(5, () => sbomFor(archive, { format: 'cyclonedx', platform: 'linux/amd64' }))]);
  rows.push(['inspect, both platforms', await median(5, () => inspect(layout))]);
  rows.push(['inspect --files, both platforms', await median(5, () => inspect(layout, { files: true }))]);
  rows.push(['diff oci-archive: vs oci: (same index, both platforms)', await median(5, () => diff(archive, layout))]);
  const arm64 = selectPlatform(await readImage(layout), 'linux/arm64');
  rows.push(['diff of the amd64 and arm64 images (nothing shared)', await median(5, () => diffImages(amd64, arm64, { a: 'amd64', b: 'arm64' }))]);

  const cliRows: Array<[string, number]> = [
    ['pith sbom --format spdx', cli(['sbom', layout, '--platform', 'linux/amd64', '--fresh'])],
    ['pith sbom --format cyclonedx', cli(['sbom', layout, '--platform', 'linux/amd64', '--format', 'cyclonedx', '--fresh'])],
    ['pith inspect --json', cli(['inspect', layout, '--json'])],
    ['pith diff --json', cli(['diff', archive, layout, '--json'])],
  ];
  const spdx = spdxJson(inv);
  const cdx = cyclonedxJson(inv);
  console.log(`python example, linux/amd64: ${inv.packages.length} packages, ${inv.rootfs.files.size} paths, ${inv.rootfs.layers.length} layers`);
  console.log('\nin-process (median of 5):');
  for (const [what, ms] of rows) console.log(`  ${what.padEnd(62)} ${ms.toFixed(1).padStart(8)} ms`);
  console.log('\nCLI, one process each (start-up included):');
  for (const [what, ms] of cliRows) console.log(`  ${what.padEnd(62)} ${ms.toFixed(0).padStart(8)} ms`);
  console.log('\nSBOM sizes:');
  console.log(`  SPDX 2.3 JSON       ${String(Buffer.byteLength(spdx)).padStart(8)} bytes`);
  console.log(`  CycloneDX 1.6 JSON  ${String(Buffer.byteLength(cdx)).padStart(8)} bytes`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
