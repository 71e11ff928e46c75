/**
 * `pith run` without a daemon: the image is unpacked once per digest into the cache, pith writes the container's
 * runtime config itself (see config.ts) into a bundle under its run-state directory, and runc (or crun) runs it.
 * Each container's root is an overlay of the cached tree and an upper directory of its own. A foreground
 * container's exit status is pith's, and SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are passed on to it;
 * a detached one writes its output to a log file in its state directory. `ps`, `stop` and `logs` read that
 * directory and ask the runtime for the state; `stop` leaves no container, cgroup, mount, bundle or state.
 *
 * Run-state layout ($PITH_STATE_DIR, else /run/pith as root, $XDG_RUNTIME_DIR/pith otherwise):
 *   containers/NAME/{container.json,config.json,log,rootfs,upper,work}   runc|crun/  (the runtimes' state roots)
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, createReadStream, existsSync, promises as fs, readFileSync, readdirSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PithError } from '../errors.ts';
import { defaultCacheDir, makeDirs, writeFileAtomic } from '../cache/store.ts';
import { isImageIndex, type Image } from '../oci/image.ts';
import { selectPlatform } from '../oci/read.ts';
import { readImage } from '../transports/transports.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { runtimeSpec, type RunOptions } from './config.ts';
import { unpackImage } from './unpack.ts';

export type RuntimeName = 'runc' | 'crun';

export interface ContainerOptions extends RunOptions {
  name?: string;
  detach?: boolean;
  runtime?: RuntimeName;
  cacheDir?: string;
  stateDir?: string;
  platform?: string;
  registry?: RegistryOptions;
  /** Called once the container's process runs (foreground), e.g. to time a start. */
  onStarted?: (container: ContainerRecord) => void;
  /**
   * Foreground only: collect the container's standard output and error (the last MiB of each) instead of passing
   * them through, and kill it after `timeoutMs` — how a smoke test runs an image.
   */
  capture?: { timeoutMs?: number };
}

export interface ContainerRecord {
  name: string;
  image: string;
  digest: string;
  runtime: RuntimeName;
  created: string;
  detached: boolean;
  bundle: string;
  /** The image config's labels and the manifest's annotations, for `pith debug`. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The pith process that waits on a foreground container. */
  pithPid?: number;
}

export interface ContainerStatus extends ContainerRecord {
  status: 'created' | 'running' | 'paused' | 'stopped' | 'unknown';
  /** The container's first process, as the host sees it. */
  pid?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** $PITH_STATE_DIR; else /run/pith as root, $XDG_RUNTIME_DIR/pith otherwise. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PITH_STATE_DIR && env.PITH_STATE_DIR.startsWith('/')) return env.PITH_STATE_DIR;
  if (process.getuid?.() !== 0 && env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'pith');
  return '/run/pith';
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new PithError('RUN_NOT_ROOT', `expected to run as root to ${what} (runc needs it for the namespaces, mounts and cgroups it makes; pith has no rootless mode), found uid ${process.getuid?.()}`);
  }
}

/** The runtime's command line: crun runs in a private mount namespace without the cgroup v2 mount (DESIGN.md). */
export function runtimeCommand(runtime: RuntimeName, stateDir: string, args: string[]): [string, string[]] {
  const root = join(stateDir, runtime);
  if (runtime === 'runc') return ['runc', ['--root', root, ...args]];
  return ['unshare', ['-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"', 'crun', '--root', root, ...args]];
}

function runtimeExec(runtime: RuntimeName, stateDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return command(...runtimeCommand(runtime, stateDir, args));
}

/** The image at `ref` (any transport), one platform of it. */
async function imageFor(ref: string, options: ContainerOptions): Promise<Image> {
  const x = await readImage(ref, options.registry);
  if (!isImageIndex(x)) return options.platform ? selectPlatform(x, options.platform) : x;
  return selectPlatform(x, options.platform ?? `linux/${hostPlatform()}`);
}

function hostPlatform(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
}

/** `name` if it can name a container (a directory and a runtime id); RUN_BAD_NAME otherwise. */
export function containerName(name: string): string {
  if (!NAME.test(name)) throw new PithError('RUN_BAD_NAME', `expected a container name of letters, digits, "_", "." and "-" (at most 63, starting with a letter or digit), found ${JSON.stringify(name)}`);
  return name;
}

