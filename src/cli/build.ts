import { Command, Option } from 'commander';
import { build } from '../orchestrate/build.ts';
import type { SbomFormat } from '../index.ts';
import { cacheFromOption, cacheOption, cacheToOption, registryCacheFlags, jsonOption, offlineOption, repeatable, sbomLines, sbomOption, signatureLines, signOption, signKeylessOption, signerFlag, noAttestOption, builderIdOption, lookasideOption, snapshotOption, sourceDateEpochFromEnv, withProgress } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions } from './registry.ts';

interface BuildFlags {
  arch?: string[];
  output?: string[];
  lock?: string;
  cache?: string;
  offline?: boolean;
  locked?: boolean;
  snapshot?: string;
  cacheFrom?: string[];
  cacheTo?: string[];
  json?: boolean;
  push?: string[];
  insecure?: string[];
  sbom?: SbomFormat[];
  registriesConf?: string;
  sign?: string;
  signKeyless?: boolean;
  attest: boolean;
  builderId?: string;
  lookaside?: string;
}

export function buildCommand(): Command {
  return new Command('build')
    .description('build the image a spec describes from its lock (created when missing): no maintainer script runs; the last line of output is the image digest')
    .argument('<spec>', 'a pith.yaml, or a directory holding one')
    .addOption(new Option('--arch <arch>', 'build only this locked architecture; repeatable').argParser(repeatable))
    .addOption(
      new Option('--output <dest>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]; repeatable (default oci:<spec dir>/out:<name>)').argParser(repeatable),
    )
    .option('--lock <file>', 'the lock to build from (default: <spec name>.lock beside the spec, made when missing, re-locked minimally when the spec changed)')
    .option('--locked', 'fail instead of making or re-locking the lock (for CI: the committed lock must match the spec)')
    .addOption(cacheOption())
    .addOption(offlineOption())
    .addOption(snapshotOption())
    .addOption(cacheFromOption())
    .addOption(cacheToOption())
    .addOption(new Option('--push <reference>', 'also push the image to this registry reference; repeatable').argParser(repeatable))
    .addOption(insecureOption())
    .addOption(sbomOption('store SBOMs (spdx, cyclonedx; comma-separated) with the image in each oci: output and each push, as artifacts referring to each platform image'))
    .addOption(signOption())
    .addOption(signKeylessOption())
    .addOption(noAttestOption())
    .addOption(builderIdOption())
    .addOption(lookasideOption('written to'))
    .addOption(registriesConfOption())
    .addOption(jsonOption())
    .action(async (spec: string, flags: BuildFlags) => {
      const sourceDateEpoch = sourceDateEpochFromEnv();
      const result = await withProgress(flags, (onEvent) =>
        build(spec, {
          architectures: flags.arch,
          outputs: flags.output,
          lockPath: flags.lock,
          locked: flags.locked,
          cacheDir: flags.cache,
          offline: flags.offline,
          snapshot: flags.snapshot,
          ...registryCacheFlags(flags),
          sourceDateEpoch,
          onEvent,
          push: flags.push,
          registry: registryOptions(flags),
          sbom: flags.sbom,
          sign: signerFlag(flags),
          attest: flags.attest,
          builderId: flags.builderId,
          lookaside: flags.lookaside,
        }),
      );
      if (flags.json) {
        const { image: _image, ...summary } = result;
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        return;
      }
      if (result.lockCreated) process.stdout.write(`locked ${result.lockPath}\n`);
      if (result.relocked) {
        const moved = result.relocked.changes.map((c) => `${c.architecture} ${c.name} ${c.from ?? '(new)'} -> ${c.to ?? '(removed)'}`);
        process.stdout.write(`re-locked ${result.lockPath} (${result.relocked.specChanges.join('; ')}):${moved.length ? `\n  ${moved.join('\n  ')}` : ' no package moved'}\n`);
      }
      for (const arch of result.architectures) {
        process.stdout.write(`${arch.architecture}: ${arch.layers.length} layers, ${(arch.size.compressed / 1e6).toFixed(1)} MB compressed (${(arch.size.uncompressed / 1e6).toFixed(1)} MB unpacked); ${arch.trimmed.length} paths trimmed; ${arch.excluded.length} packages left out; ${arch.scripts.length} maintainer scripts not run\n`);
        const { files, added } = arch.libraries;
        if (files.length > 0) {
          const addedNames = [...new Set(added.map((a) => a.package))].sort();
          process.stdout.write(`${arch.architecture}: the shared libraries of ${files.map((f) => f.file).join(', ')} resolve in the image${addedNames.length ? ` (the lock added ${addedNames.join(', ')})` : ''}\n`);
        }
      }
      for (const out of result.outputs) process.stdout.write(`wrote ${out}\n`);
      for (const line of [...sbomLines(result.sboms), ...signatureLines(result.signatures)]) process.stdout.write(`${line}\n`);
      process.stdout.write(`${result.digest}\n`);
    });
}
