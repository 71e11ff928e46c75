/**
 * Registry endpoints from containers-registries.conf(5), as podman and skopeo read it: which [[registry]] a name
 * falls under (longest prefix, wildcards), where it is really served from, which mirrors a pull tries first, what
 * is blocked and what may use plain HTTP; which files are read and how drop-ins merge; malformed files refused with
 * file:line. skopeo, reading the same file through --registries-conf, is the oracle for the choices; real
 * docker-registry instances on 127.0.0.1 serve as locations and mirrors.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPithError, type ErrorCode } from '../../src/errors.ts';
import { DEFAULT_DOMAIN, formatReference, parseReference } from '../../src/oci/reference.ts';
import { copyImage, readImage } from '../../src/transports/transports.ts';
import type { RegistryOptions, RetryEvent } from '../../src/registry/client.ts';
import { readRemote } from '../../src/registry/pull.ts';
import { pushImage } from '../../src/registry/push.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import {
  DOCKER_HUB_API_HOST, EMPTY_REGISTRIES_CONF, findRegistry, loadRegistriesConf, parseRegistriesConf, primaryEndpoint, pullEndpoints, registryApiHost,
  type RegistriesConf,
} from '../../src/registry/registries-conf.ts';
import { FaultProxy } from '../fixtures/fault-proxy.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { exec, runtimeMissing } from '../fixtures/runtimes.ts';
import { sampleImage } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-registries-conf-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let fileCount = 0;
/** Writes a registries.conf into the scratch directory and returns its path. */
function confFile(text: string, path = join(scratch, `registries-${++fileCount}.conf`)): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const conf = (text: string, path = 'test.conf'): RegistriesConf => ({ registries: parseRegistriesConf(text, path), files: [path] });
const ref = (text: string) => parseReference(text);