/**
 * Prepares container `name` (unpacks the image if needed, writes its bundle and record) and returns the record
 * and the runtime config's path. The name must be free.
 */
async function prepare(ref: string, options: ContainerOptions): Promise<{ record: ContainerRecord; stateDir: string }> {
  requireRoot('run containers');
  const stateDir = options.stateDir ?? defaultStateDir();
  const name = options.name ?? `pith-${randomBytes(4).toString('hex')}`;
  containerName(name);
  const runtime = options.runtime ?? 'runc';
  const image = await imageFor(ref, options);
  const { rootfs: cached } = await unpackImage(image, options.cacheDir ?? defaultCacheDir());
  const dir = join(stateDir, 'containers', name);
  await makeDirs(join(stateDir, 'containers'), 0o700);
  try {
    await fs.mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const existing = await containerStatus(stateDir, name).catch(() => undefined);
    if (existing && existing.status !== 'stopped') throw new PithError('RUN_NAME_IN_USE', `expected a free container name, found ${name} already ${existing.status} (pith stop ${name})`);
    await removeContainer(stateDir, name, existing?.runtime ?? runtime);
    await fs.mkdir(dir, { mode: 0o700 });
  }
  try {
    const rootfs = await mountRootfs(cached, dir);
    const spec = runtimeSpec(name, image.config, rootfs, options);
    await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    const record: ContainerRecord = {
      name,
      image: ref,
      digest: image.digest,
      runtime,
      created: new Date().toISOString(),
      detached: Boolean(options.detach),
      bundle: dir,
      ...(image.config.config?.Labels ? { labels: image.config.config.Labels } : {}),
      ...(image.manifest.annotations ? { annotations: image.manifest.annotations } : {}),
      ...(options.detach ? {} : { pithPid: process.pid }),
    };
    await writeFileAtomic(join(dir, 'container.json'), `${JSON.stringify(record, null, 2)}\n`);
    return { record, stateDir };
  } catch (e) {
    await removeBundle(dir);
    throw e;
  }
}

/**
 * The container's root: an overlay of the cached image tree (shared by every container of the image, never
 * written) and an upper directory of the container's own in its bundle. Whatever the runtime creates (mount points
 * for volumes) and whatever a --writable container writes lands there and goes with the container.
 */
async function mountRootfs(cached: string, bundle: string): Promise<string> {
  for (const path of [cached, bundle]) {
    if (/[,:\\]/.test(path)) throw new PithError('RUN_BAD_PATH', `expected a path without ",", ":" or "\\" for an overlay mount, found ${path}`);
  }
  const [upper, work, rootfs] = ['upper', 'work', 'rootfs'].map((d) => join(bundle, d)) as [string, string, string];
  for (const d of [upper, work, rootfs]) await fs.mkdir(d, { mode: 0o755 });
  const r = await command('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${cached},upperdir=${upper},workdir=${work}`, rootfs]);
  if (r.code !== 0) throw new PithError('RUN_MOUNT_FAILED', `expected to mount the container's root (overlay of ${cached}) at ${rootfs}, found mount exited ${r.code}: ${r.stderr.trim()}`);
  return rootfs;
}

/** Unmounts the bundle's root (when mounted) and removes the bundle; a root that stays mounted is never deleted through. */
async function removeBundle(bundle: string): Promise<void> {
  const rootfs = join(bundle, 'rootfs');
  if (isMountPoint(rootfs)) {
    const r = await command('umount', [rootfs]);
    if (r.code !== 0) throw new PithError('RUN_UMOUNT_FAILED', `expected to unmount ${rootfs}, found umount exited ${r.code}: ${r.stderr.trim()}`);
  }
  await fs.rm(bundle, { recursive: true, force: true });
}

function isMountPoint(path: string): boolean {
  const escaped = path.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === escaped);
}

function command(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', (e) => fail(new PithError('RUN_TOOL_MISSING', `expected ${cmd} on PATH (Debian package ${cmd === 'runc' || cmd === 'crun' ? cmd : 'util-linux'}), found: ${e.message}`, { cause: e })));
    child.on('close', (code) => ok({ code: code ?? 1, stdout, stderr }));
  });
}

