// Issue 17: an image with a layer over 2 GiB (Node's buffer limit) builds in bounded memory. The build runs as a
// user runs it (the CLI, its own process) inside a cgroup memory limit where the machine lets the test make one,
// its peak resident memory is measured by GNU time, and what it wrote is read by skopeo and umoci, not by pith.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { largeLayerWarnings } from '../../src/orchestrate/build.ts';
import type { Assembled } from '../../src/assemble/assemble.ts';

const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils', skopeo: 'skopeo', umoci: 'umoci', time: 'time' });
// On disk, not in a tmpfs: 2 GiB of test files must not count as memory.
const scratch = mkdtempSync('/var/tmp/pith-large-test-');
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The goal for any image: peak resident memory of a build. */
const PEAK_GOAL_BYTES = 300 * 1024 * 1024;
const BIG = 2200 * 1024 * 1024;

/** A memory cgroup (v1 or v2) of our own under the one this process runs in, or why there is none. */
function memoryCgroup(limitBytes: number): { dir: string; procs: string; close(): void } | string {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  const v2 = lines.find((l) => l.startsWith('0::'));
  const [root, own, limitFile] = v1 ? ['/sys/fs/cgroup/memory', v1.split(':')[2]!, 'memory.limit_in_bytes'] : ['/sys/fs/cgroup', v2?.slice(3) ?? '/', 'memory.max'];
  const dir = join(root, own, `pith-large-${process.pid}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, limitFile), String(limitBytes));
    return { dir, procs: join(dir, 'cgroup.procs'), close: () => rmdirSync(dir) };
  } catch (e) {
    if (existsSync(dir)) rmdirSync(dir);
    return `no memory cgroup could be made here (${(e as Error).message})`;
  }
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

describe('a build with a layer over 2 GiB', { skip }, () => {
  let server: FixtureArchive;
  let spec: string;
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    const dir = join(scratch, 'spec');
    mkdirSync(join(dir, 'data'), { recursive: true });
    // A 2.1 GiB model, sparse on the host: zeros with a marker at its start, middle and end, so a reader that
    // dropped or moved a piece would see the markers elsewhere.
    const fd = openSync(join(dir, 'data', 'model.bin'), 'w');
    for (const at of [0, BIG / 2, BIG - 16]) writeSync(fd, Buffer.from('pith-marker-0123'), 0, 16, at);
    closeSync(fd);
    // Generated files of several sizes around the 4 MiB line between files read whole and files left on the host.
    for (const [name, size] of [['small.txt', 1000], ['edge.bin', 4 * 1024 * 1024], ['mid.bin', 9 * 1024 * 1024 + 7]] as const) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4096) bytes.write(`${name}@${i}`, i);
      writeFileSync(join(dir, 'data', name), bytes);
    }
    spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server, 'packages: [app]\nfiles:\n  - from: data\n    to: /opt/data/\n', 'large'));
  });
  after(() => server?.close());

  it('streams it: the build stays under the memory goal, and skopeo and umoci read the image it wrote', async () => {
    const out = join(scratch, 'out');
    const cgroup = memoryCgroup(512 * 1024 * 1024);
    if (typeof cgroup === 'string') console.log(`${cgroup}: peak memory is measured without a limit`);
    // As an installed `pith` runs: through its #! line, with the Node flag it sets.
    const command = ['/usr/bin/time', '-f', 'peak-kb=%M', bin, 'build', spec, '--cache', join(scratch, 'cache'), '--output', `oci:${out}:large`];
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((ok, fail) => {
      // The shell joins the cgroup, then becomes the build: every process of it is under the limit.
      const child = typeof cgroup === 'string'
        ? spawn(command[0]!, command.slice(1))
        : spawn('sh', ['-c', 'echo $$ > "$0" && exec "$@"', cgroup.procs, ...command]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', fail);
      child.on('close', (c) => ok({ code: c, stdout, stderr }));
    });
    if (typeof cgroup !== 'string') cgroup.close();
    assert.equal(code, 0, `pith build failed (137 is the cgroup's OOM kill):\n${stderr}`);
    const peak = Number(/peak-kb=(\d+)/.exec(stderr)?.[1]) * 1024;
    console.log(`peak resident memory of pith build with a ${(BIG / 2 ** 30).toFixed(2)} GiB file: ${(peak / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(peak > 0 && peak <= PEAK_GOAL_BYTES, `expected a peak resident memory of at most ${PEAK_GOAL_BYTES / 2 ** 20} MiB, found ${(peak / 2 ** 20).toFixed(0)} MiB`);
    const digest = /sha256:[0-9a-f]{64}/.exec(stdout)?.[0];
    assert.ok(digest, `expected the image digest on stdout, found ${stdout}`);

    // skopeo: the manifest pith reported, and a copy that checks every blob against its digest.
    assert.equal(JSON.parse(run('skopeo', ['inspect', `oci:${out}:large`])).Digest, digest);
    const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${out}:large`])) as { layers: Array<{ digest: string; size: number }> };
    const config = JSON.parse(run('skopeo', ['inspect', '--config', '--raw', `oci:${out}:large`])) as { rootfs: { diff_ids: string[] } };
    run('skopeo', ['copy', '-q', `oci:${out}:large`, `oci:${join(scratch, 'copy')}:large`]);
    const biggest = manifest.layers.reduce((a, b) => (b.size > a.size ? b : a));
    assert.equal(await sha256File(join(out, 'blobs', 'sha256', biggest.digest.slice(7))), biggest.digest);

    // umoci checks each layer against its digest and diff_id as it unpacks.
    const bundle = join(scratch, 'bundle');
    run('umoci', ['unpack', '--rootless', '--image', `${out}:large`, bundle]);
    assert.equal(config.rootfs.diff_ids.length, manifest.layers.length);
    const model = join(bundle, 'rootfs', 'opt', 'data', 'model.bin');
    assert.equal(statSync(model).size, BIG);
    const fd = openSync(model, 'r');
    try {
      for (const at of [0, BIG / 2, BIG - 16]) {
        const got = Buffer.alloc(16);
        readSync(fd, got, 0, 16, at);
        assert.equal(got.toString(), 'pith-marker-0123', `marker at byte ${at}`);
      }
    } finally {
      closeSync(fd);
    }
    for (const name of ['small.txt', 'edge.bin', 'mid.bin']) {
      assert.ok(readFileSync(join(bundle, 'rootfs', 'opt', 'data', name)).equals(readFileSync(join(scratch, 'spec', 'data', name))), `${name} as on the host`);
    }
  });
});

