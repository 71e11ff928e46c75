import { Command, Option } from 'commander';
import { registryReference } from '../transports/transports.ts';
import { sign, verify } from '../trust/trust.ts';
import { jsonOption, REGISTRY_ARGUMENT } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

const lookasideOption = () => new Option('--lookaside <dir|url>', 'OpenPGP signatures: the lookaside store (a directory to write, a directory or http(s) URL to read), laid out as containers-registries.d(5) says');

export function signCommand(): Command {
  return new Command('sign')
    .description('sign an image already in a registry: an ECDSA key (pith keygen) signs as cosign does (the .sig tag and a Sigstore bundle referrer), an OpenPGP key as containers/image does (lookaside); an index is signed with each of its images')
    .argument('<reference>', REGISTRY_ARGUMENT)
    .requiredOption('--key <file>', 'private key: ECDSA P-256 PEM (PITH_KEY_PASSWORD opens an encrypted one) or an armored OpenPGP secret key')
    .addOption(lookasideOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption())
    .action(async (reference: string, flags: RegistryFlags & { key: string; lookaside?: string }) => {
      const r = await sign(registryReference(reference, 'the <reference> of pith sign'), flags.key, { ...registryOptions(flags), ...(flags.lookaside ? { lookaside: flags.lookaside } : {}) });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      for (const digest of r.digests) process.stdout.write(`signed ${digest} (${r.format})\n`);
    });
}

export function verifyCommand(): Command {
  return new Command('verify')
    .description('verify the signatures of an image in a registry with a public key; exit 0 when one verifies, covers the digest and names the repository, 1 with the reason otherwise')
    .argument('<reference>', REGISTRY_ARGUMENT)
    .requiredOption('--key <file>', 'public key: SPKI PEM (ECDSA P-256), or OpenPGP public keys as gpg --export writes them (binary or armored)')
    .addOption(lookasideOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption())
    .action(async (reference: string, flags: RegistryFlags & { key: string; lookaside?: string }) => {
      const r = await verify(registryReference(reference, 'the <reference> of pith verify'), flags.key, { ...registryOptions(flags), ...(flags.lookaside ? { lookaside: flags.lookaside } : {}) });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      process.stdout.write(`verified ${r.reference}@${r.digest} (${r.format})\n`);
    });
}
