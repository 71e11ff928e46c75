// Sharding a fleet: a deterministic share per worker, the manifests that run the shards (checked by the validators
// their ecosystems wrote), and — end to end — four processes that share nothing but a registry updating a 40-spec
// fleet, each new layer compressed once between them, their results merged into one rollout.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from '@actions/workflow-parser';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { DEFAULT_JOB_IMAGE, githubMatrix, isPithError, k8sJob, lock, parseShard, pinsFromResults, plan, shardOf, shardSpecs } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { buildFixtureArchive, fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { pithCli } from '../fixtures/exec.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { securityFixSuites } from '../fixtures/security-fix.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-plan-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A directory of `count` specs (svc0 … svcN-1), each in its own directory. */
function fleet(dir: string, count: number, spec: (i: number) => string = (i) => `name: svc${i}\npackages: [libc6]\n`): string {
  for (let i = 0; i < count; i++) {
    mkdirSync(join(dir, `svc${i}`), { recursive: true });
    writeFileSync(join(dir, `svc${i}`, 'pith.yaml'), spec(i));
  }
  return dir;
}

describe('shards', () => {
  it('--shard I/N counts from 1, --shard-from-zero from 0; anything else is refused naming the option', () => {
    assert.deepEqual(parseShard('1/4'), { index: 1, count: 4 });
    assert.deepEqual(parseShard('0/4', '--shard-from-zero', { fromZero: true }), { index: 1, count: 4 });
    assert.deepEqual(parseShard('3/4', '--shard-from-zero', { fromZero: true }), { index: 4, count: 4 });
    for (const bad of ['0/4', '5/4', 'a/b', '1/0', '1', '-1/4', '1.5/4']) {
      assert.throws(() => parseShard(bad), (e) => isPithError(e, 'USAGE') && e.message.startsWith(`--shard: expected I/N with N ≥ 1 and I from 1 to N (such as 1/4), found "${bad}"`), bad);
    }
    assert.throws(() => parseShard('4/4', '--shard-from-zero', { fromZero: true }), (e) => isPithError(e, 'USAGE') && /I from 0 to N-1/.test(e.message));
  });

  it('are disjoint, cover the fleet, split alike wherever the checkout sits, and adding a spec moves no other', () => {
    const a = fleet(join(scratch, 'a', 'fleet'), 40);
    const b = join(scratch, 'b', 'elsewhere', 'fleet');
    cpSync(a, b, { recursive: true });
    const shards = [1, 2, 3, 4].map((index) => shardSpecs([a], { index, count: 4 }));
    assert.equal(shards.flat().length, 40);
    assert.equal(new Set(shards.flat()).size, 40, 'disjoint and covering');
    assert.ok(shards.every((s) => s.length > 0));
    const rel = (list: string[], root: string) => list.map((s) => s.slice(root.length));
    for (let index = 1; index <= 4; index++) assert.deepEqual(rel(shardSpecs([b], { index, count: 4 }), b), rel(shards[index - 1]!, a));
    // One spec more: every spec already there stays in its shard.
    fleet(join(a, 'new'), 1);
    const after = [1, 2, 3, 4].map((index) => shardSpecs([a], { index, count: 4 }));
    for (let i = 0; i < 4; i++) assert.deepEqual(after[i]!.filter((s) => !s.includes('/new/')), shards[i]);
    assert.equal(after.flat().length, 41);
  });

  it('balance, as measured (printed; rendezvous hashing trades exact balance for stability)', () => {
    for (const n of [40, 100, 1000]) {
      const sizes = [0, 0, 0, 0];
      for (let i = 0; i < n; i++) sizes[shardOf(`svc${i}/pith.yaml`, 4) - 1]!++;
      console.log(`${n} specs on 4 shards: ${[...sizes].sort((x, y) => x - y).join('/')}`);
      assert.equal(sizes.reduce((x, y) => x + y), n);
    }
  });

  it('plan --emit json lists a shard\'s specs and the whole split; a bad --shard is a usage error', async () => {
    const dir = fleet(join(scratch, 'cli-fleet'), 6);
    const p = plan([dir], { shard: { index: 2, count: 3 } });
    assert.deepEqual(p.shards.find((s) => s.shard === '2/3')!.specs, p.specs);
    const r = await pithCli(['plan', dir, '--shard', '2/3']);
    assert.equal(r.code, 0, r.stderr);
    const printed = JSON.parse(r.stdout) as { specs: string[]; shard: unknown; shards: Array<{ shard: string; specs: string[] }> };
    assert.deepEqual(printed.shard, { index: 2, count: 3 });
    assert.equal(printed.shards.length, 3);
    assert.deepEqual(printed.specs.map((s) => join(process.cwd(), s)), p.specs);
    const bad = await pithCli(['plan', dir, '--shard', '4/3']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--shard: expected I\/N with N ≥ 1 and I from 1 to N \(such as 1\/4\), found "4\/3"/);
  });

  it('the Kubernetes Indexed Job validates against the Kubernetes schema (kubernetes-models), as pith plan prints it', async () => {
    const job = k8sJob({ image: 'registry.example/pith:0.1.0', count: 8, args: ['update', '/fleet', '--push', 'registry.example/fleet/{name}:2'] });
    new Job(job as ConstructorParameters<typeof Job>[0]).validate();
    const spec = (job as { spec: { completionMode: string; completions: number; template: { spec: { containers: Array<{ args: string[] }> } } } }).spec;
    assert.equal(spec.completionMode, 'Indexed');
    assert.equal(spec.completions, 8);
    assert.deepEqual(spec.template.spec.containers[0]!.args.slice(-3), ['--shard-from-zero', '$(JOB_COMPLETION_INDEX)/8', '--json']);
    // No image named: one no public registry answers for, used as the nodes hold it.
    const local = k8sJob({ count: 2, args: ['update', '/fleet'] }) as { spec: { template: { spec: { containers: Array<{ image: string; imagePullPolicy: string }> } } } };
    new Job(local as ConstructorParameters<typeof Job>[0]).validate();
    assert.equal(local.spec.template.spec.containers[0]!.image, DEFAULT_JOB_IMAGE);
    assert.equal(DEFAULT_JOB_IMAGE, 'localhost/pith:latest');
    assert.equal(local.spec.template.spec.containers[0]!.imagePullPolicy, 'IfNotPresent');
    const r = await pithCli(['plan', '--emit', 'k8s-job', '--shards', '3', '--image', 'registry.example/pith:0.1.0', '--command', 'check /fleet']);
    assert.equal(r.code, 0, r.stderr);
    const { parse } = await import('yaml');
    const printed = parse(r.stdout);
    new Job(printed).validate();
    assert.deepEqual(printed.spec.template.spec.containers[0].args, ['check', '/fleet', '--shard-from-zero', '$(JOB_COMPLETION_INDEX)/3', '--json']);
    // The schema check can fail: a Job the API server would refuse is refused here too.
    assert.throws(() => new Job({ ...printed, spec: { ...printed.spec, completions: 'three' } }).validate());
  });

  it('the README\'s GitHub Actions workflow parses with GitHub\'s own parser and runs each shard from the matrix', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('```yaml\nname: patch the fleet');
    assert.ok(start >= 0, 'the example workflow is in the README');
    const content = readme.slice(start + '```yaml\n'.length, readme.indexOf('```', start + 8));
    const parsed = parseWorkflow({ name: 'patch-the-fleet.yml', content }, new NoOperationTraceWriter());
    assert.deepEqual(parsed.context.errors.getErrors().map((e) => e.message), []);
    const template = await convertWorkflowTemplate(parsed.context, parsed.value!);
    assert.deepEqual(template.errors ?? [], []);
    assert.match(content, /pith update fleet --shard \$\{\{ matrix\.shard \}\}/);
    assert.match(content, /pith plan fleet --emit github-matrix --shards 4/);
    assert.deepEqual(githubMatrix(plan([fleet(join(scratch, 'gh-fleet'), 40)], { count: 4 })), { shard: ['1/4', '2/4', '3/4', '4/4'] });
    // And the parser is a real check: a key GitHub does not know is an error.
    const broken = parseWorkflow({ name: 'x.yml', content: content.replace('runs-on: ubuntu-latest', 'runs-on: ubuntu-latest\n    retries: 2') }, new NoOperationTraceWriter());
    assert.ok(broken.context.errors.getErrors().length > 0);
  });

  it('rollout --from merges the shards\' results, refusing overlaps and disagreements', () => {
    const result = (spec: string, pushed: string[]) => ({ spec, name: spec, updated: true, pushed });
    const pins = pinsFromResults([
      { file: 'r1.json', text: JSON.stringify([result('a', ['127.0.0.1:5000/fleet/a:2@sha256:' + '1'.repeat(64)])]) },
      { file: 'r2.json', text: JSON.stringify([result('b', ['127.0.0.1:5000/fleet/b:2@sha256:' + '2'.repeat(64)]), { spec: 'c', updated: false, pushed: [] }]) },
    ]);
    assert.deepEqual(pins.map((p) => p.name).sort(), ['127.0.0.1:5000/fleet/a', '127.0.0.1:5000/fleet/b']);
    assert.throws(() => pinsFromResults([{ file: 'r1.json', text: JSON.stringify([result('a', [])]) }, { file: 'r2.json', text: JSON.stringify([result('a', [])]) }]), (e) =>
      isPithError(e, 'ROLLOUT_RESULTS_OVERLAP') && e.message === 'r2.json: a was also updated in r1.json: expected disjoint shards (the same --shard N in every job)');
    assert.throws(() => pinsFromResults([{ file: 'r.json', text: '{"not": "an array"}' }]), (e) => isPithError(e, 'ROLLOUT_RESULTS_INVALID'));
  });
});

