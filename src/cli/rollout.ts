import { Command } from 'commander';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PithError } from '../errors.ts';
import { parseImagePin, pinsFromResults, rollout } from '../orchestrate/rollout.ts';
import type { RolloutResult } from '../index.ts';
import { jsonOption, keylessVerifyOptions, lookasideOption, repeatable, verifierFlag, type KeylessVerifyFlags } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

export function rolloutCommand(): Command {
  const command = new Command('rollout')
    .description('pin a new image digest where it is deployed: Kubernetes workloads, compose files, Helm values, Kustomize images:, Dockerfile FROM; a dry run showing the diff unless --write')
    .option('--image <NAME=REF@sha256:…>', 'the image as manifests name it, and the reference to pin; repeatable', repeatable)
    .option('--from <results>', 'pin every image these `pith update --json` results pushed: a file, or a directory of .json files (one per shard of a fleet; they must not overlap); repeatable', repeatable)
    .argument('[paths...]', 'files or directories to search (default .)')
    .option('--write', 'apply the changes (each file replaced atomically)')
    .option('--verify <keyfile>', 'refuse unless every pinned digest is signed with this public key (as pith verify checks), or by the keyless identity of --certificate-identity and --certificate-oidc-issuer, before any file is read')
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption());
  for (const option of [...keylessVerifyOptions(), lookasideOption('read from')]) command.addOption(option);
  return command
    .action(async (paths: string[], flags: RegistryFlags & KeylessVerifyFlags & { lookaside?: string; image?: string[]; from?: string[]; write?: boolean; json?: boolean; verify?: string }) => {
      if (!flags.image?.length && !flags.from?.length) throw new PithError('USAGE', 'rollout: expected --image NAME=REF@sha256:… or --from RESULTS, found neither');
      const pins = [...(flags.image ?? []).map(parseImagePin), ...pinsFromResults(readResults(flags.from ?? []))];
      const result = await rollout(pins, paths, { write: flags.write, verify: verifierFlag(flags.verify, '--verify', flags, 'pith rollout', false), lookaside: flags.lookaside, registry: registryOptions(flags) });
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

/**
 * Results files, or every .json file under directories (one per shard, as CI artifacts are downloaded). A pod's log
 * (`kubectl logs`, the only way out of a shell-less Job's pod) holds stderr too: pith's own `warning: …` lines are
 * dropped, as no line of the JSON starts so.
 */
function readResults(paths: string[]): Array<{ file: string; text: string }> {
  const read = (file: string) => {
    try {
      return { file, text: readFileSync(file, 'utf8').replace(/^warning: .*\n/gm, '') };
    } catch (e) {
      throw new PithError('ROLLOUT_RESULTS_INVALID', `${file}: cannot read the update results (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const filesOf = (path: string) => {
    try {
      return statSync(path).isDirectory() ? (readdirSync(path, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort().map((f) => join(path, f)) : [path];
    } catch {
      return [path];
    }
  };
  // A file named twice (a directory and a file in it) is one shard's results, not an overlap.
  const files = new Map(paths.flatMap(filesOf).map((f) => [resolve(f), f]));
  return [...files.values()].map(read);
}