describe('largeLayerWarnings', () => {
  const assembled = (layers: Array<[comment: string, packages: string[], uncompressedSize: number]>) =>
    ({
      layers: layers.map(([, , uncompressedSize]) => ({ uncompressedSize })),
      layerInfo: layers.map(([comment, packages]) => ({ comment, packages })),
    }) as unknown as Assembled;

  it('names the layer of packages past the budget when it holds over 1 GiB, and suggests a larger budget', () => {
    const [warning, ...rest] = largeLayerWarnings(assembled([
      ['source openjdk-17: openjdk-17-jdk-headless', ['openjdk-17-jdk-headless'], 3 * 2 ** 30],
      ['packages: a b c', ['a', 'b', 'c'], 2 ** 30 + 1],
      ['spec files', [], 5 * 2 ** 30],
    ]), 20);
    assert.deepEqual(rest, [], 'a layer of one source, or of the spec\'s files, cannot be split by the budget');
    assert.match(warning!, /one layer holds 3 packages \(1\.1 GB unpacked\): layers\.budget 20 .* raise layers\.budget in the spec \(e\.g\. to 60\)/);
  });

  it('says nothing of a layer of 1 GiB or less', () => {
    assert.deepEqual(largeLayerWarnings(assembled([['packages: a b', ['a', 'b'], 2 ** 30]]), 20), []);
  });
});