export interface RunResult {
  record: ContainerRecord;
  /** The container's exit status (foreground); 0 once a detached container has started. */
  exitCode: number;
  /** With `capture`: what it printed, and whether it was killed at the timeout. */
  stdout?: string;
  stderr?: string;
  timedOut?: boolean;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Runs image `ref` as a container; foreground unless `detach`. */
export async function runContainer(ref: string, options: ContainerOptions = {}): Promise<RunResult> {
  const { record, stateDir } = await prepare(ref, options);
  if (options.detach) {
    const log = openSync(join(record.bundle, 'log'), 'a', 0o600);
    try {
      const [cmd, argv] = runtimeCommand(record.runtime, stateDir, ['run', '--detach', '--bundle', record.bundle, record.name]);
      const code = await new Promise<number>((ok, fail) => {
        const child = spawn(cmd, argv, { stdio: ['ignore', log, log] });
        child.on('error', fail);
        child.on('close', (c) => ok(c ?? 1));
      });
      if (code !== 0) {
        const text = readFileSync(join(record.bundle, 'log'), 'utf8').trim();
        await removeContainer(stateDir, record.name, record.runtime);
        throw new PithError('RUN_START_FAILED', `expected ${record.runtime} to start ${record.name} from ${ref}, found it exited ${code}: ${text.slice(-2000)}`);
      }
    } finally {
      closeSync(log);
    }
    return { record, exitCode: 0 };
  }

  const [cmd, argv] = runtimeCommand(record.runtime, stateDir, ['run', '--bundle', record.bundle, record.name]);
  // Its own process group: a terminal's Ctrl-C reaches pith alone, which passes it on exactly once.
  const capture = options.capture;
  const child = spawn(cmd, argv, { stdio: capture ? ['ignore', 'pipe', 'pipe'] : [process.stdin.isTTY ? 'ignore' : 'inherit', 'inherit', 'inherit'], detached: true });
  const captured = { stdout: '', stderr: '', timedOut: false };
  const keep = (text: string, d: Buffer) => (text + d.toString()).slice(-(1 << 20));
  child.stdout?.on('data', (d: Buffer) => (captured.stdout = keep(captured.stdout, d)));
  child.stderr?.on('data', (d: Buffer) => (captured.stderr = keep(captured.stderr, d)));
  const deadline = capture?.timeoutMs === undefined ? undefined : setTimeout(() => {
    captured.timedOut = true;
    void runtimeExec(record.runtime, stateDir, ['kill', record.name, 'KILL']).finally(() => child.kill('SIGKILL'));
  }, capture.timeoutMs);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  let started: NodeJS.Timeout | undefined;
  if (options.onStarted) {
    const poll = async () => {
      const st = await containerStatus(stateDir, record.name).catch(() => undefined);
      if (st?.status === 'running') options.onStarted!(record);
      else if (child.exitCode === null) started = setTimeout(poll, 5);
    };
    started = setTimeout(poll, 0);
  }
  try {
    const exitCode = await new Promise<number>((ok, fail) => {
      child.on('error', (e) => fail(new PithError('RUN_RUNTIME_MISSING', `expected ${cmd} on PATH (Debian package ${record.runtime}), found: ${e.message}`, { cause: e })));
      child.on('close', (code, signal) => ok(code ?? 128 + (signal ? osSignal(signal) : 0)));
    });
    return capture ? { record, exitCode, ...captured } : { record, exitCode };
  } finally {
    clearTimeout(started);
    clearTimeout(deadline);
    for (const s of FORWARDED) process.removeListener(s, forward);
    await removeContainer(stateDir, record.name, record.runtime);
  }
}

function osSignal(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

/** Deletes the runtime's container (and so its cgroup) and the container's state directory. */
async function removeContainer(stateDir: string, name: string, runtime: RuntimeName): Promise<void> {
  await runtimeExec(runtime, stateDir, ['delete', '--force', name]);
  await removeBundle(join(stateDir, 'containers', name));
}

function readRecord(stateDir: string, name: string): ContainerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'containers', name, 'container.json'), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
}

