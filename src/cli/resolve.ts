import { Command, Option } from 'commander';
import { resolvePackages } from '../orchestrate/resolve.ts';
import { addArchiveOptions, archiveOptions, formatTable, repeatable, withProgress, type ArchiveFlags } from './common.ts';

interface ResolveFlags extends ArchiveFlags {
  arch?: string;
  exclude?: string[];
  keyring?: string;
}

export function resolveCommand(): Command {
  const command = new Command('resolve')
    .description("resolve packages to the exact installation set apt would choose on an empty system (recommends off, no implicit Essential), each with the reason it is there")
    .argument('<packages...>', 'package names: NAME, NAME=VERSION, NAME:ARCH')
    .option('--arch <arch>', 'target architecture (default: this machine\'s)')
    .addOption(new Option('--exclude <pkg>', 'drop a package and what only it pulled in; repeatable').argParser(repeatable))
    .option('--keyring <file>', 'keyring for sources without Signed-By (default the Debian archive keyring)');
  return addArchiveOptions(command).action(async (packages: string[], flags: ResolveFlags) => {
    const resolution = await withProgress(flags, (onEvent) =>
      resolvePackages(packages, {
        ...archiveOptions(flags, onEvent),
        architecture: flags.arch,
        keyring: flags.keyring,
        exclude: (flags.exclude ?? []).map((name) => ({ name, reason: 'excluded with --exclude' })),
      }),
    );
    for (const ex of resolution.exclusions) {
      if (ex.requiredBy.length > 0) process.stderr.write(`warning: excluded ${ex.name}, which ${ex.requiredBy.join(', ')} depend(s) on\n`);
    }
    const rows = resolution.packages.map(({ package: _record, ...row }) => row);
    if (flags.json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return;
    }
    const table = [['PACKAGE', 'VERSION', 'ARCH', 'SOURCE', 'WHY'], ...rows.map((r) => [r.name, r.version, r.architecture, r.source === r.name ? '' : r.source, r.reason.join(' → ')])];
    process.stdout.write(formatTable(table));
    const total = rows.reduce((n, r) => n + r.size, 0);
    process.stdout.write(`${rows.length} packages, ${(total / 1e6).toFixed(1)} MB of .debs\n`);
  });
}
