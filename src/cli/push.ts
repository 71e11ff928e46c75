import { Command } from 'commander';
import { copyImage, registryLocation } from '../transports/transports.ts';
import { jsonOption } from './common.ts';
import { describePush, insecureOption, registriesConfOption, jobsOption, registryOptions, type RegistryFlags } from './registry.ts';

export function pushCommand(): Command {
  return new Command('push')
    .description('push an image or index to a registry: only what the registry lacks is sent; the last line of output is the digest')
    .argument('<source>', 'an OCI layout directory[:TAG] or image archive, or oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]')
    .argument('<reference>', 'registry/repository[:tag|@digest], with or without docker://')
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jobsOption())
    .addOption(jsonOption())
    .action(async (source: string, reference: string, flags: RegistryFlags) => {
      const result = await copyImage(source, registryLocation(reference), { registry: registryOptions(flags) });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ source: result.source, ...result.push }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${describePush(result.push!)}\n${result.digest}\n`);
    });
}