describe('four workers sharing only a registry', { skip: missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' }) ?? registryMissing() }, () => {
  let server: FixtureArchive;
  let registry: Registry;
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    registry = await Registry.start(join(scratch, 'registry'));
  });
  after(async () => {
    await server?.close();
    await registry?.stop();
  });

  it('update a 40-spec fleet: each new layer compressed once fleet-wide, one rollout from the merged results', async () => {
    const dir = fleet(join(scratch, 'fleet40'), 40, (i) => fixtureSpec(server, `packages: [app]\nenv:\n  SERVICE: svc${i}\n`, `svc${i}`));
    const deploy = join(scratch, 'deploy40');
    mkdirSync(deploy);
    for (let i = 0; i < 40; i++) {
      await lock(join(dir, `svc${i}`, 'pith.yaml'), { cacheDir: join(scratch, 'setup-cache') });
      writeFileSync(join(deploy, `svc${i}.yaml`), `services:\n  svc${i}:\n    image: ${registry.host}/fleet/svc${i}:1\n`);
    }
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);
    const cache = `docker://${registry.host}/ci/cache`;
    const results = join(scratch, 'results');
    mkdirSync(results);
    const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
    const worker = (i: number) =>
      new Promise<number>((done) => {
        const child = spawn(process.execPath, [bin, 'update', dir, '--shard', `${i}/4`, '--only', 'security', '--cache', join(scratch, `worker-cache-${i}`), '--cache-from', cache, '--cache-to', cache, '--push', `${registry.host}/fleet/{name}:2`, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', (code) => {
          writeFileSync(join(results, `shard-${i}.json`), out);
          done(code ?? -1);
        });
      });
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map(worker)), [0, 0, 0, 0]);
    const all = readdirSync(results).flatMap((f) => JSON.parse(readFileSync(join(results, f), 'utf8')) as Array<{ spec: string; updated: boolean; pushed: string[] }>);
    assert.equal(all.length, 40);
    assert.equal(new Set(all.map((r) => r.spec)).size, 40, 'every spec updated by exactly one worker');
    assert.ok(all.every((r) => r.updated && r.pushed.length === 1));
    // Every layer entry published to the cache was published once: a second compression would be a second
    // revision of its tag (each publication carries its builder's id).
    const tags = join(registry.storage, 'docker/registry/v2/repositories/ci/cache/_manifests/tags');
    const revisions = readdirSync(tags).filter((t) => t.startsWith('pith-layer-')).map((t) => readdirSync(join(tags, t, 'index', 'sha256')).length);
    assert.ok(revisions.length > 0);
    assert.deepEqual(revisions.filter((n) => n !== 1), [], 'a layer compressed more than once');
    // One rollout after the last shard, from the merged results.
    const rolled = await pithCli(['rollout', '--from', results, deploy, '--write', '--json']);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.equal(JSON.parse(rolled.stdout).edits.length, 40);
    for (const r of all) {
      const name = r.pushed[0]!.replace(/^.*\/fleet\/(svc\d+):2@.*$/, '$1');
      assert.match(readFileSync(join(deploy, `${name}.yaml`), 'utf8'), new RegExp(`image: ${registry.host}/fleet/${name}:2@sha256:[0-9a-f]{64}`));
    }
  });
});


