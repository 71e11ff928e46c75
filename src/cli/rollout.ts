import { Command } from 'commander';
import { parseImagePin, rollout, type RolloutResult } from '../index.ts';
import { jsonOption, repeatable } from './common.ts';

export function rolloutCommand(): Command {
  return new Command('rollout')
    .description('pin a new image digest where it is deployed: Kubernetes workloads, compose files, Helm values, Kustomize images:, Dockerfile FROM; a dry run showing the diff unless --write')
    .requiredOption('--image <NAME=REF@sha256:…>', 'the image as manifests name it, and the reference to pin; repeatable', repeatable)
    .argument('[paths...]', 'files or directories to search (default .)')
    .option('--write', 'apply the changes (each file replaced atomically)')
    .addOption(jsonOption())
    .action(async (paths: string[], flags: { image: string[]; write?: boolean; json?: boolean }) => {
      const result = await rollout(flags.image.map(parseImagePin), paths, { write: flags.write });
      if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(renderRollout(result, flags.write));
    });
}

function renderRollout(result: RolloutResult, write?: boolean): string {
  const out: string[] = [];
  for (const e of result.errors) process.stderr.write(`warning: ${e.file}: ${e.message} (not rewritten)\n`);
  for (const d of result.diffs) out.push(d.diff.trimEnd());
  out.push(result.edits.length === 0 ? 'no references to rewrite' : `${result.edits.length} reference(s) in ${result.diffs.length} file(s) ${write ? 'rewritten' : 'would be rewritten (dry run; --write applies)'}`);
  return out.join('\n') + '\n';
}
