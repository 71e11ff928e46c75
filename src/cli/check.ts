import { Command, Option } from 'commander';
import { check, parseImagePin, rollout, update, where, type FleetCheck, type ImageUpdate, type RolloutResult } from '../index.ts';
import { cacheOption, jsonOption, megabytes, offlineOption, sourceOption, sourcesFromFlags, wantsProgress, type ArchiveFlags } from './common.ts';
import { insecureOption, registryOptions, type RegistryFlags } from './registry.ts';
import { progressReporter } from './progress.ts';
import { EXIT_FINDINGS } from './exit.ts';

interface CheckFlags extends ArchiveFlags {
  advisories?: string[];
  failOn?: 'security' | 'any';
  changelogs?: boolean;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('refresh the verified archive and report, per image, newer packages (security ones marked, explained from their changelogs) and the advisories affecting what is installed')
    .argument('[paths...]', 'specs (pith.yaml) or directories searched for them (default .)')
    .addOption(
      new Option('--advisories <src>', 'OSV records (a JSON file, a directory or a zip; ecosystem Debian:N) or Debian Security Tracker JSON, as a path or an http(s) URL (cached, re-fetched conditionally); repeatable')
        .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .addOption(new Option('--fail-on <what>', `exit ${EXIT_FINDINGS} when met: security (a security update, or an advisory's fix, is available) or any (anything to do)`).choices(['security', 'any']))
    .option('--no-changelogs', 'do not download the new packages to read their changelogs')
    .addOption(sourceOption())
    .addOption(cacheOption())
    .addOption(offlineOption())
    .addOption(jsonOption())
    .action(async (paths: string[], flags: CheckFlags) => {
      const progress = progressReporter(wantsProgress(flags));
      let report: FleetCheck;
      try {
        report = await check(paths, { advisories: flags.advisories, changelogs: flags.changelogs, sources: sourcesFromFlags(flags), cacheDir: flags.cache, offline: flags.offline, onEvent: progress.onEvent });
      } finally {
        progress.stop();
      }
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

export function whereCommand(): Command {
  return new Command('where')
    .description('which images of a fleet contain a package (binary or source name), at a version if given — read from their locks')
    .argument('<package>', 'PKG or PKG@VERSION')
    .argument('[dir]', 'a spec or a directory of specs (default .)')
    .addOption(jsonOption())
    .action((query: string, dir: string | undefined, flags: { json?: boolean }) => {
      const hits = where(query, dir ? [dir] : []);
      if (flags.json) process.stdout.write(JSON.stringify(hits, null, 2) + '\n');
      else process.stdout.write(hits.length === 0 ? `no image contains ${query}\n` : hits.map((h) => `${h.name}\t${h.architecture}\t${h.package} ${h.version}\t(source ${h.source} ${h.sourceVersion})\t${h.spec}`).join('\n') + '\n');
    });
}

interface UpdateFlags extends ArchiveFlags, RegistryFlags {
  only?: 'security';
  parallel?: string;
  rollout?: string[];
  push?: string[];
  advisories?: string[];
}

export function updateCommand(): Command {
  return new Command('update')
    .description('minimal-bump re-lock (only packages with a newer candidate, and what their new dependencies need), reproducible rebuild, the spec\'s test: in the new image with runc, outputs and pushes; the new lock is written only once every step passed')
    .argument('[paths...]', 'specs (pith.yaml) or directories searched for them (default .)')
    .addOption(new Option('--only <what>', 'move only packages whose newer candidate comes from a security suite').choices(['security']))
    .addOption(new Option('--push <reference>', 'push the new image to this registry reference ({name} stands for the spec\'s name, for fleets); repeatable').argParser((v: string, p: string[] | undefined) => [...(p ?? []), v]))
    .addOption(new Option('--rollout <path>', 'then pin each pushed digest in the manifests under this path (as pith rollout --write); needs --push; repeatable').argParser((v: string, p: string[] | undefined) => [...(p ?? []), v]))
    .addOption(new Option('--advisories <src>', 'advisory sources, as for pith check (for the CVEs fixed); repeatable').argParser((v: string, p: string[] | undefined) => [...(p ?? []), v]))
    .addOption(new Option('--parallel <n>', 'specs updated at once (default 2)'))
    .addOption(insecureOption())
    .addOption(sourceOption())
    .addOption(cacheOption())
    .addOption(offlineOption())
    .addOption(jsonOption())
    .action(async (paths: string[], flags: UpdateFlags) => {
      const progress = progressReporter(wantsProgress(flags));
      let results: ImageUpdate[];
      try {
        results = await update(paths, { jobs: flags.parallel ? Number(flags.parallel) : undefined, only: flags.only, push: flags.push, rollout: flags.rollout, advisories: flags.advisories, registry: registryOptions(flags), sources: sourcesFromFlags(flags), cacheDir: flags.cache, offline: flags.offline, onEvent: progress.onEvent });
      } finally {
        progress.stop();
      }
      if (flags.json) {
        process.stdout.write(JSON.stringify(results.map(({ diff: _diff, ...r }) => r), null, 2) + '\n');
        return;
      }
      const out: string[] = [];
      for (const r of results) {
        if (!r.updated) {
          out.push(`${r.name}: nothing to update`);
          continue;
        }
        out.push(`${r.name}: ${r.oldDigest} -> ${r.newDigest}`);
        for (const c of r.changes) out.push(`  ${c.architecture} ${c.name} ${c.from ?? '(new)'} -> ${c.to ?? '(removed)'}`);
        out.push(`  CVEs fixed: ${r.cvesFixed.length ? r.cvesFixed.join(' ') : 'none known'}`);
        out.push(`  layers changed: ${r.layersChanged}; a node running the old image pulls ${megabytes(r.pullBytes ?? 0)}`);
        out.push(`  smoke test: ${r.smokeTest?.skipped ?? (r.smokeTest?.passed ? 'passed' : r.smokeTest?.reason)}`);
        for (const o of [...r.outputs, ...r.pushed]) out.push(`  wrote ${o}`);
        for (const e of r.rollout?.edits ?? []) out.push(`  pinned ${e.to} in ${e.file} (${e.where})`);
        out.push(`  wrote ${r.lock}`);
      }
      process.stdout.write(out.join('\n') + '\n');
    });
}

export function rolloutCommand(): Command {
  return new Command('rollout')
    .description('pin a new image digest where it is deployed: Kubernetes workloads, compose files, Helm values, Kustomize images:, Dockerfile FROM; a dry run showing the diff unless --write')
    .requiredOption('--image <NAME=REF@sha256:…>', 'the image as manifests name it, and the reference to pin; repeatable', (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .argument('[paths...]', 'files or directories to search (default .)')
    .option('--write', 'apply the changes (each file replaced atomically)')
    .addOption(jsonOption())
    .action(async (paths: string[], flags: { image: string[]; write?: boolean; json?: boolean }) => {
      const result = await rollout(flags.image.map(parseImagePin), paths, { write: flags.write });
      if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(renderRollout(result, flags.write));
    });
}

function renderRollout(result: RolloutResult, write?: boolean): string {
  const out: string[] = [];
  for (const e of result.errors) process.stderr.write(`warning: ${e.file}: ${e.message} (not rewritten)\n`);
  for (const d of result.diffs) out.push(d.diff.trimEnd());
  out.push(result.edits.length === 0 ? 'no references to rewrite' : `${result.edits.length} reference(s) in ${result.diffs.length} file(s) ${write ? 'rewritten' : 'would be rewritten (dry run; --write applies)'}`);
  return out.join('\n') + '\n';
}
