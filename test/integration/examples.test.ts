/**
 * The examples, built from the machine's real archive and run for real: each image runs under runc and crun (from
 * a bundle umoci unpacked), podman (from the oci-archive) and docker (from the docker-archive, against a dockerd
 * this file starts and stops), and prints what its program computed. The python example is also an amd64 + arm64
 * index whose arm64 entrypoint runs under qemu-user.
 *
 * Nothing is written into the repository: each example is copied to a temp dir, its program compiled there, and
 * `files:` + `entrypoint` added to that copy of the spec (the committed specs stay buildable with no program).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, readLock, type BuildResult, type ImageIndex, type LockFile } from 'pith';
import { missingTools, skipUnlessRequired } from '../fixtures/apt.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';
import {
  Dockerd, assertRan, crunRun, exec, podmanRun, qemuRun, runcRun, runtimeMissing, skopeoInspect, unpackBundle,
} from '../fixtures/runtimes.ts';

const archiveProblem = await liveArchiveProblem();
const scratch = mkdtempSync(join(tmpdir(), 'pith-examples-'));
const skip = (tool: Parameters<typeof runtimeMissing>[0]) => archiveProblem ?? runtimeMissing(tool);
const skips = { runc: skip('runc'), crun: skip('crun'), podman: skip('podman'), docker: skip('docker'), skopeo: skip('skopeo'), qemu: skip('qemu') };

let dockerd: Dockerd | undefined;
before(async () => {
  if (!skips.docker) dockerd = await Dockerd.start(join(scratch, 'dockerd'));
});
after(async () => {
  await dockerd?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * A copy of examples/NAME's committed files in the scratch dir, with `extra` appended to its pith.yaml. What a
 * local run left there (the machine's own pith.lock, out/) is not copied: the test must behave as on a fresh clone.
 */
async function copyExample(name: string, extra = ''): Promise<{ dir: string; spec: string }> {
  const from = new URL(`../../examples/${name}/`, import.meta.url).pathname;
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isFile() && entry.name !== 'pith.lock') copyFileSync(join(from, entry.name), join(dir, entry.name));
  }
  const spec = join(dir, 'pith.yaml');
  if (extra) await appendFile(spec, `\n# Added by the test:\n${extra}`);
  return { dir, spec };
}

const PROGRAM = 'files:\n  - from: hello\n    to: /usr/local/bin/hello\nentrypoint: [/usr/local/bin/hello]\n';

interface Built {
  result: BuildResult;
  lock: LockFile;
  layout: string;
  ociArchive: string;
  dockerArchive: string;
  dockerRef: string;
}

/** One build, written to the three outputs the runtimes read. `architectures` picks from a multi-arch lock. */
async function buildOutputs(name: string, spec: string, dir: string, architectures?: string[]): Promise<Built> {
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  const dockerRef = `pith-examples/${name}:test`;
  const built: Omit<Built, 'result' | 'lock'> = {
    layout: `${out}/layout:${name}`,
    ociArchive: `${out}/${name}.oci.tar`,
    dockerArchive: `${out}/${name}.docker.tar`,
    dockerRef,
  };
  const result = await build(spec, {
    architectures,
    outputs: [`oci:${built.layout}`, `oci-archive:${built.ociArchive}`, `docker-archive:${built.dockerArchive}:${dockerRef}`],
  });
  return { ...built, result, lock: readLock(join(dir, 'pith.lock')) };
}

