/**
 * `pith serve` as one object: the store opened, a refresh at start and then every interval (one at a time), the HTTP
 * server (API, pages, /metrics), and `close()` that stops all of it so the process can exit.
 *
 * A refresh reads its sources for as long as they take, but is recorded in one store transaction; while it is
 * recorded, requests wait (ReadWriteGate), so a page built from several queries sees the fleet before the refresh
 * or after it, never part of each.
 */
import { createServer, type Server } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PithError, errorLine, isPithError } from '../errors.ts';
import type { ServeConfig } from './config.ts';
import { checkListen, parseListen, tokenChecker, type Listen } from './auth.ts';
import { AutoUpdater, type AutoUpdateRecord } from './autoupdate.ts';
import { handler } from './http.ts';
import { ServeMetrics } from './metrics.ts';
import type { FleetSnapshot } from './model.ts';
import { refreshFleet, type RefreshOptions } from './refresh.ts';
import { openStore, type FleetStore, type RecordResult } from './store.ts';

export const DEFAULT_LISTEN = '127.0.0.1:8080';

export interface ServeOptions {
  config: ServeConfig;
  /** HOST:PORT (port 0: any free one); default the config's `listen:`, else 127.0.0.1:8080. */
  listen?: string;
  /** A directory (PGlite) or a postgres:// URL; default the config's `database:`, else defaultStoreDir(). */
  database?: string;
  /** Required when listening on an address other than loopback; default $PITH_SERVE_TOKEN. */
  token?: string;
  /** Default the config's interval. */
  intervalMs?: number;
  /** Registry credentials and retries, cache directory, offline: as the refresh takes them. */
  refresh?: RefreshOptions;
  /** After each refresh, `pith update --only security` the specs whose images have a fix available (autoupdate.ts). */
  autoUpdate?: boolean;
  /** One line per event worth a log (refresh done, refresh failed), without a trailing newline. */
  onLog?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** What the HTTP layer reads: the store, behind the gate, and the service's own state. */
export interface ServeState {
  readonly store: FleetStore;
  readonly gate: ReadWriteGate;
  readonly metrics: ServeMetrics;
  readonly intervalMs: number;
  /** The last refresh this process finished (recorded), if any. */
  lastRefresh?: { finishedAt: string; result: RecordResult };
  /** The last refresh that failed as a whole (the store could not record it, or a bug), if any since the last good one. */
  lastFailure?: { at: string; message: string };
  refreshing: boolean;
  /** With autoUpdate: what it did, most recent first. */
  readonly autoUpdates?: AutoUpdateRecord[];
  /**
   * Listening on loopback without a token: requests must name a loopback host, so that a web page elsewhere cannot
   * read the fleet through a browser on this machine by pointing its own name at 127.0.0.1 (DNS rebinding).
   */
  readonly loopbackOnly: boolean;
  /** Checks a request's credentials; undefined when none are needed (loopback without a token). */
  readonly auth?: ReturnType<typeof tokenChecker>;
}

export interface ServeHandle {
  /** `http://HOST:PORT` as bound (the real port when 0 was asked). */
  readonly url: string;
  readonly store: FleetStore;
  readonly state: ServeState;
  /** Runs a refresh now, or waits for the one running; resolves when it is recorded (or has failed). */
  refresh(): Promise<void>;
  /** Stops the schedule, waits for a running refresh, closes the HTTP server and the store. */
  close(): Promise<void>;
}

/** Where the store lives when neither --database nor `database:` says: $XDG_STATE_HOME/pith/serve, else ~/.local/state/pith/serve. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'pith', 'serve');
}

/**
 * Many readers at once, or one writer: a writer waits for the readers in flight, and readers that come while a
 * writer waits queue behind it (a steady stream of page views never starves a refresh).
 */
export class ReadWriteGate {
  private readers = 0;
  private writing = false;
  private queue: Array<{ write: boolean; go: () => void }> = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writing || this.queue.length > 0) await new Promise<void>((go) => this.queue.push({ write: false, go }));
    else this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.next();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writing || this.readers > 0 || this.queue.length > 0) await new Promise<void>((go) => this.queue.push({ write: true, go }));
    else this.writing = true;
    try {
      return await fn();
    } finally {
      this.writing = false;
      this.next();
    }
  }

  private next(): void {
    if (this.writing) return;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.write) {
        if (this.readers > 0) return;
        this.queue.shift();
        this.writing = true;
        head.go();
        return;
      }
      this.queue.shift();
      this.readers++;
      head.go();
    }
  }
}

