/**
 * The registry commands as a user runs them — `pith push`, `pull`, `copy`, `login`, `logout`, `build --push` —
 * against a real docker-registry: the digest is the last line of output, `--json` summarises what was sent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readImage, writeImage } from '../../src/transports/transports.ts';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { sampleImage } from '../registry/helpers.ts';

const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pith-cli-registry-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs pith with a HOME of the test's own, so no credentials of the machine are read or written. */
function pith(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH, HOME: join(scratch, 'home'), XDG_CACHE_HOME: join(scratch, 'xdg'), ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(options.stdin ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const lastLine = (s: string) => s.trim().split('\n').at(-1);

describe('registry commands', { skip: registryMissing() }, () => {
  let registry: Registry;
  let layout: string;
  let digest: string;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry'));
    const img = await sampleImage('cli');
    layout = join(scratch, 'layout');
    await writeImage(`oci:${layout}:v1`, img);
    digest = img.digest;
  });
  after(() => registry?.stop());

  it('inspect, sbom and copy take an image named without a transport: a layout directory, DIR:TAG, or a registry reference', async () => {
    const bare = await pith(['inspect', layout, '--json']);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(JSON.parse(bare.stdout).digest, digest);
    assert.equal(JSON.parse((await pith(['inspect', `${layout}:v1`, '--json'])).stdout).location, `oci:${layout}:v1`);
    const pushed = await pith(['push', layout, `${registry.host}/bare/app:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const remote = await pith(['inspect', `${registry.host}/bare/app:1`, '--json']);
    assert.equal(remote.code, 0, remote.stderr);
    assert.equal(JSON.parse(remote.stdout).location, `docker://${registry.host}/bare/app:1`);
    assert.equal(JSON.parse(remote.stdout).digest, digest);
    const copied = await pith(['copy', `${registry.host}/bare/app:1`, `oci:${join(scratch, 'bare-copy')}:v1`]);
    assert.equal(lastLine(copied.stdout), digest, copied.stderr);
    // A bare reference that the registry does not have: the error says it was read as one because no such path is here.
    const absent = await pith(['inspect', `${registry.host}/bare/absent:1`]);
    assert.equal(absent.code, 1);
    assert.ok(absent.stderr.includes(`("${registry.host}/bare/absent:1" names no file or directory here, so it was read as the registry reference docker://${registry.host}/bare/absent:1)`), absent.stderr);
    // push and pull name a registry with or without docker://, and refuse a local location there by name.
    const pulled = await pith(['pull', `docker://${registry.host}/bare/app:1`, '--output', `oci:${join(scratch, 'bare-pull')}`]);
    assert.equal(lastLine(pulled.stdout), digest, pulled.stderr);
    const wrong = await pith(['push', layout, `oci:${join(scratch, 'elsewhere')}`]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^pith: OCI_BAD_REFERENCE: expected a registry reference .* in the <reference> of pith push, found the oci: location .*pith copy/m);
    const missing = await pith(['inspect', './no-such-layout']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^pith: OCI_BAD_DESTINATION: \.\/no-such-layout: expected an OCI layout directory or an image archive at this path, found nothing there$/m);
  });

  it('push prints what it sent and the digest last; a re-push sends nothing', async () => {
    const r = await pith(['push', `oci:${layout}:v1`, `${registry.host}/cli/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastLine(r.stdout), digest);
    assert.match(r.stdout, /3 blobs uploaded/);
    const again = await pith(['push', '--json', `oci:${layout}:v1`, `docker://${registry.host}/cli/app:1`]);
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout);
    assert.deepEqual([summary.source, summary.digest, summary.blobs, summary.bytesSent], [`oci:${layout}:v1`, digest, { total: 3, uploaded: 0, skipped: 3, mounted: 0 }, 0]);
  });

  it('pull writes the output and prints the digest last', async () => {
    const out = join(scratch, 'pulled.tar');
    const r = await pith(['pull', `${registry.host}/cli/app:1`, '--output', `oci-archive:${out}:x`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastLine(r.stdout), digest);
    assert.equal((await readImage(`oci-archive:${out}:x`)).digest, digest);
    const missing = await pith(['pull', `${registry.host}/cli/app:nope`, '--output', `oci:${join(scratch, 'never')}`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^pith: REGISTRY_NOT_FOUND: the manifest nope of 127\.0\.0\.1:\d+\/cli\/app: .*404 Not Found \(MANIFEST_UNKNOWN/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);
  });

  it('copy between repositories mounts; --json has the push summary', async () => {
    const r = await pith(['copy', '--json', `docker://${registry.host}/cli/app:1`, `docker://${registry.host}/cli/copy:1`]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.digest, digest);
    assert.deepEqual(result.push.blobs, { total: 3, uploaded: 0, skipped: 0, mounted: 3 });
  });

  it('login writes docker config.json as docker does; logout removes the entry', async () => {
    const dockerConfig = join(scratch, 'docker-config');
    const env = { DOCKER_CONFIG: dockerConfig };
    const r = await pith(['login', registry.host, '-u', 'someone', '--password-stdin'], { stdin: 'pw\n', env });
    assert.equal(r.code, 0, r.stderr);
    const saved = JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8'));
    assert.deepEqual(saved, { auths: { [registry.host]: { auth: Buffer.from('someone:pw').toString('base64') } } });
    const out = await pith(['logout', registry.host], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /removed/);
    assert.deepEqual(JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8')), { auths: {} });
  });

  it('registries.conf (--registries-conf or $CONTAINERS_REGISTRIES_CONF) maps names: a mirror without the image is reported, blocked names refused, logins go to the location', async () => {
    const conf = join(scratch, 'registries.conf');
    writeFileSync(conf, `[[registry]]\nprefix = "pith.test"\nlocation = "${registry.host}"\n[[registry.mirror]]\nlocation = "${registry.host}/empty-mirror"\n`);
    const pushed = await pith(['push', `oci:${layout}:v1`, 'pith.test/cli/mapped:1', '--registries-conf', conf]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /^pushed pith\.test\/cli\/mapped:1 to 127\.0\.0\.1:\d+\/cli\/mapped:1: 3 blobs uploaded/);
    const out = join(scratch, 'mapped');
    const r = await pith(['pull', 'pith.test/cli/mapped:1', '--registries-conf', conf, '--output', `oci:${out}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastLine(r.stdout), digest);
    assert.match(r.stderr, /^pith: the pull of pith\.test\/cli\/mapped:1: the mirror 127\.0\.0\.1:\d+\/empty-mirror\/cli\/mapped:1 \(.*registries\.conf:4\) failed: .*404 Not Found.*; trying 127\.0\.0\.1:\d+\/cli\/mapped:1 \(the location of "pith\.test"/);

    const dockerConfig = join(scratch, 'docker-config-mapped');
    const login = await pith(['login', 'pith.test', '-u', 'someone', '--password-stdin'], { stdin: 'pw\n', env: { DOCKER_CONFIG: dockerConfig, CONTAINERS_REGISTRIES_CONF: conf } });
    assert.equal(login.code, 0, login.stderr);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8')).auths), ['pith.test']);

    const blocked = join(scratch, 'blocked.conf');
    writeFileSync(blocked, `[[registry]]\nprefix = "pith.test/cli"\nlocation = "${registry.host}/cli"\nblocked = true\n`);
    const refused = await pith(['push', `oci:${layout}:v1`, 'pith.test/cli/app:2'], { env: { CONTAINERS_REGISTRIES_CONF: blocked } });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `pith: REGISTRY_BLOCKED: expected to push to pith.test/cli/app:2, found its registry blocked by the [[registry]] with prefix "pith.test/cli" at ${blocked}:1\n`);
  });

  it("docker.io names, mapped by registries.conf to a local registry: docker.io/library/x, library/x and x all land at library/x", async () => {
    const conf = join(scratch, 'docker-io.conf');
    writeFileSync(conf, `[[registry]]\nprefix = "docker.io"\nlocation = "${registry.host}"\n`);
    const spellings = ['docker.io/library/x:1', 'library/x:2', 'x:3'];
    for (const name of spellings) {
      const pushed = await pith(['push', `oci:${layout}:v1`, name, '--registries-conf', conf]);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal(lastLine(pushed.stdout), digest);
    }
    // The registry itself holds every tag under library/x.
    const tags = await (await fetch(`${registry.url}/v2/library/x/tags/list`)).json() as { tags: string[] };
    assert.deepEqual(tags.tags.sort(), ['1', '2', '3']);
    // Each spelling pulls each tag back, here through $CONTAINERS_REGISTRIES_CONF.
    for (const [i, name] of ['x:1', 'docker.io/library/x:2', 'library/x:3'].entries()) {
      const out = join(scratch, `docker-io-${i}`);
      const pulled = await pith(['pull', name, '--output', `oci:${out}`], { env: { CONTAINERS_REGISTRIES_CONF: conf } });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(lastLine(pulled.stdout), digest);
      assert.equal((await readImage(`oci:${out}`)).digest, digest);
    }
  });

  it('a registry host that does not resolve fails at once, the message naming DNS resolution and nothing else', async () => {
    // An empty registries.conf, so nothing of the machine's own maps the name.
    const empty = join(scratch, 'empty.conf');
    writeFileSync(empty, '');
    const started = Date.now();
    const r = await pith(['push', `oci:${layout}:v1`, 'pith-nowhere.invalid/team/x:1'], { env: { CONTAINERS_REGISTRIES_CONF: empty } });
    const elapsed = Date.now() - started;
    assert.equal(r.code, 1, r.stderr);
    const error = r.stderr.trim().split('\n').at(-1)!;
    assert.match(error, /^pith: REGISTRY_CONNECTION: the API version check of pith-nowhere\.invalid: GET https:\/\/pith-nowhere\.invalid\/v2\/ failed: could not resolve the host name pith-nowhere\.invalid \(DNS resolution: (ENOTFOUND|EAI_AGAIN), /);
    assert.doesNotMatch(r.stderr, /after \d+ attempts|plain HTTP|registries\.conf|\n\s+at /);
    // ENOTFOUND is never retried; only the resolver's temporary failure (an unreachable DNS server) gets one retry.
    const retries = r.stderr.split('\n').filter((l) => l.includes('retrying in')).length;
    assert.ok(retries <= (error.includes('EAI_AGAIN') ? 1 : 0), r.stderr);
    // Six attempts with backoff took seconds; one takes a process start and a lookup.
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });
});

describe('build --push', { skip: registryMissing() ?? missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' }) }, () => {
  let registry: Registry;
  let server: FixtureArchive;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry-build'));
    server = await startFixtureArchive(join(scratch, 'archive'));
  });
  after(async () => {
    await registry?.stop();
    await server?.close();
  });

  it('writes the outputs and pushes the same digest', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    const r = await pith(['build', spec, '--output', `oci:${join(dir, 'out')}:app`, '--push', `${registry.host}/built/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    const digest = lastLine(r.stdout)!;
    assert.ok(r.stdout.includes(`wrote docker://${registry.host}/built/app:1`), r.stdout);
    assert.equal((await readImage(`oci:${join(dir, 'out')}:app`)).digest, digest);
    const res = await fetch(`${registry.url}/v2/built/app/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.headers.get('docker-content-digest'), digest);
  });
  it('--sbom attaches the SBOMs in the registry too; pith sbom, inspect and diff read docker:// images', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    const ref = `${registry.host}/built/sbom:1`;
    const r = await pith(['build', spec, '--output', `oci-archive:${join(dir, 'app.tar')}`, '--push', ref, '--sbom', 'spdx,cyclonedx']);
    assert.equal(r.code, 0, r.stderr);
    const digest = lastLine(r.stdout)!;
    assert.match(r.stdout, new RegExp(`attached the spdx SBOM of linux/amd64 to docker://${ref.replace(/[./]/g, '\\$&')}`));
    assert.match(r.stdout, /no SBOM stored in oci-archive:/);
    // The registry (2.8) has no referrers API: the artifacts are listed under the fallback tag.
    const fallback = await fetch(`${registry.url}/v2/built/sbom/manifests/sha256-${digest.slice('sha256:'.length)}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(fallback.status, 200);
    const types = ((await fallback.json()) as { manifests: Array<{ artifactType: string }> }).manifests.map((m) => m.artifactType).sort();
    assert.deepEqual(types, ['application/spdx+json', 'application/vnd.cyclonedx+json']);

    const attached = await pith(['sbom', `docker://${ref}`, '--output', join(dir, 'attached.spdx.json')]);
    assert.equal(attached.code, 0, attached.stderr);
    assert.match(attached.stderr, /copied the attached spdx SBOM/);
    const fresh = await pith(['sbom', `docker://${ref}`, '--fresh']);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(readFileSync(join(dir, 'attached.spdx.json'), 'utf8'), fresh.stdout, 'the attached document is the one pith computes');
    assert.ok(JSON.parse(fresh.stdout).packages.some((p: { name: string }) => p.name === 'libfoo1'));

    const inspected = await pith(['inspect', '--json', `docker://${ref}`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal(JSON.parse(inspected.stdout).digest, digest);
    const same = await pith(['diff', '--json', `oci-archive:${join(dir, 'app.tar')}`, `docker://${ref}`]);
    assert.equal(same.code, 0, same.stderr);
    assert.deepEqual([JSON.parse(same.stdout).platforms[0].pull.layers, JSON.parse(same.stdout).platforms[0].pull.layerBytes], [0, 0], 'a node with the archive\'s image pulls no layer to run the pushed one');
  });
});
