import { Command, Option } from 'commander';
import { check } from '../orchestrate/check.ts';
import type { FleetCheck } from '../index.ts';
import { addArchiveOptions, addShardOptions, advisoriesOption, archiveOptions, shardFlag, withProgress, type ArchiveFlags } from './common.ts';
import { EXIT_FINDINGS } from './exit.ts';

interface CheckFlags extends ArchiveFlags {
  advisories?: string[];
  failOn?: 'security' | 'any';
  changelogs?: boolean;
  shard?: string;
  shardFromZero?: string;
}

export function checkCommand(): Command {
  const command = new Command('check')
    .description('refresh the verified archive and report, per image, newer packages (security ones marked, explained from their changelogs) and the advisories affecting what is installed')
    .argument('[paths...]', 'specs (pith.yaml) or directories searched for them (default .)')
    .addOption(advisoriesOption('OSV records (a JSON file, a directory or a zip; ecosystem Debian:N) or Debian Security Tracker JSON, as a path or an http(s) URL (cached, re-fetched conditionally)'))
    .addOption(new Option('--fail-on <what>', `exit ${EXIT_FINDINGS} when met: security (a security update, or an advisory's fix, is available) or any (anything to do)`).choices(['security', 'any']))
    .option('--no-changelogs', 'do not download the new packages to read their changelogs');
  return addArchiveOptions(addShardOptions(command)).action(async (paths: string[], flags: CheckFlags) => {
    const report = await withProgress(flags, (onEvent) => check(paths, { ...archiveOptions(flags, onEvent), advisories: flags.advisories, changelogs: flags.changelogs, shard: shardFlag(flags) }));
    if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else process.stdout.write(renderCheck(report));
    if ((flags.failOn === 'security' && report.security) || (flags.failOn === 'any' && report.any)) process.exitCode = EXIT_FINDINGS;
  });
}

function renderCheck(report: FleetCheck): string {
  const out: string[] = [];
  for (const image of report.images) {
    out.push(`${image.name} (${image.spec}, ${image.release.ecosystem} ${image.release.codename})`);
    for (const c of image.specChanges) out.push(`  spec changed: ${c}`);
    for (const p of image.problems) out.push(`  problem: ${p}`);
    if (image.updates.length === 0 && image.findings.length === 0 && image.problems.length === 0 && image.specChanges.length === 0) out.push('  up to date, no known advisories');
    if (image.updates.length > 0) {
      out.push('  updates:');
      for (const u of image.updates) {
        const extra = [u.security ? 'security' : '', u.urgency ? `urgency ${u.urgency}` : '', u.cves.length ? u.cves.join(' ') : ''].filter(Boolean).join(', ');
        out.push(`    ${u.architecture} ${u.name} ${u.locked} -> ${u.candidate} (${u.suite})${extra ? ` [${extra}]` : ''}`);
        for (const e of u.changelog ?? []) out.push(`      ${e.source} (${e.version}) urgency=${e.urgency}: ${e.changes.filter((c) => c.startsWith('*')).join(' ') || e.changes[0] || ''}`);
        if (u.changelogMissing) out.push(`      (${u.changelogMissing})`);
      }
    }
    if (image.findings.length > 0) {
      out.push('  advisories:');
      out.push(`    ${['id', 'package', 'source', 'installed', 'fixed', 'fix available', 'severity', 'from'].join('\t')}`);
      for (const f of image.findings) {
        out.push(`    ${[f.id, `${f.package}/${f.architecture}`, `${f.source} ${f.sourceVersion}`, f.installed, f.fixed ?? '-', f.fixAvailable ? `yes: ${f.candidate} (${f.suite})` : 'no', f.severity ?? '-', f.feeds.join('+')].join('\t')}`);
      }
    }
  }
  const a = report.advisories;
  if (a.sources.length > 0) out.push(`advisories: ${a.records} records for these releases, ${a.unknownPackage} for packages no image contains (ignored), ${a.skipped} for other releases or not affecting them`);
  return out.join('\n') + '\n';
}
