import { Command } from 'commander';
import { where } from '../orchestrate/where.ts';
import { jsonOption } from './common.ts';

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
