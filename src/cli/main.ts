import { Command, CommanderError } from 'commander';
import { exitStatusOf, isPithError, type ErrorCode } from '../errors.ts';
import { EXIT_HELP, EXIT_OK } from './exit.ts';
import { PITH_VERSION } from '../version.ts';

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
  [['plan'], async () => [(await import('./plan.ts')).planCommand()]],
  [['serve'], async () => [(await import('./serve.ts')).serveCommand()]],
  [['keygen'], async () => [(await import('./keygen.ts')).keygenCommand()]],
  [['sign', 'verify'], async () => {
    const { signCommand, verifyCommand } = await import('./sign.ts');
    return [signCommand(), verifyCommand()];
  }],
];

/** The CLI, with the commands `argv` may run (all of them unless it names one). */
export async function program(argv: readonly string[] = []): Promise<Command> {
  const prog = new Command('pith')
    .description('Minimal, reproducible OCI images straight from the Debian archive')
    .version(PITH_VERSION)
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

/**
 * `--json` anywhere before `--` asks for machine output, failures included: what follows `--` is a container's or
 * tool's arguments, and a failure can happen before commander has parsed the options (or because it could not).
 */
function wantsJson(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/**
 * A failure as JSON on stdout, so that a script reading `--json` output gets an object either way:
 * `{"error": {"code", "message", "exit", "details"?}}`, `details` being the error's structured details when it has
 * any that JSON can carry.
 */
function printJsonError(code: ErrorCode, message: string, details?: Record<string, unknown>): void {
  const error = { code, message, exit: exitStatusOf(code) };
  let text: string;
  try {
    text = JSON.stringify({ error: details === undefined ? error : { ...error, details } }, detailValue, 2);
  } catch {
    // Details that JSON cannot carry (a cycle) must not hide the error itself.
    text = JSON.stringify({ error }, null, 2);
  }
  process.stdout.write(`${text}\n`);
}

function detailValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

let pipesWatched = false;

/**
 * A reader that stops reading (`pith sbom … | head -c 100`) is not a failure of pith: the command ends at once,
 * quietly and with status 0, as other CLIs do, instead of an unhandled EPIPE. Any other stream error is still a bug.
 */
function endQuietlyOnClosedPipe(): void {
  if (pipesWatched) return;
  pipesWatched = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(EXIT_OK);
      throw e;
    });
  }
}

/**
 * Runs the CLI; returns the exit status. A PithError prints `pith: CODE: message` without a stack trace and exits
 * with its code's status in the catalogue; anything else is a bug and shows its stack.
 */
export async function main(argv: string[]): Promise<number> {
  endQuietlyOnClosedPipe();
  const json = wantsJson(argv);
  try {
    await (await program(argv)).parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT_OK;
      // commander has already printed the message on stderr.
      if (json) printJsonError('USAGE', e.message.replace(/^error: /, ''));
      return exitStatusOf('USAGE');
    }
    if (isPithError(e)) {
      process.stderr.write(`pith: ${e.code}: ${e.message}\n`);
      if (json) printJsonError(e.code, e.message, e.details);
      return exitStatusOf(e.code);
    }
    process.stderr.write(`pith: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    if (json) printJsonError('INTERNAL', e instanceof Error ? e.message : String(e));
    return exitStatusOf('INTERNAL');
  }
}
