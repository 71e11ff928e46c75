import { Command } from 'commander';
import { inspect } from '../inspect/inspect.ts';
import type { InspectedPlatform } from '../index.ts';
import { IMAGE_ARGUMENT, jsonOption, megabytes, platformOption } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

interface InspectFlags extends RegistryFlags {
  json?: boolean;
  files?: boolean;
  platform?: string;
}

export function inspectCommand(): Command {
  return new Command('inspect')
    .description('what an image is, per platform: config, layers and the packages in each, the package list, totals; with --files every path')
    .argument('<image>', IMAGE_ARGUMENT)
    .option('--files', 'list every path with its mode, owner, size and owning package')
    .addOption(platformOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .addOption(jsonOption())
    .action(async (image: string, flags: InspectFlags) => {
      const result = await inspect(image, { files: flags.files, platform: flags.platform, registry: registryOptions(flags) });
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const out: string[] = [`${result.location} ${result.digest}${result.platforms.length > 1 ? ` (index of ${result.platforms.length} platforms)` : ''}`];
      for (const p of result.platforms) out.push(...platformText(p));
      process.stdout.write(out.join('\n') + '\n');
    });
}

function platformText(p: InspectedPlatform): string[] {
  const c = p.config;
  const out = [
    '',
    `${p.platform} ${p.digest}`,
    `  created ${p.created}; os ${p.os.id ?? 'unknown'} ${p.os.versionId ?? ''}${p.os.debianVersion ? ` (debian_version ${p.os.debianVersion})` : ''}`,
    `  user ${c.user ?? '(root)'}; entrypoint ${JSON.stringify(c.entrypoint ?? [])}; cmd ${JSON.stringify(c.cmd ?? [])}${c.workingDir ? `; workdir ${c.workingDir}` : ''}${c.exposedPorts.length ? `; ports ${c.exposedPorts.join(' ')}` : ''}`,
    ...c.env.map((e) => `  env ${e}`),
    `  ${p.totals.layers} layers, ${megabytes(p.totals.compressedBytes)} compressed, ${megabytes(p.totals.uncompressedBytes)} uncompressed; ${p.totals.packages} packages; ${p.totals.files} paths`,
  ];
  for (const l of p.layers) out.push(`    ${l.digest.slice(0, 19)}  ${megabytes(l.size).padStart(9)}  ${megabytes(l.uncompressedSize).padStart(9)}  ${l.createdBy ?? ''}${l.packages.length && !l.createdBy?.includes(l.packages[0]!) ? ` [${l.packages.join(' ')}]` : ''}`);
  out.push('  packages:');
  for (const pkg of p.packages) out.push(`    ${pkg.name} ${pkg.version} ${pkg.architecture}${pkg.source !== pkg.name || pkg.sourceVersion !== pkg.version ? ` (source ${pkg.source} ${pkg.sourceVersion})` : ''}`);
  if (p.files) {
    out.push('  files:');
    for (const f of p.files) out.push(`    ${f.type.padEnd(8)} ${f.mode} ${`${f.uid}:${f.gid}`.padEnd(11)} ${String(f.size).padStart(9)}  ${f.path}${f.target ? ` -> ${f.target}` : ''}  ${f.package ?? '-'}`);
  }
  return out;
}
