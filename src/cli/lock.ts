import { Command } from 'commander';
import { checkLock, lock } from '../orchestrate/lock.ts';
import { addArchiveOptions, snapshotOption, archiveOptions, withProgress, type ArchiveFlags } from './common.ts';
import { EXIT_DRIFT } from './exit.ts';

interface LockFlags extends ArchiveFlags {
  check?: boolean;
}

export function lockCommand(): Command {
  const command = new Command('lock')
    .description('resolve a spec against the verified archive and write its lock beside it (atomically; pith.yaml → pith.lock, two.yaml → two.lock); --check reports drift and writes nothing')
    .argument('<spec>', 'a pith.yaml, or a directory holding one')
    .option('--check', `write nothing; report a changed spec, locked versions no longer served and newer candidates (exit ${EXIT_DRIFT} when there is drift)`);
  return addArchiveOptions(command.addOption(snapshotOption())).action(async (spec: string, flags: LockFlags) => {
    if (flags.check) {
      const report = await withProgress(flags, (onEvent) => checkLock(spec, archiveOptions(flags, onEvent)));
      if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else {
        for (const c of report.specChanges) process.stdout.write(`spec changed: ${c}\n`);
        for (const d of report.drift) process.stdout.write(`${d.architecture} ${d.kind}: ${d.detail}\n`);
        process.stdout.write(report.clean ? `${report.path}: up to date\n` : `${report.path}: ${report.specChanges.length} spec change(s), ${report.drift.length} package drift(s)\n`);
      }
      if (!report.clean) process.exitCode = EXIT_DRIFT;
      return;
    }
    const result = await withProgress(flags, (onEvent) => lock(spec, archiveOptions(flags, onEvent)));
    const named = new Set(result.lock.spec.inputs.exclude.map((e) => e.name));
    for (const res of result.resolutions) {
      for (const ex of res.exclusions) {
        if (named.has(ex.name) && ex.requiredBy.length > 0) process.stderr.write(`warning: ${res.architecture}: excluded ${ex.name}, which ${ex.requiredBy.join(', ')} depend(s) on\n`);
      }
    }
    if (flags.json) {
      process.stdout.write(JSON.stringify({ path: result.path, spec: result.lock.spec.digest, sources: result.lock.sources, architectures: Object.fromEntries(Object.entries(result.lock.architectures).map(([a, v]) => [a, { packages: v.packages.length, excluded: v.excluded.map((e) => e.name), libraries: v.libraries }])) }, null, 2) + '\n');
    } else {
      for (const [arch, v] of Object.entries(result.lock.architectures)) {
        const bytes = v.packages.reduce((n, p) => n + p.size, 0);
        process.stdout.write(`${arch}: ${v.packages.length} packages (${(bytes / 1e6).toFixed(1)} MB)${v.excluded.length ? `, excluded ${v.excluded.map((e) => e.name).join(', ')}` : ''}\n`);
        const added = [...new Set((v.libraries?.provides ?? []).filter((p) => p.added).map((p) => p.package))].sort();
        if (added.length) process.stdout.write(`${arch}: added ${added.join(', ')} for the shared libraries of ${v.libraries!.needs.map((n) => n.file).join(', ')}\n`);
      }
      process.stdout.write(`wrote ${result.path}\n`);
    }
  });
}
