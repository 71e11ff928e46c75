import { Command } from 'commander';
import { diff } from '../inspect/diff.ts';
import { IMAGE_ARGUMENT, jsonOption, megabytes, platformOption } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

interface DiffFlags extends RegistryFlags {
  json?: boolean;
  platform?: string;
}

export function diffCommand(): Command {
  return new Command('diff')
    .description('what changed from image A to image B, per platform: packages, files (by content), layers, and the bytes a node that has A must pull to run B')
    .argument('<a>', `the image a node already has: ${IMAGE_ARGUMENT}`)
    .argument('<b>', 'the image it will run')
    .addOption(platformOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption())
    .action(async (a: string, b: string, flags: DiffFlags) => {
      const result = await diff(a, b, { platform: flags.platform, registry: registryOptions(flags) });
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const out: string[] = [];
      for (const p of result.platforms) {
        const k = p.packages;
        out.push(`${p.platform}: ${p.a} -> ${p.b}`);
        out.push(`  packages: ${k.added.length} added, ${k.removed.length} removed, ${k.changed.length} changed`);
        for (const x of k.added) out.push(`    + ${x.name} ${x.version}`);
        for (const x of k.removed) out.push(`    - ${x.name} ${x.version}`);
        for (const x of k.changed) out.push(`    ~ ${x.name} ${x.from} -> ${x.to}${x.direction === 'downgrade' ? ' (downgrade)' : ''}`);
        out.push(`  files: ${p.files.added.length} added, ${p.files.removed.length} removed, ${p.files.changed.length} changed`);
        out.push(`  layers: ${p.layers.shared.length} shared, ${p.layers.new.length} new, ${p.layers.gone.length} no longer used`);
        out.push(`  to run B, a node with A pulls ${megabytes(p.pull.bytes)} (${p.pull.layers} layers ${megabytes(p.pull.layerBytes)}, config ${p.pull.configBytes} B, manifest ${p.pull.manifestBytes} B)`);
      }
      for (const p of result.onlyInA) out.push(`${p}: only in A`);
      for (const p of result.onlyInB) out.push(`${p}: only in B`);
      process.stdout.write(out.join('\n') + '\n');
    });
}
