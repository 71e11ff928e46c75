import { Command, Option } from 'commander';
import { writeFileAtomic } from '../cache/store.ts';
import { SBOM_FORMAT_NAMES } from '../sbom/formats.ts';
import { sbomDocument } from '../sbom/sbom.ts';
import type { SbomFormat } from '../index.ts';
import { IMAGE_ARGUMENT, platformOption } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

interface SbomFlags extends RegistryFlags {
  format: SbomFormat;
  output?: string;
  platform?: string;
  fresh?: boolean;
}

export function sbomCommand(): Command {
  return new Command('sbom')
    .description('the SBOM of an image, made from the image alone (or the one attached to it in an OCI layout or a registry); one document per platform')
    .argument('<image>', IMAGE_ARGUMENT)
    .addOption(new Option('--format <format>', 'SBOM format').choices(SBOM_FORMAT_NAMES).default('spdx'))
    .option('--output <file>', 'write the document here (atomically) instead of standard output')
    .addOption(platformOption())
    .option('--fresh', 'compute the SBOM even when one is attached to the image')
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .action(async (image: string, flags: SbomFlags) => {
      const doc = await sbomDocument(image, { format: flags.format, platform: flags.platform, fresh: flags.fresh, registry: registryOptions(flags) });
      if (flags.output) {
        await writeFileAtomic(flags.output, doc.document);
        process.stderr.write(`${doc.attached ? 'copied the attached' : 'wrote the'} ${flags.format} SBOM of ${doc.platform} ${doc.digest} to ${flags.output}\n`);
      } else {
        process.stdout.write(doc.document);
      }
    });
}