/** The upstream part of a locked package's version: what the program itself reports. */
function upstreamOf(lock: LockFile, arch: string, pattern: RegExp): string {
  const pkg = lock.architectures[arch]!.packages.find((p) => pattern.test(p.name));
  assert.ok(pkg, `the lock has a package matching ${pattern}`);
  return pkg.version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The same image, run by every runtime, must print the same thing. */
function runsEverywhere(name: string, get: () => Built, expected: () => RegExp): void {
  it('skopeo reads the layout, the oci-archive and the docker-archive as the same image', { skip: skips.skopeo }, async () => {
    const { result, layout, ociArchive, dockerArchive } = get();
    const inspect = await skopeoInspect(`oci:${layout}`);
    assert.equal(inspect.Digest, result.digest);
    assert.equal(inspect.Architecture, 'amd64');
    assert.equal((await skopeoInspect(`oci-archive:${ociArchive}`)).Digest, result.digest);
    const config = assertRan(await exec('skopeo', ['inspect', '--config', '--raw', `oci:${layout}`]));
    assert.equal(assertRan(await exec('skopeo', ['inspect', '--config', '--raw', `docker-archive:${dockerArchive}`])), config);
    assert.equal(JSON.parse(config).config.User, '65532:65532', 'runs as nonroot');
  });

  it('runs under runc', { skip: skips.runc }, async () => {
    const { config } = await unpackBundle(get().layout, join(scratch, `${name}-runc`));
    assert.equal(config.process.user.uid, 65532);
    assert.match(assertRan(await runcRun(join(scratch, `${name}-runc`))), expected());
  });

  it('runs under crun (in a private mount namespace without the cgroup v2 mount)', { skip: skips.crun }, async () => {
    await unpackBundle(get().layout, join(scratch, `${name}-crun`));
    assert.match(assertRan(await crunRun(join(scratch, `${name}-crun`))), expected());
  });

  it('runs under podman from the oci-archive', { skip: skips.podman }, async () => {
    assert.match(assertRan(await podmanRun(`oci-archive:${get().ociArchive}`, join(scratch, 'podman'))), expected());
  });

  it('runs under docker from the docker-archive (docker load + docker run)', { skip: skips.docker }, async () => {
    const { dockerArchive, dockerRef } = get();
    assert.deepEqual(await dockerd!.load(dockerArchive), [dockerRef]);
    assert.match(assertRan(await dockerd!.run(dockerRef)), expected());
  });
}

describe('examples/static: a static C program on ca-certificates, tzdata and netbase, no libc', { skip: archiveProblem ?? missingTools({ gcc: 'gcc' }) }, () => {
  let built: Built;
  before(async () => {
    const { dir, spec } = await copyExample('static', PROGRAM);
    assertRan(await exec('gcc', ['-static', '-O2', '-o', join(dir, 'hello'), join(dir, 'hello.c')]));
    built = await buildOutputs('static', spec, dir);
    const names = built.lock.architectures.amd64!.packages.map((p) => p.name);
    assert.ok(!names.includes('libc6') && !names.includes('openssl'), `no libc, no openssl: ${names.join(' ')}`);
  });
  runsEverywhere('static', () => built, () =>
    /^uid 65532 gid 65532\nCA bundle: [1-9]\d* certificates\n\/etc\/localtime: TZif\n\/etc\/services: [1-9]\d* https entries\n$/);
});

const sslSkip = existsSync('/usr/include/openssl/ssl.h') ? undefined : skipUnlessRequired('needs the OpenSSL headers (Debian package libssl-dev)');

describe('examples/base: a C program linked dynamically against OpenSSL, on glibc and libssl3', { skip: archiveProblem ?? missingTools({ gcc: 'gcc' }) ?? sslSkip }, () => {
  let built: Built;
  before(async () => {
    const { dir, spec } = await copyExample('base', PROGRAM);
    assertRan(await exec('gcc', ['-O2', '-o', join(dir, 'hello'), join(dir, 'hello.c'), '-lssl', '-lcrypto']));
    built = await buildOutputs('base', spec, dir);
  });
  // The version the program prints is the libssl3 the lock pinned: it ran against the image's own OpenSSL.
  runsEverywhere('base', () => built, () => new RegExp(
    `^OpenSSL ${escape(upstreamOf(built.lock, 'amd64', /^libssl3$/))} .*\\n/etc/ssl/certs/ca-certificates\\.crt: [1-9]\\d* certificates\\nuid 65532\\n$`,
  ));
});

describe('examples/python: a Python application on python3-minimal, for amd64 and arm64', { skip: archiveProblem }, () => {
  let dir: string;
  let spec: string;
  let index: BuildResult;
  let amd64: Built;
  const sha = createHash('sha256').update('pith').digest('hex');
  const output = (machine: string, uid: string) => new RegExp(
    `^25 primes below 100, sum 1060\\nsha256\\(pith\\) = ${sha}\\n` +
    `python ${escape(upstreamOf(amd64.lock, 'amd64', /^python3\.\d+-minimal$/))} on ${machine} as uid ${uid}\\n$`,
  );

  before(async () => {
    ({ dir, spec } = await copyExample('python'));
    // The committed spec names both architectures: building it unfiltered gives the index.
    index = await build(spec, { outputs: [`oci:${join(dir, 'index')}:python`] });
    // Each architecture alone is the same image the index points to.
    amd64 = await buildOutputs('python', spec, dir, ['amd64']);
  });

  it('is an image index of amd64 and arm64 (v8), each entry the image a one-architecture build gives', { skip: skips.skopeo }, async () => {
    const raw = await skopeoInspect(`oci:${join(dir, 'index')}:python`, ['--raw']);
    assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(raw.manifests.map((m: { platform: object }) => m.platform), [
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ]);
    assert.equal(raw.manifests[0].digest, amd64.result.digest);
    const arm = await skopeoInspect(`oci:${join(dir, 'index')}:python`, ['--override-arch', 'arm64', '--override-variant', 'v8', '--config', '--raw']);
    assert.equal(arm.architecture, 'arm64');
    assert.equal(arm.variant, 'v8');
    const lock = amd64.lock;
    assert.deepEqual(Object.keys(lock.architectures).sort(), ['amd64', 'arm64']);
    for (const arch of ['amd64', 'arm64']) {
      assert.ok(lock.architectures[arch]!.packages.every((p) => p.architecture === arch || p.architecture === 'all'), `${arch}: every package is ${arch} or all`);
    }
  });

  runsEverywhere('python', () => amd64, () => output('x86_64', '65532'));

  it('the arm64 image\'s entrypoint runs under qemu-aarch64-static from its unpacked rootfs', { skip: skips.qemu }, async () => {
    const arm = await build(spec, { architectures: ['arm64'], outputs: [`oci:${join(dir, 'arm64')}:python`] });
    assert.equal(arm.digest, (index.image as ImageIndex).images[1]!.digest, 'the index\'s arm64 entry');
    const { rootfs, config } = await unpackBundle(`${join(dir, 'arm64')}:python`, join(scratch, 'python-arm64'));
    const elf = readFileSync(join(rootfs, 'usr/bin', readdirSync(join(rootfs, 'usr/bin')).find((f) => /^python3\.\d+$/.test(f))!));
    assert.equal(elf.readUInt16LE(18), 183, 'the interpreter is an AArch64 ELF (e_machine EM_AARCH64)');
    // qemu-user runs the program as the calling user: no namespaces, so no uid switch.
    assert.match(assertRan(await qemuRun('arm64', rootfs, config)), output('aarch64', String(process.getuid?.() ?? '\\d+')));
  });
});