/** A PithError with this code whose message includes every fragment. */
function rejects(code: ErrorCode, ...fragments: string[]) {
  return (e: unknown) => {
    assert.ok(isPithError(e, code), `expected ${code}, got ${String(e)}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `expected "${f}" in: ${e.message}`);
    return true;
  };
}

describe("docker.io names: Docker Hub's API host unless registries.conf says otherwise", () => {
  // Pure: the endpoints are computed, nothing connects (tests never reach the internet).
  const spellings = { [`${DEFAULT_DOMAIN}/library/x:1`]: 'library/x', 'library/x:1': 'library/x', 'x:1': 'library/x', 'index.docker.io/x:1': 'library/x', 'user/x:1': 'user/x' };

  it('with no registries.conf, docker.io/library/x, library/x, x and user/x go to registry-1.docker.io, named docker.io', () => {
    assert.equal(DOCKER_HUB_API_HOST, 'registry-1.docker.io');
    for (const [name, path] of Object.entries(spellings)) {
      for (const e of [primaryEndpoint(EMPTY_REGISTRIES_CONF, ref(name)), ...pullEndpoints(EMPTY_REGISTRIES_CONF, ref(name))]) {
        assert.deepEqual([e.host, e.reference.domain, e.reference.path, e.reference.tag], ['registry-1.docker.io', DEFAULT_DOMAIN, path, '1'], name);
      }
    }
    // The client sends requests to the API host and keeps the name for credentials and messages.
    const client = RegistryClient.open(DEFAULT_DOMAIN, {});
    assert.deepEqual([client.domain, client.host], [DEFAULT_DOMAIN, 'registry-1.docker.io']);
  });

  it('every other registry is its own API host', () => {
    for (const name of ['127.0.0.1:5000/x', 'registry.pith.test/team/x', 'localhost/x', 'registry-1.docker.io/library/x']) {
      const e = primaryEndpoint(EMPTY_REGISTRIES_CONF, ref(name));
      assert.equal(e.host, e.reference.domain, name);
    }
    assert.equal(registryApiHost('docker.io:443'), 'docker.io:443');
  });

  it('a remap of docker.io wins, for pushes and pulls; a mirror or location written "docker.io" reaches Docker Hub', () => {
    const remap = conf(`[[registry]]\nprefix = "${DEFAULT_DOMAIN}"\nlocation = "127.0.0.1:5000"\n`);
    for (const [name, path] of Object.entries(spellings)) {
      const push = primaryEndpoint(remap, ref(name));
      assert.deepEqual([push.host, formatReference(push.reference)], ['127.0.0.1:5000', `127.0.0.1:5000/${path}:1`], name);
      assert.deepEqual(pullEndpoints(remap, ref(name)).map((e) => e.host), ['127.0.0.1:5000'], name);
    }
    const mirrored = conf(`[[registry]]\nprefix = "${DEFAULT_DOMAIN}"\nlocation = "${DEFAULT_DOMAIN}"\n[[registry.mirror]]\nlocation = "127.0.0.1:5001/hub"\n`);
    assert.deepEqual(pullEndpoints(mirrored, ref('x:1')).map((e) => `${e.host} ${formatReference(e.reference)}`),
      ['127.0.0.1:5001 127.0.0.1:5001/hub/library/x:1', `registry-1.docker.io ${DEFAULT_DOMAIN}/library/x:1`]);
    const upstream = conf('[[registry]]\nprefix = "pith.test/hub"\nlocation = "docker.io/library"\n');
    assert.deepEqual([primaryEndpoint(upstream, ref('pith.test/hub/x:1')).host, formatReference(primaryEndpoint(upstream, ref('pith.test/hub/x:1')).reference)],
      ['registry-1.docker.io', `${DEFAULT_DOMAIN}/library/x:1`]);
  });

  it('blocked docker.io is refused before any endpoint is chosen', () => {
    const blocked = conf(`[[registry]]\nprefix = "${DEFAULT_DOMAIN}"\nlocation = "${DEFAULT_DOMAIN}"\nblocked = true\n`);
    assert.throws(() => primaryEndpoint(blocked, ref('x:1')), rejects('REGISTRY_BLOCKED', `push to ${DEFAULT_DOMAIN}/library/x:1`));
    assert.throws(() => pullEndpoints(blocked, ref('library/x:1')), rejects('REGISTRY_BLOCKED', `pull ${DEFAULT_DOMAIN}/library/x:1`));
  });
});

describe('choosing the [[registry]] for a name', () => {
  const c = conf(`
[[registry]]
prefix = "pith.test"
location = "127.0.0.1:5001"

[[registry]]
prefix = "pith.test/team"
location = "127.0.0.1:5002/moved"

[[registry]]
prefix = "pith.test/team/app"
location = "127.0.0.1:5003/app-home"

[[registry]]
prefix = "*.pith.test"
insecure = true

[[registry]]
location = "127.0.0.1:5004/"
`);

  it('the longest matching prefix wins, matching whole components only', () => {
    assert.equal(findRegistry(c, 'pith.test/team/app')?.prefix, 'pith.test/team/app');
    assert.equal(findRegistry(c, 'pith.test/team/other')?.prefix, 'pith.test/team');
    assert.equal(findRegistry(c, 'pith.test/teamwork/x')?.prefix, 'pith.test');
    assert.equal(findRegistry(c, 'pith.testing/x'), undefined);
  });

  it('the location replaces the prefix, keeping the rest of the name, the tag and the digest', () => {
    assert.deepEqual(where('pith.test/team/app:1'), ['127.0.0.1:5003/app-home:1']);
    assert.deepEqual(where('pith.test/team/app/sub:2'), ['127.0.0.1:5003/app-home/sub:2']);
    assert.deepEqual(where('pith.test/team/web'), ['127.0.0.1:5002/moved/web:latest']);
    const digest = `sha256:${'ab'.repeat(32)}`;
    assert.deepEqual(where(`pith.test/lib@${digest}`), [`127.0.0.1:5001/lib@${digest}`]);
  });

  it('a wildcard prefix covers every subdomain, with or without a port, and leaves the name as it is', () => {
    assert.equal(findRegistry(c, 'a.pith.test/x')?.prefix, '*.pith.test');
    assert.equal(findRegistry(c, 'b.a.pith.test:5000/x')?.prefix, '*.pith.test');
    const e = primaryEndpoint(c, ref('a.pith.test:5000/x:1'));
    assert.deepEqual([formatReference(e.reference), e.insecure], ['a.pith.test:5000/x:1', true]);
  });

  it('a table with only a location is its own prefix (trailing slashes dropped)', () => {
    assert.equal(findRegistry(c, '127.0.0.1:5004/x')?.prefix, '127.0.0.1:5004');
    assert.deepEqual(where('127.0.0.1:5004/x:1'), ['127.0.0.1:5004/x:1']);
  });

  it('names without a registry part fall under the default registry of docker\'s grammar, "library/" included', () => {
    const hub = conf(`[[registry]]\nprefix = "${DEFAULT_DOMAIN}"\nlocation = "127.0.0.1:5005/hub"\n`);
    assert.deepEqual(where('debian:12', undefined, hub), ['127.0.0.1:5005/hub/library/debian:12']);
    assert.deepEqual(where('team/app', undefined, hub), ['127.0.0.1:5005/hub/team/app:latest']);
    const official = conf(`[[registry]]\nprefix = "${DEFAULT_DOMAIN}/library"\nlocation = "127.0.0.1:5005/official"\n`);
    assert.deepEqual(where('debian', undefined, official), ['127.0.0.1:5005/official/debian:latest']);
  });

  it('a location that leaves no repository name is refused, naming the table (skopeo: "invalid reference format")', () => {
    const whole = conf('[[registry]]\nprefix = "pith.test/team/app"\nlocation = "127.0.0.1:5006"\n');
    assert.throws(() => pullEndpoints(whole, ref('pith.test/team/app:1')), rejects('REGISTRIES_CONF_INVALID', 'test.conf:1', '127.0.0.1:5006:1'));
  });

  function where(text: string, _r?: unknown, cc = c): string[] {
    return pullEndpoints(cc, ref(text)).map((e) => formatReference(e.reference));
  }
});

describe('mirrors, blocked and insecure', () => {
  const c = conf(`
[[registry]]
prefix = "pith.test/app"
location = "127.0.0.1:5010/app"

[[registry.mirror]]
location = "127.0.0.1:5011/cache"

[[registry.mirror]]
location = "127.0.0.1:5012/by-digest"
pull-from-mirror = "digest-only"
insecure = true

[[registry.mirror]]
location = "127.0.0.1:5013/by-tag"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "pith.test/pinned"
location = "127.0.0.1:5010/pinned"
mirror-by-digest-only = true

[[registry.mirror]]
location = "127.0.0.1:5011/pinned"

[[registry]]
prefix = "pith.test/forbidden"
location = "127.0.0.1:5014/forbidden"
blocked = true
`, '/etc/containers/registries.conf');
  const digest = `sha256:${'cd'.repeat(32)}`;

  it('pulls try the mirrors in order, those allowed for a tag or a digest, then the location', () => {
    assert.deepEqual(where(c, 'pith.test/app/x:1'), ['127.0.0.1:5011/cache/x:1', '127.0.0.1:5013/by-tag/x:1', '127.0.0.1:5010/app/x:1']);
    assert.deepEqual(where(c, `pith.test/app/x@${digest}`), [`127.0.0.1:5011/cache/x@${digest}`, `127.0.0.1:5012/by-digest/x@${digest}`, `127.0.0.1:5010/app/x@${digest}`]);
    assert.deepEqual(where(c, 'pith.test/pinned/x:1'), ['127.0.0.1:5010/pinned/x:1']);
    assert.deepEqual(where(c, `pith.test/pinned/x@${digest}`), [`127.0.0.1:5011/pinned/x@${digest}`, `127.0.0.1:5010/pinned/x@${digest}`]);
    const [mirror] = pullEndpoints(c, ref(`pith.test/app/x@${digest}`)).filter((e) => e.insecure);
    assert.ok(mirror?.mirror && mirror.description.includes('/etc/containers/registries.conf:9'), mirror?.description);
  });

  it('pushes go to the location, never a mirror', () => {
    assert.equal(formatReference(primaryEndpoint(c, ref('pith.test/app/x:1')).reference), '127.0.0.1:5010/app/x:1');
  });

  it('a blocked prefix is refused for pulls and pushes, naming the table', () => {
    assert.throws(() => pullEndpoints(c, ref('pith.test/forbidden/x:1')), rejects('REGISTRY_BLOCKED', 'pith.test/forbidden/x:1', '/etc/containers/registries.conf:26'));
    assert.throws(() => primaryEndpoint(c, ref('pith.test/forbidden/x:1')), rejects('REGISTRY_BLOCKED', 'push to'));
  });

  function where(cc: RegistriesConf, text: string): string[] {
    return pullEndpoints(cc, ref(text)).map((e) => formatReference(e.reference));
  }
});

describe('malformed files are refused with file:line', () => {
  const cases: Array<[string, string, string[]]> = [
    ['TOML syntax', '[[registry]]\nlocation = "a.test"\nblocked = \n', ['bad.conf:3:', 'expected TOML']],
    ['a URL scheme', '[[registry]]\nprefix = "a.test"\n\nlocation = "https://b.test"\n', ['bad.conf:4:', 'without a URL scheme']],
    ['a location without a host', '[[registry]]\nprefix = "a.test"\nlocation = "team/app"\n', ['bad.conf:3:', 'registry host first']],
    ['no location for a plain prefix', '[[registry]]\nprefix = "a.test"\ninsecure = true\n', ['bad.conf:1:', 'expected a "location"']],
    ['a wildcard with a port', '[[registry]]\nprefix = "*.a.test:5000"\n', ['bad.conf:2:', 'wildcard']],
    ['a wrong type', '[[registry]]\nlocation = "a.test"\n\ninsecure = "yes"\n', ['bad.conf:4:', '"insecure" to be true or false']],
    ['a bad pull-from-mirror', '[[registry]]\nlocation = "a.test"\n[[registry.mirror]]\nlocation = "m.test"\npull-from-mirror = "sometimes"\n', ['bad.conf:5:', 'all, digest-only, tag-only']],
    ['a mirror without a location', '[[registry]]\nlocation = "a.test"\n[[registry.mirror]]\ninsecure = true\n', ['bad.conf:3:', 'mirror']],
    ['conflicting insecure settings', '[[registry]]\nprefix = "a.test/x"\nlocation = "b.test"\ninsecure = true\n[[registry]]\nprefix = "a.test/y"\nlocation = "b.test"\n', ['bad.conf:1', 'bad.conf:5', '"insecure"']],
    ['versions 1 and 2 mixed', '[registries.block]\nregistries = ["a.test"]\n[[registry]]\nlocation = "b.test"\n', ['bad.conf:1:', 'found both']],
  ];
  for (const [name, text, fragments] of cases) {
    it(name, () => {
      assert.throws(() => parseRegistriesConf(text, 'bad.conf'), rejects('REGISTRIES_CONF_INVALID', ...fragments));
    });
  }

  it('version 1 files are read: [registries.insecure] and [registries.block]', () => {
    const c = conf('[registries.search]\nregistries = []\n[registries.insecure]\nregistries = ["a.test:5000"]\n[registries.block]\nregistries = ["b.test"]\n');
    assert.equal(primaryEndpoint(c, ref('a.test:5000/x')).insecure, true);
    assert.throws(() => primaryEndpoint(c, ref('b.test/x')), rejects('REGISTRY_BLOCKED', 'test.conf:5'));
  });

  it('keys pith does not use (aliases, search registries, short-name mode) are ignored', () => {
    assert.deepEqual(parseRegistriesConf('unqualified-search-registries = ["a.test"]\nshort-name-mode = "enforcing"\n[aliases]\n"x" = "a.test/x"\n', 'ok.conf'), []);
  });
});

describe('which files are read', () => {
  it('the system file, then drop-ins in name order, a later table replacing one with the same prefix', async () => {
    const root = join(scratch, 'root-system');
    confFile('[[registry]]\nprefix = "a.test"\nlocation = "127.0.0.1:1"\n[[registry]]\nprefix = "b.test"\nlocation = "127.0.0.1:2"\n', join(root, 'etc/containers/registries.conf'));
    confFile('[[registry]]\nprefix = "a.test"\nlocation = "127.0.0.1:3"\n', join(root, 'etc/containers/registries.conf.d/20-a.conf'));
    confFile('[[registry]]\nprefix = "a.test"\nlocation = "127.0.0.1:4"\n', join(root, 'etc/containers/registries.conf.d/10-a.conf'));
    confFile('[[registry]]\nprefix = "b.test"\nblocked = true\nlocation = "x.test"\n', join(root, 'etc/containers/registries.conf.d/30-b.conf.disabled'));
    const home = join(scratch, 'home-empty');
    const c = await loadRegistriesConf({ root, env: { HOME: home } });
    assert.equal(findRegistry(c, 'a.test/x')?.location, '127.0.0.1:3');
    assert.equal(findRegistry(c, 'b.test/x')?.location, '127.0.0.1:2');
    assert.deepEqual(c.files.map((f) => f.slice(root.length)), ['/etc/containers/registries.conf', '/etc/containers/registries.conf.d/10-a.conf', '/etc/containers/registries.conf.d/20-a.conf']);
    // The user's own drop-ins come after the system's.
    confFile('[[registry]]\nprefix = "a.test"\nlocation = "127.0.0.1:5"\n', join(home, '.config/containers/registries.conf.d/00.conf'));
    assert.equal(findRegistry(await loadRegistriesConf({ root, env: { HOME: home } }), 'a.test/x')?.location, '127.0.0.1:5');
  });

  it('a per-user registries.conf replaces the system file and its drop-ins; $CONTAINERS_REGISTRIES_CONF replaces both', async () => {
    const root = join(scratch, 'root-user');
    confFile('[[registry]]\nprefix = "a.test"\nlocation = "127.0.0.1:1"\n', join(root, 'etc/containers/registries.conf'));
    confFile('[[registry]]\nprefix = "b.test"\nlocation = "127.0.0.1:2"\n', join(root, 'etc/containers/registries.conf.d/b.conf'));
    const home = join(scratch, 'home-user');
    confFile('[[registry]]\nprefix = "c.test"\nlocation = "127.0.0.1:3"\n', join(home, '.config/containers/registries.conf'));
    const user = await loadRegistriesConf({ root, env: { HOME: home } });
    assert.deepEqual(user.registries.map((r) => r.prefix), ['c.test']);
    const named = confFile('[[registry]]\nprefix = "d.test"\nlocation = "127.0.0.1:4"\n');
    const env = await loadRegistriesConf({ root, env: { HOME: home, CONTAINERS_REGISTRIES_CONF: named } });
    assert.deepEqual(env.registries.map((r) => r.prefix), ['b.test', 'd.test']);
    await assert.rejects(loadRegistriesConf({ root, env: { HOME: home, CONTAINERS_REGISTRIES_CONF: join(scratch, 'nope.conf') } }), rejects('REGISTRIES_CONF_MISSING', 'nope.conf', '$CONTAINERS_REGISTRIES_CONF'));
  });

  it('a version 1 drop-in is refused; no file at all is an empty configuration', async () => {
    const root = join(scratch, 'root-v1');
    confFile('[registries.block]\nregistries = ["a.test"]\n', join(root, 'etc/containers/registries.conf.d/old.conf'));
    await assert.rejects(loadRegistriesConf({ root, env: { HOME: scratch } }), rejects('REGISTRIES_CONF_INVALID', 'old.conf:1', 'drop-in'));
    assert.deepEqual(await loadRegistriesConf({ root: join(scratch, 'no-root'), env: { HOME: join(scratch, 'no-home') } }), { registries: [], files: [] });
  });

  it("this machine's own registries configuration reads without error", async () => {
    await loadRegistriesConf();
  });
});

// ------------------------------------------------------------------------------------------ skopeo as the oracle

const skopeoSkip = runtimeMissing('skopeo');

/**
 * skopeo's choice for a name under a configuration, without any network: every location is a closed port on
 * 127.0.0.1, and the port skopeo tried (or its "blocked" refusal) says which [[registry]] it chose.
 */
async function skopeoChoice(file: string, name: string): Promise<string> {
  const r = await exec('skopeo', ['--registries-conf', file, 'inspect', '--no-tags', '--retry-times', '0', `docker://${name}`], { env: { ...process.env, HOME: scratch } });
  if (/is blocked in/.test(r.stderr)) return 'blocked';
  const m = /127\.0\.0\.1:(\d+)\/v2\//.exec(r.stderr);
  assert.ok(m, `skopeo said: ${r.stderr}`);
  return m[1]!;
}

describe('the same choices as skopeo', { skip: skopeoSkip }, () => {
  // skopeo 1.9 enforces "blocked" for whole registries only (the host's table), so that is what is compared here;
  // pith applies it to any prefix, as containers-registries.conf(5) says ("images with matching names").
  it('longest prefix, wildcard subdomains, the default registry, a blocked registry', async () => {
    const text = `
[[registry]]
prefix = "pith.test"
location = "127.0.0.1:1/ns"
[[registry]]
prefix = "pith.test/team"
location = "127.0.0.1:2/ns"
[[registry]]
prefix = "pith.test/team/app"
location = "127.0.0.1:3/ns"
[[registry]]
prefix = "blocked.pith.test"
location = "blocked.pith.test"
blocked = true
[[registry]]
prefix = "*.pith.test"
location = "127.0.0.1:5/ns"
[[registry]]
prefix = "*.deep.pith.test"
location = "127.0.0.1:6/ns"
[[registry]]
prefix = "${DEFAULT_DOMAIN}"
location = "127.0.0.1:7/ns"
[[registry]]
prefix = "${DEFAULT_DOMAIN}/library"
location = "127.0.0.1:8/ns"
`;
    const file = confFile(text);
    const c = conf(text, file);
    const names = ['pith.test/x', 'pith.test/team/x', 'pith.test/teamwork/x', 'pith.test/team/app', 'pith.test/team/app/sub', 'blocked.pith.test/x',
      'a.pith.test/x', 'x.deep.pith.test/y', `${DEFAULT_DOMAIN}/team/x`, `${DEFAULT_DOMAIN}/library/debian`, `${DEFAULT_DOMAIN}/debian`];
    for (const name of names) {
      let ours: string;
      try {
        ours = primaryEndpoint(c, ref(`${name}:1`)).reference.domain.split(':')[1]!;
      } catch (e) {
        ours = isPithError(e, 'REGISTRY_BLOCKED') ? 'blocked' : String(e);
      }
      assert.equal(ours, await skopeoChoice(file, `${name}:1`), name);
    }
  });
});

// ------------------------------------------------------------------------------------- against real registries

const registrySkip = registryMissing();

describe('pulls and pushes through registries.conf, against docker-registry', { skip: registrySkip }, () => {
  let home: Registry;
  let mirror: Registry;
  before(async () => {
    [home, mirror] = await Promise.all([Registry.start(join(scratch, 'registry-home')), Registry.start(join(scratch, 'registry-mirror'))]);
  });
  after(() => Promise.all([home?.stop(), mirror?.stop()]));

  /** Options for one pith run under `text`, with retries short and recorded. */
  function run(text: string, extra: RegistryOptions = {}): { options: RegistryOptions; events: RetryEvent[]; file: string } {
    const file = confFile(text);
    const events: RetryEvent[] = [];
    return { options: { registriesConf: conf(text, file), retry: { attempts: 2, baseDelayMs: 1 }, onRetry: (e) => events.push(e), ...extra }, events, file };
  }

  async function skopeoDigest(file: string, name: string, flags: string[] = []): Promise<string> {
    // --no-tags: listing tags would ask the name as written, which no server answers.
    const r = await exec('skopeo', ['--registries-conf', file, 'inspect', '--no-tags', ...flags, `docker://${name}`], { env: { ...process.env, HOME: scratch } });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { Digest: string }).Digest;
  }

  it('a prefix remapped to a local registry: pushes land at the location, pulls read from it', async () => {
    const img = await sampleImage('remapped');
    const { options, file } = run(`[[registry]]\nprefix = "pith.test/team"\nlocation = "${home.host}/real"\n`);
    const summary = await pushImage('pith.test/team/app:1', img, options);
    assert.equal(summary.reference, 'pith.test/team/app:1');
    assert.equal(summary.location, `${home.host}/real/app:1`);
    assert.equal(summary.blobs.uploaded, 3);
    // The registry itself holds it under the location's name.
    const res = await fetch(`${home.url}/v2/real/app/manifests/1`, { method: 'HEAD', headers: { accept: img.manifest.mediaType } });
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
    assert.equal((await readRemote('pith.test/team/app:1', options)).digest, img.digest);
    if (!skopeoSkip) assert.equal(await skopeoDigest(file, 'pith.test/team/app:1', ['--tls-verify=false']), img.digest);
  });

  it("the default registry of docker's grammar, mapped to a local one: `app:1` is pushed and pulled there", async () => {
    const img = await sampleImage('default-registry');
    const { options, file } = run(`[[registry]]\nprefix = "${DEFAULT_DOMAIN}"\nlocation = "${home.host}/hub"\n`);
    assert.equal((await pushImage('app:1', img, options)).location, `${home.host}/hub/library/app:1`);
    assert.equal((await readRemote('app:1', options)).digest, img.digest);
    if (!skopeoSkip) assert.equal(await skopeoDigest(file, `${DEFAULT_DOMAIN}/library/app:1`, ['--tls-verify=false']), img.digest);
  });

  it('a mirror that lacks the image hands over to the location; one that has it serves it', async () => {
    const onHome = await sampleImage('on-home');
    const onMirror = await sampleImage('on-mirror');
    await pushImage(`${home.host}/origin/app:1`, onHome);
    await pushImage(`${home.host}/origin/app:2`, onHome);
    await pushImage(`${mirror.host}/cache/app:2`, onMirror);
    const text = `[[registry]]\nprefix = "pith.test/mirrored"\nlocation = "${home.host}/origin"\n[[registry.mirror]]\nlocation = "${mirror.host}/cache"\n`;

    const lacking = run(text);
    const out = join(scratch, 'mirror-fallback');
    await copyImage('docker://pith.test/mirrored/app:1', `oci:${out}`, { registry: lacking.options });
    assert.equal((await readImage(`oci:${out}`)).digest, onHome.digest);
    assert.equal(lacking.events.length, 1);
    assert.match(lacking.events[0]!.reason, new RegExp(`the mirror ${mirror.host}/cache/app:1 .*registries-\\d+\\.conf:4.*failed: .*404`));
    assert.match(lacking.events[0]!.next ?? '', new RegExp(`${home.host}/origin/app:1 \\(the location of "pith.test/mirrored"`));

    const having = run(text);
    assert.equal((await readRemote('pith.test/mirrored/app:2', having.options)).digest, onMirror.digest);
    assert.deepEqual(having.events, []);

    if (!skopeoSkip) {
      assert.equal(await skopeoDigest(lacking.file, 'pith.test/mirrored/app:1', ['--tls-verify=false']), onHome.digest);
      assert.equal(await skopeoDigest(lacking.file, 'pith.test/mirrored/app:2', ['--tls-verify=false']), onMirror.digest);
    }
  });

  it('a mirror whose host name does not resolve hands over to the location at once, saying DNS resolution', async () => {
    const img = await sampleImage('unresolved-mirror');
    await pushImage(`${home.host}/origin/unresolved:1`, img);
    const { options, events } = run(`[[registry]]\nprefix = "pith.test/mirrored"\nlocation = "${home.host}/origin"\n[[registry.mirror]]\nlocation = "pith-nowhere.invalid/cache"\n`,
      { retry: { attempts: 6, baseDelayMs: 1 } });
    assert.equal((await readRemote('pith.test/mirrored/unresolved:1', options)).digest, img.digest);
    // No retry of the mirror itself (one for EAI_AGAIN, a resolver that cannot be reached), then the hand-over.
    const handOver = events.filter((e) => e.next !== undefined);
    assert.equal(handOver.length, 1);
    assert.ok(events.length - handOver.length <= (/EAI_AGAIN/.test(handOver[0]!.reason) ? 1 : 0), JSON.stringify(events));
    assert.match(handOver[0]!.reason, /the mirror pith-nowhere\.invalid\/cache\/unresolved:1 .* failed: .*could not resolve the host name pith-nowhere\.invalid \(DNS resolution: /);
  });

  it('a mirror that serves altered bytes is refused with REGISTRY_DIGEST_MISMATCH naming it, and nothing is written', async () => {
    const img = await sampleImage('tampered');
    await pushImage(`${home.host}/origin/tampered:1`, img);
    await pushImage(`${mirror.host}/cache/tampered:1`, img);
    const liar = await FaultProxy.start(mirror.url, (r) => (r.method === 'GET' && r.url.includes('/blobs/') ? { kind: 'alter-body' } : undefined));
    try {
      const { options } = run(`[[registry]]\nprefix = "pith.test/mirrored"\nlocation = "${home.host}/origin"\n[[registry.mirror]]\nlocation = "${liar.host}/cache"\n`);
      const out = join(scratch, 'mirror-tampered');
      await assert.rejects(copyImage('docker://pith.test/mirrored/tampered:1', `oci:${out}`, { registry: options }),
        rejects('REGISTRY_DIGEST_MISMATCH', `${liar.host}/cache/tampered`));
      await assert.rejects(readImage(`oci:${out}`), (e) => isPithError(e, 'OCI_NOT_A_LAYOUT'));
      // By digest the same: the content is checked whichever endpoint serves it.
      await assert.rejects(readRemote(`pith.test/mirrored/tampered@${img.digest}`, options), rejects('REGISTRY_DIGEST_MISMATCH', liar.host));
    } finally {
      await liar.close();
    }
  });

  it('a blocked prefix is refused before any request, for pulls and pushes', async () => {
    const img = await sampleImage('blocked');
    const { options, file } = run(`# nothing from here\n\n[[registry]]\nprefix = "pith.test/blocked"\nlocation = "${home.host}/blocked"\nblocked = true\n`);
    await assert.rejects(pushImage('pith.test/blocked/app:1', img, options), rejects('REGISTRY_BLOCKED', 'push to pith.test/blocked/app:1', `${file}:3`));
    await assert.rejects(readRemote('pith.test/blocked/app:1', options), rejects('REGISTRY_BLOCKED', 'pull pith.test/blocked/app:1', `${file}:3`));
    const res = await fetch(`${home.url}/v2/blocked/app/tags/list`);
    assert.equal(res.status, 404);
  });

  it('insecure: plain HTTP to a registry that is not loopback by name only when registries.conf allows it', async () => {
    // 0.0.0.0 reaches the registry listening on 127.0.0.1 (Linux routes it to the loopback), but is not a loopback
    // name, so neither pith nor skopeo falls back to plain HTTP for it unless told to.
    const plain = `0.0.0.0:${home.host.split(':')[1]}`;
    const img = await sampleImage('insecure');
    const table = (insecure: boolean) => `[[registry]]\nprefix = "pith.test/plain"\nlocation = "${plain}/plain"\ninsecure = ${insecure}\n`;
    const secure = run(table(false), { retry: { attempts: 1 } });
    await assert.rejects(pushImage('pith.test/plain/app:1', img, secure.options), rejects('REGISTRY_CONNECTION', 'plain HTTP', 'registries.conf marks insecure'));
    const insecure = run(table(true), { retry: { attempts: 1 } });
    assert.equal((await pushImage('pith.test/plain/app:1', img, insecure.options)).location, `${plain}/plain/app:1`);
    assert.equal((await readRemote('pith.test/plain/app:1', insecure.options)).digest, img.digest);
    if (!skopeoSkip) {
      assert.equal(await skopeoDigest(insecure.file, 'pith.test/plain/app:1'), img.digest);
      const r = await exec('skopeo', ['--registries-conf', secure.file, 'inspect', '--no-tags', '--retry-times', '0', 'docker://pith.test/plain/app:1'], { env: { ...process.env, HOME: scratch } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /HTTP response to HTTPS client/);
    }
  });
});
