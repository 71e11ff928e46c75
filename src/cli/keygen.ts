import { Command } from 'commander';
import { writeKeyPair } from '../trust/keys.ts';
import { jsonOption } from './common.ts';

export function keygenCommand(): Command {
  return new Command('keygen')
    .description('write a new ECDSA P-256 signing key pair: PREFIX.key (PKCS#8 PEM, mode 0600; encrypted when PITH_KEY_PASSWORD is set) and PREFIX.pub (SPKI PEM); never overwrites')
    .argument('<prefix>', 'path prefix of the two files, e.g. keys/release')
    .addOption(jsonOption())
    .action(async (prefix: string, flags: { json?: boolean }) => {
      const r = await writeKeyPair(prefix);
      if (flags.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else process.stdout.write(`wrote ${r.privateKeyFile} (${r.encrypted ? 'encrypted with PITH_KEY_PASSWORD' : 'not encrypted: set PITH_KEY_PASSWORD to encrypt it'}) and ${r.publicKeyFile}\n`);
    });
}
