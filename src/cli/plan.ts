import { relative } from 'node:path';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { DEFAULT_JOB_IMAGE, githubMatrix, k8sJob, plan } from '../orchestrate/plan.ts';
import { addShardOptions, integer, shardFlag } from './common.ts';

interface PlanFlags {
  shard?: string;
  shardFromZero?: string;
  emit: 'json' | 'github-matrix' | 'k8s-job';
  shards?: number;
  image?: string;
  claim?: string;
  name?: string;
  command: string;
}

export function planCommand(): Command {
  const command = new Command('plan')
    .description('split a fleet into shards for N workers with no coordinator: the specs of one shard (json), a GitHub Actions matrix, or a Kubernetes Indexed Job whose pods each run pith on their shard')
    .argument('[paths...]', 'specs (pith.yaml) or directories searched for them (default .)')
    .addOption(new Option('--emit <format>', 'json: the shard\'s specs and the whole split; github-matrix: strategy.matrix JSON (one job per shard that holds specs); k8s-job: an Indexed Job manifest (YAML)').choices(['json', 'github-matrix', 'k8s-job']).default('json'))
    .addOption(new Option('--shards <n>', 'how many shards (default: the N of --shard, else 4 for github-matrix and k8s-job, 1 for json)').argParser(integer('--shards', { max: 10_000 })))
    .option('--image <reference>', `k8s-job: pith's image (examples/pith, pushed where the cluster pulls, best by digest; default ${DEFAULT_JOB_IMAGE}, a local build loaded into the nodes)`)
    .option('--claim <name>', 'k8s-job: the PersistentVolumeClaim holding the fleet\'s checkout, mounted at /fleet', 'pith-fleet')
    .option('--name <name>', 'k8s-job: the Job\'s name', 'pith-update')
    .option('--command <words>', 'k8s-job: the pith command each pod runs on its shard, words separated by spaces (the shard and --json are added)', 'update /fleet');
  return addShardOptions(command).action(async (paths: string[], flags: PlanFlags) => {
    const shard = shardFlag(flags);
    const count = flags.shards ?? shard?.count ?? (flags.emit === 'json' ? 1 : 4);
    if (flags.emit === 'github-matrix') {
      process.stdout.write(JSON.stringify(githubMatrix(plan(paths, { count }))) + '\n');
      return;
    }
    if (flags.emit === 'k8s-job') {
      process.stdout.write(stringify(k8sJob({ image: flags.image, count, args: flags.command.split(/\s+/).filter((w) => w !== ''), claim: flags.claim, name: flags.name })));
      return;
    }
    const p = plan(paths, { shard, count });
    const rel = (s: string) => relative(process.cwd(), s) || '.';
    process.stdout.write(JSON.stringify({ specs: p.specs.map(rel), ...(p.shard ? { shard: p.shard } : {}), shards: p.shards.map((s) => ({ shard: s.shard, specs: s.specs.map(rel) })) }, null, 2) + '\n');
  });
}

