import { Command } from 'commander';
import { copyImage, registryLocation, registryReference } from '../transports/transports.ts';
import { formatReference, parseReference } from '../oci/reference.ts';
import { openSigner, sign } from '../trust/trust.ts';
import { IMAGE_ARGUMENT, jsonOption, REGISTRY_ARGUMENT, lookasideOption, signatureLines, signerFlag, signKeylessOption, signOption } from './common.ts';
import { describePush, insecureOption, registriesConfOption, jobsOption, registryOptions, type RegistryFlags } from './registry.ts';

export function pushCommand(): Command {
  return new Command('push')
    .description('push an image or index to a registry: only what the registry lacks is sent; the last line of output is the digest')
    .argument('<source>', IMAGE_ARGUMENT)
    .argument('<reference>', REGISTRY_ARGUMENT)
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jobsOption())
    .addOption(signOption())
    .addOption(signKeylessOption())
    .addOption(lookasideOption('written to'))
    .addOption(jsonOption())
    .action(async (source: string, reference: string, flags: RegistryFlags & { sign?: string; signKeyless?: boolean; lookaside?: string }) => {
      const where = 'the <reference> of pith push';
      // The key is opened first: a wrong path or passphrase sends nothing.
      const signer = signerFlag(flags);
      const key = signer === undefined ? undefined : await openSigner(signer, { lookaside: flags.lookaside });
      const registry = registryOptions(flags);
      const result = await copyImage(source, registryLocation(reference, where), { registry });
      const signed = formatReference({ ...parseReference(registryReference(reference, where)), digest: result.digest as `sha256:${string}` });
      const signatures = key ? [await sign(signed, key, { ...registry, lookaside: flags.lookaside })] : undefined;
      if (flags.json) {
        process.stdout.write(JSON.stringify({ source: result.source, ...result.push, ...(signatures ? { signatures } : {}) }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${[describePush(result.push!), ...signatureLines(signatures)].join('\n')}\n${result.digest}\n`);
    });
}
