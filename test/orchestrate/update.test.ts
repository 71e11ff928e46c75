import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { check, isPithError, lock, minimalPins, readLock, sbomFor, smokeTest, update, verify, writeKeyPair } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { pithCli } from '../fixtures/exec.ts';
import { securityFixSuites } from '../fixtures/security-fix.ts';
import { buildFixtureArchive, fixtureSpec, sampleSuites, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { runtimeMissing } from '../fixtures/runtimes.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils', gcc: 'gcc', skopeo: 'skopeo' }) ?? runtimeMissing('runc') ?? registryMissing();
const scratch = mkdtempSync(join(tmpdir(), 'pith-update-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const cacheDir = join(scratch, 'cache');

const pith = (args: string[]) => pithCli(args);

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

it('update() refuses a parallelism that would start no worker (NaN, 0, 1.5, -2), naming it, before reading any spec', async () => {
  for (const jobs of [NaN, 0, 1.5, -2]) {
    await assert.rejects(update([join(scratch, 'no-such-dir')], { jobs }), (e) =>
      isPithError(e, 'INVALID_OPTION') && e.message === `expected a whole number from 1 up for update jobs (specs updated at once), found ${jobs}`);
  }
});

describe('pith update', { skip }, () => {
  let server: FixtureArchive;
  let registry: Registry;
  const tracker = join(scratch, 'tracker.json');

  /** A spec running a static hello as its smoke test; `expect` is the output the test wants. */
  function helloSpec(dir: string, expect: string): string {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'hello.c'), '#include <stdio.h>\n#include <unistd.h>\nint main(int argc, char **argv){if (argc > 1) sleep(600);puts("hello from pith");return 0;}\n');
    run('gcc', ['-static', '-O2', '-o', join(dir, 'hello'), join(dir, 'hello.c')]);
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server, `packages: [app]\nfiles:\n  - from: hello\n    to: /usr/local/bin/hello\nentrypoint: [/usr/local/bin/hello]\ntest:\n  command: [/usr/local/bin/hello]\n  output: ${JSON.stringify(expect)}\n  timeout: 30\n`, 'hello'));
    return spec;
  }

  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    registry = await Registry.start(join(scratch, 'registry'));
    writeFileSync(tracker, JSON.stringify({ foo: { 'CVE-2026-1111': { releases: { bookworm: { status: 'resolved', fixed_version: '1.0-1+deb12u2', urgency: 'high' } } } } }));
  });
  after(async () => {
    await server?.close();
    await registry?.stop();
  });

  it('moves only the fixed package, rebuilds, passes the smoke test, pushes and signs, then writes the lock; a second check is clean', async () => {
    const spec = helloSpec(join(scratch, 'good'), 'hello from pith');
    await lock(spec, { cacheDir });
    const oldLock = readLock(join(scratch, 'good', 'pith.lock'));
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);

    const manifests = join(scratch, 'deploy');
    mkdirSync(manifests);
    writeFileSync(join(manifests, 'compose.yaml'), `services:\n  hello:\n    image: ${registry.host}/fleet/hello:1 # the app\n`);
    const { privateKeyFile, publicKeyFile } = await writeKeyPair(join(scratch, 'release'), undefined);
    const [result] = await update([spec], { cacheDir, only: 'security', advisories: [tracker], push: [`${registry.host}/fleet/hello:2`], rollout: [manifests], sign: privateKeyFile });
    assert.equal(result!.updated, true);
    assert.deepEqual(result!.changes, [{ architecture: 'amd64', name: 'libfoo1', from: '1.0-1+deb12u1', to: '1.0-1+deb12u2' }], 'libbar2 has a newer version too, but not a security one');
    assert.deepEqual(result!.cvesFixed, ['CVE-2026-1111']);
    assert.deepEqual(result!.smokeTest, { passed: true, reason: undefined });
    const platform = result!.diff!.platforms[0]!;
    assert.deepEqual(platform.packages.changed.map((c) => c.name), ['libfoo1']);
    assert.equal(result!.layersChanged, 2, "foo's layer and the few-KB record of the .debs' SHA256s");
    assert.ok(result!.pullBytes! > 0 && result!.pullBytes! < 10_000, `a node pulls only the small changed layers (${result!.pullBytes} B)`);

    const newLock = readLock(join(scratch, 'good', 'pith.lock'));
    const versions = (l: typeof oldLock) => Object.fromEntries(l.architectures.amd64!.packages.map((p) => [p.name, p.version]));
    assert.deepEqual(versions(newLock), { ...versions(oldLock), libfoo1: '1.0-1+deb12u2' }, 'everything else stays pinned');
    const pushed = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/fleet/hello:2`]));
    assert.equal(pushed.Digest, result!.newDigest);
    assert.deepEqual(result!.pushed, [`${registry.host}/fleet/hello:2@${result!.newDigest}`]);
    assert.equal(readFileSync(join(manifests, 'compose.yaml'), 'utf8'), `services:\n  hello:\n    image: ${registry.host}/fleet/hello:2@${result!.newDigest} # the app\n`, 'rolled out');
    const written = JSON.parse(run('skopeo', ['inspect', `oci:${join(scratch, 'good', 'out')}:hello`]));
    assert.equal(written.Digest, result!.newDigest);
    // What was pushed is signed, and its provenance names the lock just written (not the old one).
    assert.deepEqual(result!.signatures!.map((s) => s.digests), [[result!.newDigest]]);
    const verified = await verify(result!.pushed[0]!, publicKeyFile, { lock: join(scratch, 'good', 'pith.lock'), attestations: ['https://spdx.dev/Document'] });
    assert.equal(verified.digest, result!.newDigest);
    assert.ok(verified.attestations!.lock, 'the provenance matches the new lock');

    const again = await check([spec], { cacheDir, advisories: [tracker] });
    assert.deepEqual(again.images[0]!.findings, []);
    assert.deepEqual(again.images[0]!.updates.map((u) => [u.name, u.security]), [['libbar2', false]], 'only the non-security update remains');
    assert.equal(again.security, false);
  });

  it('a smoke test that hangs is killed at its timeout; a wrong exit code is named', async () => {
    const layout = join(scratch, 'good', 'out');
    const hang = await smokeTest(`oci:${layout}:hello`, { command: ['/usr/local/bin/hello', 'hang'], timeout: 1 }, { cacheDir });
    assert.deepEqual([hang.passed, hang.reason, hang.outcome.timedOut], [false, 'test "/usr/local/bin/hello hang" did not finish within 1 s', true]);
    const missing = await smokeTest(`oci:${layout}:hello`, { command: ['/usr/local/bin/nope'], 'exit-code': 0 }, { cacheDir });
    assert.equal(missing.passed, false);
    assert.match(missing.reason!, /^test "\/usr\/local\/bin\/nope": expected exit code 0, found [1-9]/);
  });

  it("the minimal bump also moves what the new version's dependencies require, and nothing else", async () => {
    const dir = join(scratch, 'deps');
    mkdirSync(dir);
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server, 'packages: [app]\n'));
    await buildFixtureArchive(server.root, sampleSuites(), server.key);
    const { lock: oldLock } = await lock(spec, { cacheDir });
    const suites = securityFixSuites();
    const fix = suites[1]!.components.main!.find((p) => p.version === '1.0-1+deb12u2')!;
    fix.depends = 'libc6 (>= 2.36-9+deb12u1)';
    const main = suites[0]!.components.main!;
    main.push({ ...main.find((p) => p.name === 'libc6')!, version: '2.36-9+deb12u1', files: { '/usr/lib/x86_64-linux-gnu/libc.so.6': { content: 'libc 2.36 u1\n', mode: 0o644 } } });
    await buildFixtureArchive(server.root, suites, server.key);

    const { archive } = await lock(spec, { cacheDir, write: false });
    const { pins, moving } = minimalPins(oldLock, archive, 'security');
    assert.deepEqual([...moving.get('amd64')!].sort(), ['libc6', 'libfoo1'], 'libc6 is not a security update, but the fix needs it');
    assert.equal(pins.amd64!.get('libbar2'), '2.1-1');
    const { lock: bumped } = await lock(spec, { cacheDir, write: false, archive, pins });
    const changed = bumped.architectures.amd64!.packages.filter((p) => oldLock.architectures.amd64!.packages.find((o) => o.name === p.name)?.version !== p.version);
    assert.deepEqual(changed.map((p) => `${p.name} ${p.version}`), ['libc6 2.36-9+deb12u1', 'libfoo1 1.0-1+deb12u2']);
  });

  it('a failing smoke test aborts with the old lock and outputs untouched, saying why', async () => {
    const dir = join(scratch, 'bad');
    const spec = helloSpec(dir, 'goodbye');
    await buildFixtureArchive(server.root, sampleSuites(), server.key);
    await lock(spec, { cacheDir });
    const before = readFileSync(join(dir, 'pith.lock'));
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);
    await assert.rejects(update([dir], { cacheDir, only: 'security' }), (e: unknown) =>
      isPithError(e, 'SMOKE_TEST_FAILED') && /expected the output to contain "goodbye", found "hello from pith\\n"/.test(e.message) && e.message.includes('unchanged'));
    assert.deepEqual(readFileSync(join(dir, 'pith.lock')), before);
    assert.equal(existsSync(join(dir, 'out')), false, 'no output written');

    const cli = await pith(['update', dir, '--only', 'security', '--cache', cacheDir]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /pith: SMOKE_TEST_FAILED: .*failed its smoke test: test "\/usr\/local\/bin\/hello": expected the output to contain "goodbye"/);
    assert.deepEqual(readFileSync(join(dir, 'pith.lock')), before);
    const usage = await pith(['update', dir, '--rollout', dir]);
    assert.equal(usage.code, 2, 'a missing option is a usage error');
    assert.match(usage.stderr, /pith: USAGE: update --rollout pins the pushed digest: it needs --push REF/);
  });

  it('with sbom formats, the updated image gets its SBOMs in the layout and the registry, as pith build --sbom gives them', async () => {
    const dir = join(scratch, 'sbom');
    const spec = helloSpec(dir, 'hello from pith');
    await buildFixtureArchive(server.root, sampleSuites(), server.key);
    await lock(spec, { cacheDir });
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);
    const ref = `${registry.host}/fleet/sbom:2`;
    const [result] = await update([spec], { cacheDir, only: 'security', push: [ref], sbom: ['spdx', 'cyclonedx'], outputs: [`oci:${join(dir, 'out')}:hello`, `oci-archive:${join(dir, 'hello.tar')}`] });
    assert.equal(result!.updated, true);
    const attached = result!.sboms!.attached.map((a) => `${a.format} ${a.destination}`).sort();
    assert.deepEqual(attached, [
      `cyclonedx docker://${ref}`, `cyclonedx oci:${join(dir, 'out')}:hello`, `spdx docker://${ref}`, `spdx oci:${join(dir, 'out')}:hello`,
    ]);
    assert.deepEqual(result!.sboms!.skipped, [`oci-archive:${join(dir, 'hello.tar')}`]);
    for (const location of [`oci:${join(dir, 'out')}:hello`, `docker://${ref}`]) {
      const [doc] = await sbomFor(location, { format: 'spdx' });
      assert.equal(doc!.attached, true, location);
      assert.equal(doc!.digest, result!.newDigest);
      assert.match(doc!.document, /"name": "libfoo1"[\s\S]*"versionInfo": "1\.0-1\+deb12u2"/, 'the SBOM describes the new image');
    }

    await buildFixtureArchive(server.root, sampleSuites(), server.key);
    const cliDir = join(scratch, 'sbom-cli');
    const cliSpec = helloSpec(cliDir, 'hello from pith');
    await lock(cliSpec, { cacheDir });
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);
    const cli = await pith(['update', cliDir, '--only', 'security', '--cache', cacheDir, '--sbom', 'spdx']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`  attached the spdx SBOM of linux/amd64 to oci:${join(cliDir, 'out')}:hello \\(sha256:[0-9a-f]{64}\\)`));
  });
});