/** A pith container's record and its state as its runtime reports it; undefined when there is no such container. */
export async function containerStatus(stateDir: string, name: string): Promise<ContainerStatus | undefined> {
  if (!NAME.test(name)) return undefined;
  const record = readRecord(stateDir, name);
  if (!record) return undefined;
  const r = await runtimeExec(record.runtime, stateDir, ['state', name]);
  if (r.code !== 0) return { ...record, status: existsSync(join(stateDir, record.runtime, name)) ? 'unknown' : 'stopped' };
  const state = JSON.parse(r.stdout) as { status: ContainerStatus['status']; pid?: number };
  return { ...record, status: state.status, ...(state.pid ? { pid: state.pid } : {}) };
}

/** Every pith container under `stateDir`, by name. */
export async function listContainers(stateDir = defaultStateDir()): Promise<ContainerStatus[]> {
  let names: string[];
  try {
    names = readdirSync(join(stateDir, 'containers')).sort();
  } catch {
    return [];
  }
  const out: ContainerStatus[] = [];
  for (const name of names) {
    const st = await containerStatus(stateDir, name);
    if (st) out.push(st);
  }
  return out;
}

async function existing(stateDir: string, name: string): Promise<ContainerStatus> {
  const st = await containerStatus(stateDir, name);
  if (!st) {
    const names = (await listContainers(stateDir)).map((c) => c.name);
    throw new PithError('RUN_NO_SUCH_CONTAINER', `expected a pith container named ${JSON.stringify(name)} in ${stateDir}, found ${names.length > 0 ? names.join(', ') : 'none'}`);
  }
  return st;
}

/**
 * Stops container `name`: SIGTERM, then SIGKILL after `timeoutSeconds`; then deletes it with its cgroup, bundle and
 * state. A foreground container's pith process cleans up after itself; stop waits for it.
 */
export async function stopContainer(name: string, options: { stateDir?: string; timeoutSeconds?: number } = {}): Promise<ContainerStatus> {
  requireRoot('stop containers');
  const stateDir = options.stateDir ?? defaultStateDir();
  const st = await existing(stateDir, name);
  const deadline = Date.now() + (options.timeoutSeconds ?? 10) * 1000;
  const running = async () => ['running', 'paused', 'created'].includes((await containerStatus(stateDir, name))?.status ?? 'stopped');
  if (await running()) {
    await runtimeExec(st.runtime, stateDir, ['kill', name, 'SIGTERM']);
    while ((await running()) && Date.now() < deadline) await sleep(50);
    if (await running()) await runtimeExec(st.runtime, stateDir, ['kill', '--all', name, 'SIGKILL']);
    while (await running()) await sleep(50);
  }
  if (st.pithPid !== undefined && st.pithPid !== process.pid) {
    // The foreground pith removes its own container when the process ends; give it the chance.
    for (let i = 0; i < 100 && existsSync(join(stateDir, 'containers', name)); i++) await sleep(50);
  }
  await removeContainer(stateDir, name, st.runtime);
  return st;
}

/** The path of a detached container's log (its standard output and error). */
export async function containerLog(name: string, options: { stateDir?: string } = {}): Promise<string> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const st = await existing(stateDir, name);
  const log = join(st.bundle, 'log');
  if (!existsSync(log)) throw new PithError('RUN_NO_LOG', `expected a log for ${name}, found none: only detached containers have one (a foreground container's output goes to the terminal)`);
  return log;
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/**
 * Copies a detached container's log to `out`; with `follow`, keeps copying what it appends while the container
 * runs, and what it wrote last once it has stopped.
 */
export async function copyContainerLog(name: string, out: NodeJS.WritableStream, options: { follow?: boolean; stateDir?: string } = {}): Promise<void> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const log = await containerLog(name, { stateDir });
  let at = 0;
  const drain = async () => {
    const size = statSync(log).size;
    if (size <= at) return;
    await new Promise<void>((ok, fail) => createReadStream(log, { start: at, end: size - 1 }).on('end', ok).on('error', fail).pipe(out, { end: false }));
    at = size;
  };
  await drain();
  while (options.follow && (await containerStatus(stateDir, name))?.status === 'running') {
    await sleep(200);
    await drain();
  }
  await drain();
}
