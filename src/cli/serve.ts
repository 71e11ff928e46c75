import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { loadServeConfig, parseServeConfig, SERVE_CONFIG_FILE } from '../serve/config.ts';
import { parseListen } from '../serve/auth.ts';
import { startServe } from '../serve/service.ts';
import { cacheOption, checkedBy, offlineOption } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

interface ServeFlags extends RegistryFlags {
  config?: string;
  listen?: string;
  database?: string;
  autoUpdate?: boolean;
  cache?: string;
  offline?: boolean;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('inventory the fleet (spec locks, registries, deployment manifests) every interval, check it against the archive and advisories, and serve the dashboard, the JSON API and /metrics')
    .option('--config <file>', `the pith serve config (default ./${SERVE_CONFIG_FILE}; without one, an empty fleet)`)
    .option('--listen <host:port>', 'where the HTTP server listens (default the config\'s listen:, else 127.0.0.1:8080); an address other than loopback needs PITH_SERVE_TOKEN', checkedBy((t) => parseListen(t)))
    .option('--database <dir|url>', 'the store: a directory (PGlite, embedded) or a postgres:// URL (default the config\'s database:, else $XDG_STATE_HOME/pith/serve)')
    .option('--auto-update', 'after each refresh, pith update --only security each spec whose image has a fix available, pushing the new image to the tags the old one was found at (manifests are left to your rollout)')
    .addOption(cacheOption())
    .addOption(offlineOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .action(async (flags: ServeFlags) => {
      // No config file and none asked for: a service with nothing to inventory yet, which says so, not an error.
      const config = flags.config !== undefined || existsSync(SERVE_CONFIG_FILE) ? loadServeConfig(flags.config) : parseServeConfig('', SERVE_CONFIG_FILE);
      // Listened for before the store opens: a signal during start-up stops the service as soon as it is up.
      let stopRequested: string | undefined;
      let stopNow: ((signal: string) => void) | undefined;
      const onSignal = (signal: string) => () => {
        // A second Ctrl-C while closing (a refresh being written, a slow store) means now.
        if (stopRequested !== undefined && stopNow === undefined) {
          log(`${signal} again: exiting without waiting`);
          process.exit(130);
        }
        stopRequested ??= signal;
        stopNow?.(signal);
      };
      const onInt = onSignal('SIGINT');
      const onTerm = onSignal('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      try {
        const handle = await startServe({
          config,
          ...(flags.listen !== undefined ? { listen: flags.listen } : {}),
          ...(flags.database !== undefined ? { database: flags.database } : {}),
          ...(flags.autoUpdate ? { autoUpdate: true } : {}),
          refresh: { registry: registryOptions(flags), ...(flags.cache !== undefined ? { cacheDir: flags.cache } : {}), ...(flags.offline ? { offline: true } : {}), onWarning: (m) => log(`warning: ${m}`) },
          onLog: log,
        });
        log(`serving ${handle.url} (store: ${handle.store.kind} ${handle.store.location}; config: ${config.file}${existsSync(config.file) ? '' : ', absent'})`);
        await new Promise<void>((resolve) => {
          stopNow = (signal) => {
            stopNow = undefined;
            log(`${signal}: stopping`);
            handle.close().then(resolve, (e: unknown) => {
              log(`closing: ${(e as Error).message}`);
              resolve();
            });
          };
          if (stopRequested !== undefined) stopNow(stopRequested);
        });
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      }
    });
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} pith serve: ${line}\n`);
}
