/**
 * The maintainer-script layer over the shell evaluator: reads a script as dpkg would run it on a first
 * installation (its arguments, the DPKG_* variables dpkg exports) and answers the dpkg commands scripts ask to
 * decide what to do, so that a postinst's branches for upgrades and foreign architectures are decided rather than
 * left unknown.
 */
import { compareVersions } from '../debian/version.ts';
import { evaluateScript, type CommandResult, type CommandRun, type ScriptEvaluation, type ShellEnvironment } from './interpreter.ts';

export interface MaintainerScriptOptions {
  package: string;
  /** The package's architecture (`all` included): DPKG_MAINTSCRIPT_ARCH. */
  architecture: string;
  /** The image's architecture: what `dpkg --print-architecture` prints. */
  nativeArchitecture: string;
  script: 'preinst' | 'postinst' | 'prerm' | 'postrm';
  test: ShellEnvironment['test'];
  commands?: ShellEnvironment['commands'];
}

/** Subcommands of dpkg-maintscript-helper, all of which act only when upgrading from an older version. */
const UPGRADE_ONLY_HELPERS = new Set(['rm_conffile', 'mv_conffile', 'symlink_to_dir', 'dir_to_symlink']);

/**
 * A first installation's `postinst configure ""` (or the given script), as dpkg runs it: its arguments, the
 * variables dpkg sets, and the dpkg commands scripts use to decide what to do (`dpkg --compare-versions`,
 * `dpkg --print-architecture`, `dpkg-maintscript-helper`).
 */
export function evaluateMaintainerScript(text: string, options: MaintainerScriptOptions): ScriptEvaluation {
  const args = options.script === 'postinst' ? ['configure', ''] : options.script === 'preinst' ? ['install'] : ['remove'];
  const dpkg = (run: CommandRun): CommandResult | undefined => {
    const a = run.args;
    if (a === null) return undefined;
    if (a[0] === '--print-architecture' && a.length === 1) return { status: 0, stdout: options.nativeArchitecture + '\n' };
    if (a[0] === '--compare-versions' && a.length === 4) {
      const r = compareDpkgVersions(a[1]!, a[2]!, a[3]!);
      return r === undefined ? undefined : { status: r ? 0 : 1, stdout: '' };
    }
    return undefined;
  };
  const helper = (run: CommandRun): CommandResult | undefined => (run.args && UPGRADE_ONLY_HELPERS.has(run.args[0]!) ? { status: 0, stdout: '' } : undefined);
  return evaluateScript(text, {
    args,
    arg0: `/var/lib/dpkg/info/${options.package}.${options.script}`,
    vars: {
      DPKG_MAINTSCRIPT_PACKAGE: options.package,
      DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT: '1',
      DPKG_MAINTSCRIPT_ARCH: options.architecture,
      DPKG_MAINTSCRIPT_NAME: options.script,
      DPKG_MAINTSCRIPT_DEBUG: '0',
      DPKG_ROOT: '',
      DPKG_ADMINDIR: '/var/lib/dpkg',
    },
    test: options.test,
    commands: { dpkg, 'dpkg-maintscript-helper': helper, ...options.commands },
  });
}

/** `dpkg --compare-versions A OP B`, where an empty version is earlier than any other (later with the `-nl` operators). */
export function compareDpkgVersions(a: string, op: string, b: string): boolean | undefined {
  const ops: Record<string, (c: number) => boolean> = {
    lt: (c) => c < 0, le: (c) => c <= 0, eq: (c) => c === 0, ne: (c) => c !== 0, ge: (c) => c >= 0, gt: (c) => c > 0,
    '<<': (c) => c < 0, '<=': (c) => c <= 0, '=': (c) => c === 0, '>=': (c) => c >= 0, '>>': (c) => c > 0, '<': (c) => c <= 0, '>': (c) => c >= 0,
  };
  const nl = op.endsWith('-nl');
  const test = ops[nl ? op.slice(0, -3) : op];
  if (test === undefined || (nl && !['lt', 'le', 'ge', 'gt'].includes(op.slice(0, -3)))) return undefined;
  let c: number;
  if (a === '' || b === '') {
    const empty = nl ? 1 : -1;
    c = a === b ? 0 : a === '' ? empty : -empty;
  } else {
    try {
      c = compareVersions(a, b);
    } catch {
      return undefined;
    }
  }
  return test(c);
}