export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  const env = options.env ?? process.env;
  const { config } = options;
  const listen: Listen = parseListen(options.listen ?? config.listen ?? DEFAULT_LISTEN, options.listen !== undefined ? '--listen' : config.listen !== undefined ? `${config.at(['listen'])}: listen` : 'listen');
  const token = options.token ?? (env.PITH_SERVE_TOKEN || undefined);
  // Refused before anything is opened: a service that would answer anyone on the network never starts.
  checkListen(listen, token);
  const intervalMs = options.intervalMs ?? config.intervalMs;
  const log = options.onLog ?? (() => {});

  const store = await openStore(options.database ?? config.database ?? defaultStoreDir(env));
  const metrics = new ServeMetrics();
  const gate = new ReadWriteGate();
  const updater = options.autoUpdate
    ? new AutoUpdater(store, {
      advisories: config.advisories,
      cacheDir: options.refresh?.cacheDir,
      offline: options.refresh?.offline,
      registry: options.refresh?.registry,
      read: (fn) => gate.read(fn),
    })
    : undefined;
  const state: ServeState = {
    store,
    gate,
    metrics,
    intervalMs,
    refreshing: false,
    ...(updater ? { autoUpdates: updater.records } : {}),
    // A token given on loopback is required too: whoever set it wants it asked for.
    ...(token !== undefined ? { auth: tokenChecker(token) } : {}),
    loopbackOnly: token === undefined,
  };
  let server: Server | undefined;
  try {
    await state.gate.read(() => metrics.update(store));
    server = createServer(handler(state));
    // Slow clients must not hold sockets forever; a page is small.
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(listen.port, listen.host, () => {
        server!.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await store.close().catch(() => {});
    const err = e as NodeJS.ErrnoException;
    if (isPithError(e)) throw e;
    throw new PithError('SERVE_LISTEN_FAILED', `cannot listen on ${listen.text}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ' (another process has that port: pick another with --listen)' : ''}`, { cause: e });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const url = `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`;

  let previous: Pick<FleetSnapshot, 'images'> | undefined;
  let running: Promise<void> | undefined;
  let recording: Promise<RecordResult> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const runRefresh = async (): Promise<void> => {
    await refreshOnce();
    if (!updater || closed || state.lastFailure) return;
    const round = await updater.run();
    for (const r of round) {
      log(`auto-update: ${r.spec}: ${r.error ?? (r.updated ? `${r.digest} -> ${r.newDigest ?? '(not pushed)'} for ${r.advisories.join(' ')}${r.pushed.length ? `, pushed ${r.pushed.join(' ')}` : ''}` : 'nothing to update')}`);
    }
    // The new images are seen now, not an interval later: that is when the fix reached the registry.
    if (round.some((r) => r.updated) && !closed) await refreshOnce();
  };

  const refreshOnce = async (): Promise<void> => {
    const started = Date.now();
    state.refreshing = true;
    try {
      const { snapshot, findings } = await refreshFleet(config, { ...options.refresh, ...(previous ? { previous } : {}) });
      // Closed while the sources were read: the store is closed or closing, and this refresh is dropped.
      if (closed) return;
      recording = state.gate.write(() => store.recordSnapshot(snapshot, findings));
      const result = await recording;
      previous = snapshot;
      state.lastRefresh = { finishedAt: result.refresh.finishedAt, result };
      delete state.lastFailure;
      metrics.refreshed(result.refresh, (Date.now() - started) / 1000);
      log(`refresh: ${result.refresh.images} images, ${result.newImages} new, ${result.refresh.sourceErrors} source errors, ${result.refresh.imageErrors} image errors, ${findings.length} findings, ${result.refresh.durationMs} ms`);
      for (const e of snapshot.errors) log(`refresh: ${e.source}: ${e.message}`);
    } catch (e) {
      // The pages show the message; only the log gets a bug's stack.
      const message = errorLine(e);
      state.lastFailure = { at: new Date().toISOString(), message };
      metrics.failed((Date.now() - started) / 1000);
      log(`refresh failed: ${isPithError(e) ? message : String((e as Error)?.stack ?? e)}`);
    } finally {
      state.refreshing = false;
      recording = undefined;
    }
    if (closed) return;
    try {
      await state.gate.read(() => metrics.update(store));
    } catch (e) {
      log(`metrics: ${(e as Error).message}`);
    }
  };

  const refresh = (): Promise<void> => {
    if (closed) return Promise.resolve();
    running ??= runRefresh().finally(() => {
      running = undefined;
      schedule();
    });
    return running;
  };
  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    // setTimeout fires at once past 2^31-1 ms (24.8 days): a longer interval waits that long instead.
    timer = setTimeout(() => void refresh(), Math.min(intervalMs, 2 ** 31 - 1));
  };
  void refresh();

  return {
    url,
    store,
    state,
    refresh,
    close: async () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      // A refresh still reading its sources is not waited for (a registry that never answers must not hold a
      // SIGTERM up); one being recorded is, so the store closes after its transaction.
      await recording?.catch(() => {});
      await new Promise<void>((resolve) => {
        server!.close(() => resolve());
        server!.closeAllConnections();
      });
      await store.close();
    },
  };
}
