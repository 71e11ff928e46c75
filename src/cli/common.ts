import { Option } from 'commander';
import { parseSourceLine, type SourceEntry } from '../debian/sources.ts';

export interface ArchiveFlags {
  source?: string[];
  cache?: string;
  offline?: boolean;
  json?: boolean;
}

/** For options given more than once: every value, in order. */
export const repeatable = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export const sourceOption = () =>
  new Option('--source <line>', "an archive source as a one-line apt entry, e.g. 'deb [signed-by=KEYRING] URI SUITE COMPONENT…'; repeatable; replaces the spec's and the machine's sources")
    .argParser(repeatable);

export const cacheOption = () => new Option('--cache <dir>', 'cache directory (default $XDG_CACHE_HOME/pith or ~/.cache/pith)');
export const offlineOption = () => new Option('--offline', 'use only the cache; fail naming what is missing');
export const jsonOption = () => new Option('--json', 'print machine-readable JSON on stdout');

export function sourcesFromFlags(flags: ArchiveFlags): SourceEntry[] | undefined {
  if (!flags.source || flags.source.length === 0) return undefined;
  const onWarning = (message: string) => process.stderr.write(`warning: ${message}\n`);
  return flags.source.map((line, i) => parseSourceLine(line, `--source #${i + 1}`, { onWarning }));
}

export function wantsProgress(flags: ArchiveFlags): boolean {
  return Boolean(process.stderr.isTTY) && !flags.json;
}

export const platformOption = () => new Option('--platform <os/arch[/variant]>', 'only this platform of an image index, e.g. linux/arm64');

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e5 ? 3 : 1)} MB`;
}
