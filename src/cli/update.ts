import { Command, Option } from 'commander';
import { update } from '../orchestrate/update.ts';
import type { SbomFormat } from '../index.ts';
import { addArchiveOptions, addShardOptions, shardFlag, cacheFromOption, cacheToOption, registryCacheFlags, snapshotOption, advisoriesOption, archiveOptions, integer, megabytes, repeatable, sbomLines, sbomOption, signatureLines, signOption, signKeylessOption, signerFlag, noAttestOption, builderIdOption, lookasideOption, withProgress, type ArchiveFlags } from './common.ts';
import { insecureOption, registryOptions, type RegistryFlags } from './registry.ts';

interface UpdateFlags extends ArchiveFlags, RegistryFlags {
  only?: 'security';
  parallel?: number;
  rollout?: string[];
  push?: string[];
  advisories?: string[];
  sbom?: SbomFormat[];
  cacheFrom?: string[];
  cacheTo?: string[];
  shard?: string;
  shardFromZero?: string;
  sign?: string;
  signKeyless?: boolean;
  attest: boolean;
  builderId?: string;
  lookaside?: string;
}

export function updateCommand(): Command {
  const command = new Command('update')
    .description('minimal-bump re-lock (only packages with a newer candidate, and what their new dependencies need), reproducible rebuild, the spec\'s test: in the new image with runc, outputs and pushes; the new lock is written only once every step passed')
    .argument('[paths...]', 'specs (pith.yaml) or directories searched for them (default .)')
    .addOption(new Option('--only <what>', 'move only packages whose newer candidate comes from a security suite').choices(['security']))
    .addOption(new Option('--push <reference>', 'push the new image to this registry reference ({name} stands for the spec\'s name, for fleets); repeatable').argParser(repeatable))
    .addOption(new Option('--rollout <path>', 'then pin each pushed digest in the manifests under this path (as pith rollout --write); needs --push; repeatable').argParser(repeatable))
    .addOption(advisoriesOption('advisory sources, as for pith check (for the CVEs fixed)'))
    .addOption(sbomOption('store SBOMs (spdx, cyclonedx; comma-separated) with the new image in each oci: output and each push, as pith build --sbom does'))
    .addOption(new Option('--parallel <n>', 'specs updated at once (default 2)').argParser(integer('--parallel')))
    .addOption(cacheFromOption())
    .addOption(cacheToOption())
    .addOption(signOption())
    .addOption(signKeylessOption())
    .addOption(noAttestOption())
    .addOption(builderIdOption())
    .addOption(lookasideOption('written to'))
    .addOption(insecureOption());
  return addArchiveOptions(addShardOptions(command.addOption(snapshotOption()))).action(async (paths: string[], flags: UpdateFlags) => {
    const shard = shardFlag(flags);
    const results = await withProgress(flags, (onEvent) =>
      update(paths, { ...archiveOptions(flags, onEvent), jobs: flags.parallel, only: flags.only, push: flags.push, rollout: flags.rollout, advisories: flags.advisories, sbom: flags.sbom, sign: signerFlag(flags), attest: flags.attest, builderId: flags.builderId, lookaside: flags.lookaside, registry: registryOptions(flags), ...registryCacheFlags(flags), shard }),
    );
    if (flags.json) {
      // Each result names its shard, so rollout --from can refuse shards of splits into different N.
      const tag = shard ? { shard: `${shard.index}/${shard.count}` } : {};
      process.stdout.write(JSON.stringify(results.map(({ diff: _diff, ...r }) => ({ ...r, ...tag })), null, 2) + '\n');
      return;
    }
    const out: string[] = [];
    for (const r of results) {
      if (!r.updated) {
        out.push(`${r.name}: nothing to update`);
        continue;
      }
      out.push(`${r.name}: ${r.oldDigest ?? '(old image described from its lock)'} -> ${r.newDigest}`);
      for (const c of r.changes) out.push(`  ${c.architecture} ${c.name} ${c.from ?? '(new)'} -> ${c.to ?? '(removed)'}`);
      out.push(`  CVEs fixed: ${r.cvesFixed.length ? r.cvesFixed.join(' ') : 'none known'}`);
      if (r.diff === undefined) out.push('  layers changed: unknown (the old image is neither cached, nor at an output or push target; its old versions were not downloaded)');
      else out.push(`  layers changed: ${r.layersChanged}; a node running the old image pulls ${megabytes(r.pullBytes ?? 0)}`);
      out.push(`  smoke test: ${r.smokeTest?.skipped ?? (r.smokeTest?.passed ? 'passed' : r.smokeTest?.reason)}`);
      for (const o of [...r.outputs, ...r.pushed]) out.push(`  wrote ${o}`);
      for (const line of [...sbomLines(r.sboms), ...signatureLines(r.signatures)]) out.push(`  ${line}`);
      for (const e of r.rollout?.edits ?? []) out.push(`  pinned ${e.to} in ${e.file} (${e.where})`);
      out.push(`  wrote ${r.lock}`);
    }
    process.stdout.write(out.join('\n') + '\n');
  });
}
