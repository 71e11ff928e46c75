import { Command } from 'commander';
import { initSpec } from '../config/init.ts';

export function initCommand(): Command {
  return new Command('init')
    .description('write a commented starter pith.yaml into DIR (default: the current directory); never overwrites')
    .argument('[dir]', 'directory for pith.yaml', '.')
    .action(async (dir: string) => {
      process.stdout.write(`wrote ${await initSpec(dir)}\n`);
    });
}
