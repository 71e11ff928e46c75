// The shard options as a CI job types them: `--shard I/N` on update, check and plan, a usage error (exit 2) naming
// the option for anything else; `pith plan --emit` output a workflow or a cluster takes as it is; `pith rollout
// --from` reading a directory of shard results as CI downloads them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { parse } from 'yaml';
import { plan } from 'pith';
import { pithCli } from '../fixtures/exec.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-plan-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Specs `names` under `dir`, one directory each. */
function fleet(dir: string, names: string[]): string {
  for (const n of names) {
    mkdirSync(join(dir, n), { recursive: true });
    writeFileSync(join(dir, n, 'pith.yaml'), `name: ${n}\npackages: [libc6]\n`);
  }
  return dir;
}

describe('pith --shard', () => {
  const dir = fleet(join(scratch, 'fleet'), ['web', 'api']);

  for (const command of ['update', 'check', 'plan']) {
    it(`${command}: a shard outside 1..N, or not I/N, is a usage error naming --shard`, async () => {
      for (const bad of ['0/4', '5/4', 'a/b', '1/0']) {
        const r = await pithCli([command, dir, '--shard', bad]);
        assert.equal(r.code, 2, `${command} --shard ${bad}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`--shard: expected I/N with N ≥ 1 and I from 1 to N \\(such as 1/4\\), found "${bad}"`));
        assert.equal(r.stdout, '');
      }
    });
  }

  it('--shard and --shard-from-zero together are refused; --shard-from-zero I/N is shard I+1', async () => {
    const both = await pithCli(['plan', dir, '--shard', '1/2', '--shard-from-zero', '0/2']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /'--shard <I\/N>' cannot be used with option '--shard-from-zero <I\/N>'/);
    for (let i = 0; i < 2; i++) {
      const zero = JSON.parse((await pithCli(['plan', dir, '--shard-from-zero', `${i}/2`])).stdout);
      const one = JSON.parse((await pithCli(['plan', dir, '--shard', `${i + 1}/2`])).stdout);
      assert.deepEqual(zero, one);
    }
  });

  it('plan --emit github-matrix gives a job only to shards that hold specs', async () => {
    const r = await pithCli(['plan', dir, '--emit', 'github-matrix', '--shards', '8']);
    assert.equal(r.code, 0, r.stderr);
    const matrix = JSON.parse(r.stdout) as { shard: string[] };
    const split = plan([dir], { count: 8 });
    assert.deepEqual(matrix.shard, split.shards.filter((s) => s.specs.length > 0).map((s) => s.shard));
    assert.ok(matrix.shard.length >= 1 && matrix.shard.length <= 2, 'two specs fill at most two of eight shards');
    // Each job's --shard takes exactly the specs the plan gave its shard: together, the whole fleet.
    const taken = await Promise.all(matrix.shard.map(async (s) => JSON.parse((await pithCli(['plan', dir, '--shard', s])).stdout).specs as string[]));
    assert.equal(taken.flat().length, 2);
  });

  it('plan --emit k8s-job with no --image runs localhost/pith, a valid Indexed Job', async () => {
    const r = await pithCli(['plan', '--emit', 'k8s-job', '--shards', '2']);
    assert.equal(r.code, 0, r.stderr);
    const job = parse(r.stdout);
    new Job(job).validate();
    assert.equal(job.spec.completionMode, 'Indexed');
    assert.equal(job.spec.completions, 2);
    assert.equal(job.spec.parallelism, 2);
    assert.equal(job.spec.template.spec.containers[0].image, 'localhost/pith:latest');
  });
});

describe('pith rollout --from', () => {
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const result = (name: string, pushed: string[]) => ({ spec: `/fleet/${name}/pith.yaml`, name, updated: pushed.length > 0, pushed });

  it('pins what every shard pushed, from a directory of results as CI downloads them (or pod logs)', async () => {
    const results = join(scratch, 'results');
    mkdirSync(join(results, 'results-0'), { recursive: true });
    mkdirSync(join(results, 'results-1'));
    writeFileSync(join(results, 'results-0', 'results.json'), JSON.stringify([result('web', [`127.0.0.1:5000/fleet/web:2@${digest('a')}`])]));
    // The second as a Job's pod log: pith's stderr warnings among the JSON.
    writeFileSync(join(results, 'results-1', 'results.json'), `warning: snapshot source: Valid-Until ignored\n${JSON.stringify([result('api', [`127.0.0.1:5000/fleet/api:2@${digest('b')}`]), result('db', [])], null, 2)}\n`);
    const deploy = join(scratch, 'deploy');
    mkdirSync(deploy);
    writeFileSync(join(deploy, 'compose.yaml'), 'services:\n  web:\n    image: 127.0.0.1:5000/fleet/web:1\n  api:\n    image: 127.0.0.1:5000/fleet/api:1\n');
    // A file named again (the directory and one file in it) counts once.
    const r = await pithCli(['rollout', '--from', results, '--from', join(results, 'results-0', 'results.json'), deploy, '--write']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(deploy, 'compose.yaml'), 'utf8'), `services:\n  web:\n    image: 127.0.0.1:5000/fleet/web:2@${digest('a')}\n  api:\n    image: 127.0.0.1:5000/fleet/api:2@${digest('b')}\n`);
  });

  it('refuses overlapping shards, one image pinned to two digests and splits into different N, naming both files', async () => {
    const a = join(scratch, 'a.json');
    const b = join(scratch, 'b.json');
    writeFileSync(a, JSON.stringify([result('web', [`127.0.0.1:5000/fleet/web:2@${digest('a')}`])]));
    writeFileSync(b, JSON.stringify([result('web', [`127.0.0.1:5000/fleet/web:2@${digest('a')}`])]));
    const overlap = await pithCli(['rollout', '--from', a, '--from', b, scratch]);
    assert.equal(overlap.code, 1);
    assert.match(overlap.stderr, new RegExp(`ROLLOUT_RESULTS_OVERLAP: ${b}: /fleet/web/pith.yaml was also updated in ${a}`));
    writeFileSync(b, JSON.stringify([result('web2', [`127.0.0.1:5000/fleet/web:2@${digest('c')}`])]));
    const disagree = await pithCli(['rollout', '--from', a, '--from', b, scratch]);
    assert.equal(disagree.code, 1);
    assert.match(disagree.stderr, new RegExp(`ROLLOUT_RESULTS_OVERLAP: ${b}: 127.0.0.1:5000/fleet/web is pinned to .*@${digest('c')}, but ${a} pins it to`));
    writeFileSync(a, JSON.stringify([{ ...result('web', []), shard: '1/4' }]));
    writeFileSync(b, JSON.stringify([{ ...result('api', []), shard: '2/3' }]));
    const mixed = await pithCli(['rollout', '--from', a, '--from', b, scratch]);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, new RegExp(`ROLLOUT_RESULTS_OVERLAP: ${b}: results of a split into 3 shards, but ${a} holds a split into 4: expected the same --shard N in every job`));
    const neither = await pithCli(['rollout', scratch]);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /expected --image NAME=REF@sha256:… or --from RESULTS, found neither/);
  });
});
