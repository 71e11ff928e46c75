import { Command, CommanderError } from 'commander';
import { isPithError } from '../errors.ts';
import { EXIT_ERROR, EXIT_HELP, EXIT_OK, EXIT_USAGE } from './exit.ts';

/**
 * Each command's module, loaded only when that command runs: `pith push` then parses the registry client and not
 * the build pipeline, which is most of a start-up's time. `--version` loads none; help, typos and options before
 * the command load all.
 */
const COMMANDS: Array<[names: readonly string[], load: () => Promise<Command[]>]> = [
  [['init'], async () => [(await import('./init.ts')).initCommand()]],
  [['resolve'], async () => [(await import('./resolve.ts')).resolveCommand()]],
  [['lock'], async () => [(await import('./lock.ts')).lockCommand()]],
  [['build'], async () => [(await import('./build.ts')).buildCommand()]],
  [['push'], async () => [(await import('./push.ts')).pushCommand()]],
  [['pull'], async () => [(await import('./pull.ts')).pullCommand()]],
  [['copy'], async () => [(await import('./copy.ts')).copyCommand()]],
  [['login', 'logout'], async () => {
    const { loginCommand, logoutCommand } = await import('./login.ts');
    return [loginCommand(), logoutCommand()];
  }],
  [['sbom'], async () => [(await import('./sbom.ts')).sbomCommand()]],
  [['inspect'], async () => [(await import('./inspect.ts')).inspectCommand()]],
  [['diff'], async () => [(await import('./diff.ts')).diffCommand()]],
  [['run', 'ps', 'stop', 'logs'], async () => {
    const { runCommand, psCommand, stopCommand, logsCommand } = await import('./run.ts');
    return [runCommand(), psCommand(), stopCommand(), logsCommand()];
  }],
  [['debug'], async () => [(await import('./debug.ts')).debugCommand()]],
  [['check'], async () => [(await import('./check.ts')).checkCommand()]],
  [['where'], async () => [(await import('./where.ts')).whereCommand()]],
  [['update'], async () => [(await import('./update.ts')).updateCommand()]],
  [['rollout'], async () => [(await import('./rollout.ts')).rolloutCommand()]],
];

/** The CLI, with the commands `argv` may run (all of them unless it names one). */
export async function program(argv: readonly string[] = []): Promise<Command> {
  const prog = new Command('pith')
    .description('Minimal, reproducible OCI images straight from the Debian archive')
    .version('0.1.0')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .showSuggestionAfterError();
  const first = argv[2] ?? '';
  const named = COMMANDS.find(([names]) => names.includes(first));
  for (const [, load] of named ? [named] : first === '--version' || first === '-V' ? [] : COMMANDS) {
    for (const cmd of await load()) prog.addCommand(cmd.exitOverride().addHelpText('after', EXIT_HELP));
  }
  return prog;
}

/** Runs the CLI; returns the exit status. User errors print their message without a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await (await program(argv)).parseAsync(argv);
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
