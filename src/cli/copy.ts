import { Command } from 'commander';
import { copyImage } from '../transports/transports.ts';
import { IMAGE_ARGUMENT, jsonOption, platformOption } from './common.ts';
import { describePush, insecureOption, registriesConfOption, jobsOption, registryOptions, type RegistryFlags } from './registry.ts';

export function copyCommand(): Command {
  return new Command('copy')
    .description('copy an image or index between any two of oci:, oci-archive:, docker-archive: and docker://; the last line of output is the digest')
    .argument('<source>', IMAGE_ARGUMENT)
    .argument('<destination>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://REF (a destination names its transport)')
    .addOption(platformOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jobsOption())
    .addOption(jsonOption())
    .action(async (source: string, destination: string, flags: RegistryFlags & { platform?: string }) => {
      const result = await copyImage(source, destination, { platform: flags.platform, registry: registryOptions(flags) });
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${result.push ? describePush(result.push) : `wrote ${result.destination}`}\n${result.digest}\n`);
    });
}
