import { Command, CommanderError } from 'commander';
import { isPithError } from '../errors.ts';
import { EXIT_ERROR, EXIT_HELP, EXIT_OK, EXIT_USAGE } from './exit.ts';
import { buildCommand } from './build.ts';
import { initCommand } from './init.ts';
import { lockCommand } from './lock.ts';
import { resolveCommand } from './resolve.ts';
import { pushCommand } from './push.ts';
import { pullCommand } from './pull.ts';
import { copyCommand } from './copy.ts';
import { loginCommand, logoutCommand } from './login.ts';
import { sbomCommand } from './sbom.ts';
import { inspectCommand } from './inspect.ts';
import { diffCommand } from './diff.ts';
import { checkCommand } from './check.ts';
import { whereCommand } from './where.ts';
import { updateCommand } from './update.ts';
import { rolloutCommand } from './rollout.ts';

export function program(): Command {
  const prog = new Command('pith')
    .description('Minimal, reproducible OCI images straight from the Debian archive')
    .version('0.1.0')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .showSuggestionAfterError();
  for (const cmd of [initCommand(), resolveCommand(), lockCommand(), buildCommand(), pushCommand(), pullCommand(), copyCommand(), loginCommand(), logoutCommand(), sbomCommand(), inspectCommand(), diffCommand(), checkCommand(), whereCommand(), updateCommand(), rolloutCommand()]) {
    prog.addCommand(cmd.exitOverride().addHelpText('after', EXIT_HELP));
  }
  return prog;
}

/** Runs the CLI; returns the exit status. User errors print their message without a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT_OK : EXIT_USAGE;
    }
    if (isPithError(e)) {
      process.stderr.write(`pith: ${e.message}\n`);
      return EXIT_ERROR;
    }
    process.stderr.write(`pith: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT_ERROR;
  }
}
