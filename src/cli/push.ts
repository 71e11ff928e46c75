import { Command } from 'commander';
import { copyImage, registryLocation } from '../transports/transports.ts';
import { IMAGE_ARGUMENT, jsonOption, REGISTRY_ARGUMENT } from './common.ts';
import { describePush, insecureOption, registriesConfOption, jobsOption, registryOptions, type RegistryFlags } from './registry.ts';

export function pushCommand(): Command {
  return new Command('push')
    .description('push an image or index to a registry: only what the registry lacks is sent; the last line of output is the digest')
    .argument('<source>', IMAGE_ARGUMENT)
    .argument('<reference>', REGISTRY_ARGUMENT)
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jobsOption())
    .addOption(jsonOption())
    .action(async (source: string, reference: string, flags: RegistryFlags) => {
      const result = await copyImage(source, registryLocation(reference, 'the <reference> of pith push'), { registry: registryOptions(flags) });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ source: result.source, ...result.push }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${describePush(result.push!)}\n${result.digest}\n`);
    });
}
