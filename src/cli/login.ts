import { Command, Option } from 'commander';
import { PithError } from '../errors.ts';
import { login, logout } from '../registry/login.ts';
import { jsonOption } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function loginCommand(): Command {
  return new Command('login')
    .description("check credentials against a registry and save them where docker does ($DOCKER_CONFIG/config.json or ~/.docker/config.json, or its credential helper)")
    .argument('<registry>', 'host[:port]')
    .requiredOption('-u, --username <user>', 'user name')
    .addOption(new Option('-p, --password <password>', 'password (visible to other users of the machine; prefer --password-stdin)'))
    .addOption(new Option('--password-stdin', 'read the password from standard input'))
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption())
    .action(async (registry: string, flags: RegistryFlags & { username: string; password?: string; passwordStdin?: boolean }) => {
      if ((flags.password === undefined) === !flags.passwordStdin) {
        throw new PithError('USAGE', 'expected the password from exactly one of --password-stdin and --password, found ' + (flags.passwordStdin ? 'both' : 'neither'));
      }
      const password = flags.passwordStdin ? await readStdin() : flags.password!;
      const result = await login(registry, { username: flags.username, password }, registryOptions(flags));
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      process.stdout.write(`logged in to ${registry}: ${result.identityToken ? 'identity token' : 'credentials'} saved ${result.helper ? `by docker-credential-${result.helper}` : `in ${result.file}`}\n`);
    });
}

export function logoutCommand(): Command {
  return new Command('logout')
    .description('remove the credentials saved for a registry')
    .argument('<registry>', 'host[:port]')
    .addOption(jsonOption())
    .action(async (registry: string, flags: { json?: boolean }) => {
      const result = await logout(registry);
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      process.stdout.write(result.removed ? `removed the credentials for ${registry}\n` : `no credentials were saved for ${registry}\n`);
    });
}
