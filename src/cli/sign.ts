import { Command } from 'commander';
import { registryReference } from '../transports/transports.ts';
import { sign, verify } from '../trust/trust.ts';
import { jsonOption, REGISTRY_ARGUMENT } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

type KeyFlags = RegistryFlags & { key: string };

/** sign and verify take the same arguments: an image in a registry and a key file. */
function keyCommand(name: string, description: string, keyHelp: string, run: (reference: string, flags: KeyFlags) => Promise<{ json: unknown; text: string }>): Command {
  return new Command(name)
    .description(description)
    .argument('<reference>', REGISTRY_ARGUMENT)
    .requiredOption('--key <file>', keyHelp)
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption())
    .action(async (reference: string, flags: KeyFlags) => {
      const r = await run(registryReference(reference, `the <reference> of pith ${name}`), flags);
      process.stdout.write(flags.json ? `${JSON.stringify(r.json, null, 2)}\n` : r.text);
    });
}

const options = (flags: KeyFlags) => registryOptions(flags);

export function signCommand(): Command {
  return keyCommand('sign',
    'sign an image already in a registry: an ECDSA key (pith keygen) signs as cosign does (the .sig tag and a Sigstore bundle referrer), an index is signed with each of its images',
    'private key: ECDSA P-256 PEM (PITH_KEY_PASSWORD opens an encrypted one)',
    async (reference, flags) => {
      const r = await sign(reference, flags.key, options(flags));
      return { json: r, text: r.digests.map((d) => `signed ${d} (${r.format})\n`).join('') };
    });
}

export function verifyCommand(): Command {
  return keyCommand('verify',
    'verify the signatures of an image in a registry with a public key; exit 0 when one verifies, covers the digest and names the repository, 1 with the reason otherwise',
    'public key: SPKI PEM (ECDSA P-256)',
    async (reference, flags) => {
      const r = await verify(reference, flags.key, options(flags));
      return { json: r, text: `verified ${r.reference}@${r.digest} (${r.format})\n` };
    });
}
