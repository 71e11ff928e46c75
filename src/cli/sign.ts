import { Command, Option } from 'commander';
import { PithError } from '../errors.ts';
import { registryReference } from '../transports/transports.ts';
import { CYCLONEDX_PREDICATE_TYPE, SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE } from '../trust/attest.ts';
import { sign, verify, type Signer } from '../trust/trust.ts';
import { jsonOption, keylessVerifyOptions, lookasideOption, REGISTRY_ARGUMENT, repeatable, signatureLines, verifierFlag, type KeylessVerifyFlags } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

/** sign and verify take the same arguments: an image in a registry, and a key or a keyless identity. */
function trustCommand(name: string, description: string, keyHelp: string): Command {
  return new Command(name)
    .description(description)
    .argument('<reference>', REGISTRY_ARGUMENT)
    .option('--key <file>', keyHelp)
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption());
}

function print<T>(flags: { json?: boolean }, report: T, text: (r: T) => string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : text(report));
}

type SignFlags = RegistryFlags & { lookaside?: string; key?: string; keyless?: boolean; fulcioUrl?: string; rekorUrl?: string; attest?: string; lock?: string };

export function signCommand(): Command {
  return trustCommand('sign',
    'sign an image already in a registry, with a key (--key: cosign\'s .sig tag and a Sigstore bundle referrer) or keylessly (--keyless: a Fulcio certificate and a Rekor entry); an index is signed with each of its images',
    'private key: ECDSA P-256 PEM (pith keygen; PITH_KEY_PASSWORD opens an encrypted one), or an armored OpenPGP secret key (gpg --export-secret-keys --armor) with --lookaside')
    .option('--keyless', 'sign with a short-lived Fulcio certificate for the OIDC identity in SIGSTORE_ID_TOKEN (or the CI\'s ambient token), logged in a Rekor')
    .option('--fulcio-url <url>', 'the Fulcio of --keyless (default $PITH_FULCIO_URL; pith knows none of its own)')
    .option('--rekor-url <url>', 'the Rekor of --keyless (default $PITH_REKOR_URL)')
    .option('--attest <spec>', 'also attest the build: the SLSA provenance of this spec and its lock, and the image\'s SPDX and CycloneDX SBOMs, signed with --key')
    .option('--lock <file>', 'the lock --attest records (default: the spec\'s own, <name>.lock beside it)')
    .addOption(lookasideOption('written to'))
    .action(async (reference: string, flags: SignFlags) => {
      const where = 'pith sign';
      if (flags.lock !== undefined && flags.attest === undefined) throw new PithError('USAGE', `${where}: --lock names the lock of --attest SPEC; add --attest`);
      let signer: Signer;
      if (flags.keyless) {
        if (flags.key !== undefined) throw new PithError('USAGE', `${where}: give --key FILE or --keyless, not both`);
        signer = { keyless: { fulcioUrl: flags.fulcioUrl, rekorUrl: flags.rekorUrl } };
      } else {
        if (flags.key === undefined) throw new PithError('USAGE', `${where}: expected --key FILE (an ECDSA private key, pith keygen) or --keyless, found neither`);
        if (flags.fulcioUrl !== undefined || flags.rekorUrl !== undefined) throw new PithError('USAGE', `${where}: --fulcio-url and --rekor-url go with --keyless`);
        signer = flags.key;
      }
      const attest = flags.attest === undefined ? undefined : { spec: flags.attest, ...(flags.lock !== undefined ? { lock: flags.lock } : {}) };
      const r = await sign(registryReference(reference, `the <reference> of ${where}`), signer, { ...registryOptions(flags), ...(attest ? { attest } : {}), lookaside: flags.lookaside });
      print(flags, r, () => signatureLines([r]).map((l) => `${l}\n`).join(''));
    });
}

/** `--attestation` names: the three pith writes by a short name, any other predicate type by its URI. */
const PREDICATE_TYPES: Record<string, string> = { provenance: SLSA_PROVENANCE_V1, spdx: SPDX_PREDICATE_TYPE, cyclonedx: CYCLONEDX_PREDICATE_TYPE };

type VerifyFlags = RegistryFlags & KeylessVerifyFlags & { lookaside?: string; key?: string; lock?: string; attestation?: string[] };

export function verifyCommand(): Command {
  const command = trustCommand('verify',
    'verify an image in a registry: a signature by the key (--key) or the keyless identity (--certificate-identity, --certificate-oidc-issuer) that covers the digest and names the repository, and with --lock/--attestation its attestations; exit 0, or 1 with the reason',
    'public key: SPKI PEM (ECDSA P-256), or OpenPGP public keys (gpg --export, binary or armored) with --lookaside');
  for (const option of keylessVerifyOptions()) command.addOption(option);
  return command
    .addOption(lookasideOption('read from'))
    .option('--lock <file>', 'require a signed SLSA provenance built from exactly this lock (its digest and every .deb)')
    .addOption(new Option('--attestation <type>', `require a signed attestation of this predicate type: ${Object.keys(PREDICATE_TYPES).join(', ')}, or a predicate type URI; repeatable`).argParser(repeatable))
    .action(async (reference: string, flags: VerifyFlags) => {
      const where = 'pith verify';
      const verifier = verifierFlag(flags.key, '--key', flags, where, true)!;
      const attestations = (flags.attestation ?? []).map((t) => PREDICATE_TYPES[t] ?? (/^[a-z][a-z0-9+.-]*:/i.test(t) ? t : usage(`${where}: --attestation expected ${Object.keys(PREDICATE_TYPES).join(', ')} or a predicate type URI, found "${t}"`)));
      const r = await verify(registryReference(reference, `the <reference> of ${where}`), verifier, { ...registryOptions(flags), lookaside: flags.lookaside, ...(flags.lock !== undefined ? { lock: flags.lock } : {}), ...(attestations.length ? { attestations } : {}) });
      print(flags, r, () => {
        const by = r.keyless ? ` by ${r.keyless.verified.map((v) => `${v.identity} (${v.issuer})`).join(', ')}` : '';
        const attested = r.attestations ? `; attested: ${[...new Set(r.attestations.verified.map((v) => v.predicateType))].join(', ')}` : '';
        const lock = r.attestations?.lock ? `; built from ${r.attestations.lock.path}` : '';
        return `verified ${r.reference.replace(/@sha256:[0-9a-f]+$/, '')}@${r.digest} (${r.format}${by})${attested}${lock}\n`;
      });
    });
}

function usage(message: string): never {
  throw new PithError('USAGE', message);
}
