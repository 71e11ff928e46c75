import { Option } from 'commander';
import type { PushSummary, RegistryOptions } from '../index.ts';
import { integer, repeatable } from './common.ts';

export interface RegistryFlags {
  insecure?: string[];
  registriesConf?: string;
  jobs?: number;
  json?: boolean;
}

export const insecureOption = () =>
  new Option('--insecure <registry>', 'allow plain HTTP to this registry (host[:port]); loopback registries always may; repeatable')
    .argParser(repeatable);

export const registriesConfOption = () =>
  new Option('--registries-conf <file>', 'read this registries.conf instead of $CONTAINERS_REGISTRIES_CONF or the default (containers-registries.conf(5)), as skopeo does');

export const jobsOption = () => new Option('--jobs <n>', 'blobs transferred in parallel (default 4)').argParser(integer('--jobs'));

/** Registry options from the flags; retries are reported on stderr, since they explain a slow run. */
export function registryOptions(flags: RegistryFlags): RegistryOptions {
  return {
    insecure: flags.insecure ?? [],
    ...(flags.registriesConf === undefined ? {} : { registriesConfFile: flags.registriesConf }),
    ...(flags.jobs === undefined ? {} : { jobs: flags.jobs }),
    onRetry: (e) => process.stderr.write(`pith: ${e.what}: ${e.reason}; ${e.next ? `trying ${e.next}` : `retrying in ${(e.delayMs / 1000).toFixed(1)} s`}\n`),
  };
}

export function describePush(p: PushSummary): string {
  const mb = (p.bytesSent / 1e6).toFixed(1);
  return `pushed ${p.reference}${p.location ? ` to ${p.location}` : ''}: ${p.blobs.uploaded} blobs uploaded (${mb} MB sent), ${p.blobs.skipped} already there, ${p.blobs.mounted} mounted; ${p.manifests.pushed} manifests written`;
}
