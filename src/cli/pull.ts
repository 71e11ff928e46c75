import { Command, Option } from 'commander';
import { copyImage, registryLocation } from '../transports/transports.ts';
import { jsonOption, platformOption, REGISTRY_ARGUMENT } from './common.ts';
import { insecureOption, registriesConfOption, jobsOption, registryOptions, type RegistryFlags } from './registry.ts';

export function pullCommand(): Command {
  return new Command('pull')
    .description('pull an image or index from a registry, every digest verified, into a local output; the last line of output is the digest')
    .argument('<reference>', REGISTRY_ARGUMENT)
    .addOption(new Option('--output <dest>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]').makeOptionMandatory())
    .addOption(platformOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jobsOption())
    .addOption(jsonOption())
    .action(async (reference: string, flags: RegistryFlags & { output: string; platform?: string }) => {
      const result = await copyImage(registryLocation(reference, 'the <reference> of pith pull'), flags.output, { platform: flags.platform, registry: registryOptions(flags) });
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      process.stdout.write(`wrote ${result.destination}\n${result.digest}\n`);
    });
}
