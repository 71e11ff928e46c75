import { Command, Option } from 'commander';
import { hostArchitecture, loadAptSources, openArchive, resolve } from '../index.ts';
import { cacheOption, jsonOption, offlineOption, sourceOption, sourcesFromFlags, wantsProgress, type ArchiveFlags } from './common.ts';
import { progressReporter } from './progress.ts';

interface ResolveFlags extends ArchiveFlags {
  arch?: string;
  exclude?: string[];
  keyring?: string;
}

export function resolveCommand(): Command {
  return new Command('resolve')
    .description("resolve packages to the exact installation set apt would choose on an empty system (recommends off, no implicit Essential), each with the reason it is there")
    .argument('<packages...>', 'package names: NAME, NAME=VERSION, NAME:ARCH')
    .addOption(sourceOption())
    .option('--arch <arch>', 'target architecture (default: this machine\'s)')
    .addOption(
      new Option('--exclude <pkg>', 'drop a package and what only it pulled in; repeatable').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
    )
    .option('--keyring <file>', 'keyring for sources without Signed-By (default the Debian archive keyring)')
    .addOption(cacheOption())
    .addOption(offlineOption())
    .addOption(jsonOption())
    .action(async (packages: string[], flags: ResolveFlags) => {
      const architecture = flags.arch ?? hostArchitecture();
      const progress = progressReporter(wantsProgress(flags));
      let archive;
      try {
        archive = await openArchive({
          sources: sourcesFromFlags(flags) ?? loadAptSources({ onWarning: (message) => progress.onEvent({ kind: 'warning', message }) }),
          architectures: [architecture],
          cacheDir: flags.cache,
          offline: flags.offline,
          keyring: flags.keyring,
          onEvent: progress.onEvent,
        });
      } finally {
        progress.stop();
      }
      const resolution = resolve(archive.universe(architecture), packages, {
        architecture,
        exclude: (flags.exclude ?? []).map((name) => ({ name, reason: 'excluded with --exclude' })),
      });
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

export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n').join('');
}
