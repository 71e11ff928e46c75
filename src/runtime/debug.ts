/**
 * `pith debug`: a running container seen from the host, with the host's tools — a pith image has none. The
 * target is a pid, a pith container name, a runc or crun container id, or a docker or podman container (resolved
 * through their CLIs when present). The report reads /proc only (see proc.ts) and the image's own package
 * database through /proc/PID/root, so nothing is added to the image or the container; `debugExec` runs a host
 * program inside the container's network, pid, ipc, uts and cgroup namespaces with nsenter, keeping the host's
 * filesystem, with the container's root at $PITH_ROOT (/proc/PID/root).
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Advisory } from '../advisories/feeds.ts';
import { loadAdvisories } from '../advisories/load.ts';
import { AdvisoryIndex } from '../advisories/match.ts';
import { osRelease, type DebianRelease } from '../advisories/release.ts';
import { PithError } from '../errors.ts';
import { compareStrings } from '../order.ts';
import { Rootfs } from '../oci/rootfs.ts';
import { readOsRelease, readPackages, type OsRelease, STATUS } from '../assemble/installed.ts';
import { AVAILABLE, STATUS_D } from '../assemble/status.ts';
import { containerStatus, defaultStateDir, runtimeCommand, type ContainerStatus } from './run.ts';
import { listInRoot, readTextInRoot } from './root.ts';
import {
  cgroupDirs, cgroupLimits, cgroups, environment, mounts, namespaceProcesses, namespaces, processInfo, rlimits, security, sockets,
  type CgroupInfo, type MountInfo, type Namespace, type ProcessInfo, type Rlimit, type Security, type Socket,
} from './proc.ts';
import { sourcedPackage } from '../debian/packages.ts';

export interface Target {
  /** The container's first process, as the host sees it. */
  pid: number;
  /** How the target was found: pid, pith, runc, crun, docker or podman. */
  kind: string;
  /** The container's name or id, when the target named one. */
  name?: string;
  /** A pith container's record (image, digest, labels). */
  pith?: ContainerStatus;
  /** The image as docker or podman name it: its id (the config digest) and the reference it was run as. */
  engineImage?: { id: string; reference: string };
}

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Finds the process behind `target`; a clear error when nothing matches or the process has exited. */
export async function resolveTarget(target: string, options: { stateDir?: string } = {}): Promise<Target> {
  if (process.getuid?.() !== 0) {
    throw new PithError('DEBUG_NOT_ROOT', `expected to run as root to look into a container (its /proc/PID/root, fds and namespaces need ptrace access), found uid ${process.getuid?.()}`);
  }
  if (/^\d+$/.test(target)) {
    const pid = Number(target);
    if (!existsSync(`/proc/${pid}`)) throw new PithError('DEBUG_NO_PROCESS', `expected a running process ${pid}, found none in /proc (it has exited, or never ran)`);
    return { pid, kind: 'pid' };
  }
  const tried: string[] = [];
  const stateDir = options.stateDir ?? defaultStateDir();
  const pith = await containerStatus(stateDir, target);
  tried.push(`pith containers in ${stateDir}`);
  if (pith) {
    if (pith.status !== 'running' || !pith.pid) throw new PithError('DEBUG_NOT_RUNNING', `expected pith container ${target} to be running, found it ${pith.status}`);
    return { pid: pith.pid, kind: 'pith', name: target, pith };
  }
  for (const runtime of ['runc', 'crun'] as const) {
    if (!onPath(runtime)) continue;
    tried.push(`${runtime} containers`);
    const r = runtime === 'runc' ? run('runc', ['state', target]) : run(...runtimeCommand('crun', '/run', ['state', target]));
    if (r.status === 0) {
      const state = JSON.parse(r.stdout) as { pid?: number; status: string };
      if (state.status !== 'running' || !state.pid) throw new PithError('DEBUG_NOT_RUNNING', `expected ${runtime} container ${target} to be running, found it ${state.status}`);
      return { pid: state.pid, kind: runtime, name: target };
    }
  }
  for (const engine of ['docker', 'podman'] as const) {
    if (!onPath(engine)) continue;
    tried.push(`${engine} containers`);
    const image = engine === 'docker' ? '{{.Config.Image}}' : '{{.ImageName}}';
    const r = run(engine, ['inspect', '--type', 'container', '--format', `{{.State.Pid}} {{.Image}} ${image}`, target]);
    if (r.status === 0) {
      const [pid, id, reference] = r.stdout.trim().split(' ') as [string, string | undefined, string | undefined];
      if (!Number(pid)) throw new PithError('DEBUG_NOT_RUNNING', `expected ${engine} container ${target} to be running, found it has no process`);
      return { pid: Number(pid), kind: engine, name: target, ...(id ? { engineImage: { id, reference: reference ?? '' } } : {}) };
    }
  }
  throw new PithError('DEBUG_UNKNOWN_TARGET', `expected a pid, or a container name or id, found nothing called ${JSON.stringify(target)} (looked in ${tried.join(', ')})`);
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface DebugReport {
  target: Target;
  image: {
    /** The manifest digest (pith containers). */
    digest?: string;
    /** The image id docker or podman gives it (its config's digest). */
    id?: string;
    reference?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    os: OsRelease;
    packages: Array<{ name: string; version: string; architecture: string; source: string; sourceVersion: string }>;
  };
  /** With advisories at hand: the known vulnerabilities of the packages the image runs. */
  vulnerabilities?: Vulnerability[];
  /** With advisories at hand: the release they were matched for (from the image's os-release). */
  release?: DebianRelease;
  processes: Array<ProcessInfo & { children: number[] }>;
  namespaces: Namespace[];
  cgroups: CgroupInfo[];
  limits: { memory?: string; pids?: string };
  security: Security;
  rlimits: Rlimit[];
  mounts: MountInfo[];
  sockets: Socket[];
  env: string[];
}

export interface Vulnerability {
  id: string;
  source: string;
  sourceVersion: string;
  /** The image's binary packages built from that source. */
  packages: string[];
  fixed?: string;
  severity?: string;
  feed: Advisory['feed'];
}

export interface DebugOptions {
  /** Show environment values (redacted by default). */
  showEnv?: boolean;
  /** Advisory sources (OSV, Security Tracker; files, directories, zips or URLs), as `pith check` reads them. */
  advisories?: string[];
  cacheDir?: string;
  offline?: boolean;
  onWarning?: (message: string) => void;
}

/**
 * Everything the host can see about the container around `target.pid`; with advisory sources, also the known
 * vulnerabilities of what it runs.
 */
export async function debugContainer(target: Target, options: DebugOptions = {}): Promise<DebugReport> {
  const report = debugReport(target, options);
  if (!options.advisories?.length) return report;
  return { ...report, ...(await imageVulnerabilities(report.image, options.advisories, options)) };
}

/**
 * The vulnerabilities the advisories name for an image's packages, for the release its os-release names, matched
 * as `pith check` matches a lock: by source package and source version, in dpkg order (one entry per CVE and
 * source).
 */
export async function imageVulnerabilities(
  image: Pick<DebugReport['image'], 'os' | 'packages'>,
  sources: string[],
  options: Omit<DebugOptions, 'showEnv' | 'advisories'> = {},
): Promise<{ release: DebianRelease; vulnerabilities: Vulnerability[] }> {
  const release = osRelease(image.os);
  if (!release) {
    const found = image.os.id !== undefined && image.os.id !== 'debian' ? `ID=${image.os.id}${image.os.prettyName ? ` (${image.os.prettyName})` : ''}: Debian's advisories do not apply to it` : 'neither';
    throw new PithError('DEBUG_UNKNOWN_RELEASE', `expected the image's os-release (ID=debian with VERSION_ID or VERSION_CODENAME) or /etc/debian_version to name a Debian release to match advisories for, found ${found}`);
  }
  const set = await loadAdvisories(sources, { ...release, cacheDir: options.cacheDir, offline: options.offline, onWarning: options.onWarning });
  return { release, vulnerabilities: matchPackages(image.packages, set.advisories) };
}

function matchPackages(packages: DebugReport['image']['packages'], advisories: readonly Advisory[]): Vulnerability[] {
  const index = new AdvisoryIndex(advisories);
  const bySource = new Map<string, { sourceVersion: string; packages: string[] }>();
  for (const p of packages) {
    const key = `${p.source}\0${p.sourceVersion}`;
    const entry = bySource.get(key) ?? { sourceVersion: p.sourceVersion, packages: [] };
    entry.packages.push(p.name);
    bySource.set(key, entry);
  }
  const found = new Map<string, Vulnerability>();
  for (const [key, { sourceVersion, packages: names }] of bySource) {
    const source = key.slice(0, key.indexOf('\0'));
    for (const a of index.affecting(source, sourceVersion)) {
      const id = `${a.id} ${source}`;
      if (!found.has(id)) found.set(id, { id: a.id, source, sourceVersion, packages: [...names].sort(), fixed: a.fixed, severity: a.severity, feed: a.feed });
    }
  }
  return [...found.values()].sort((x, y) => compareStrings(x.source, y.source) || compareStrings(x.id, y.id));
}

/** Everything the host can see about the container around `target.pid`. */
export function debugReport(target: Target, options: { showEnv?: boolean } = {}): DebugReport {
  const pid = target.pid;
  const sec = security(pid);
  if (!sec) throw new PithError('DEBUG_NO_PROCESS', `expected process ${pid} to be running, found it has exited`);
  const procs = namespaceProcesses(pid);
  const root = `/proc/${pid}/root`;
  try {
    readdirSync(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PithError(code === 'ENOENT' ? 'DEBUG_NO_PROCESS' : 'DEBUG_NOT_PERMITTED', `expected to read ${root}, found ${code}: ${(e as Error).message}`, { cause: e });
  }
  const fs = liveRootfs(root);
  const groups = cgroups(pid);
  return {
    target,
    image: {
      ...(target.pith ? { digest: target.pith.digest, reference: target.pith.image } : {}),
      ...(target.engineImage ? { id: target.engineImage.id, reference: target.engineImage.reference } : {}),
      ...(target.pith?.labels ? { labels: target.pith.labels } : {}),
      ...(target.pith?.annotations ? { annotations: target.pith.annotations } : {}),
      os: readOsRelease(fs),
      packages: readPackages(fs).map(sourcedPackage),
    },
    processes: procs.map((p) => ({ ...p, children: procs.filter((c) => c.ppid === p.pid).map((c) => c.pid) })),
    namespaces: namespaces(pid),
    cgroups: groups,
    limits: cgroupLimits(groups, mounts('self')),
    security: sec,
    rlimits: rlimits(pid),
    mounts: mounts(pid),
    sockets: sockets(pid, procs.map((p) => p.pid)),
    env: environment(pid, Boolean(options.showEnv)),
  };
}

/**
 * The parts of a live container's filesystem the package readers use (dpkg's status, status.d, available, the
 * os-release files), read through its root with its symlinks resolved inside it.
 */
function liveRootfs(root: string): Rootfs {
  const fs = new Rootfs();
  const put = (path: string) => {
    const text = readTextInRoot(root, path);
    if (text === undefined) return;
    const content = new TextEncoder().encode(text);
    fs.files.set(path, { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.byteLength, layer: 0, content });
  };
  for (const path of [STATUS, AVAILABLE, '/etc/os-release', '/usr/lib/os-release', '/etc/debian_version']) put(path);
  for (const name of listInRoot(root, STATUS_D)) put(`${STATUS_D}/${name}`);
  return fs;
}

/** The report as text for a terminal. */
export function formatReport(r: DebugReport): string {
  const lines: string[] = [];
  const t = r.target;
  lines.push(`container ${t.name ?? `of pid ${t.pid}`} (${t.kind}), pid ${t.pid}`);
  const img = r.image;
  lines.push('', 'image:');
  if (img.reference) lines.push(`  reference ${img.reference}`);
  if (img.digest) lines.push(`  digest    ${img.digest}`);
  if (img.id) lines.push(`  id        ${img.id}`);
  for (const [k, v] of Object.entries({ ...img.annotations, ...img.labels })) lines.push(`  ${k}=${v}`);
  if (img.os.prettyName) lines.push(`  os        ${img.os.prettyName}${img.os.debianVersion ? ` (${img.os.debianVersion})` : ''}`);
  lines.push(`  packages  ${img.packages.length}`);
  for (const p of img.packages) lines.push(`    ${p.name} ${p.version} ${p.architecture}`);
  if (r.vulnerabilities) {
    lines.push('', `known vulnerabilities (${r.vulnerabilities.length}; ${r.release ? `matched for ${r.release.ecosystem} ${r.release.codename}; ` : ''}CVE, source version, fixed in, severity, packages):`);
    for (const v of r.vulnerabilities) lines.push(`  ${v.id}  ${v.source} ${v.sourceVersion}  ${v.fixed ? `fixed in ${v.fixed}` : 'no fix yet'}  ${v.severity ?? '-'}  ${v.packages.join(' ')}`);
  }
  lines.push('', 'processes (pid in container / on host, user, state, command):');
  const byPid = new Map(r.processes.map((p) => [p.pid, p]));
  const roots = r.processes.filter((p) => !byPid.has(p.ppid));
  const walk = (p: ProcessInfo & { children: number[] }, depth: number) => {
    lines.push(`  ${'  '.repeat(depth)}${p.nsPid}/${p.pid}  uid ${p.uids[1] ?? '?'}  ${p.state}  ${p.cmdline.join(' ') || `[${p.name}]`}`);
    for (const c of p.children) walk(byPid.get(c)!, depth + 1);
  };
  for (const p of roots) walk(p, 0);
  lines.push('', 'namespaces:');
  for (const n of r.namespaces) lines.push(`  ${n.type.padEnd(7)} ${n.id}${n.shared ? '  (shared with the host)' : ''}`);
  lines.push('', 'cgroups:');
  for (const g of r.cgroups) lines.push(`  ${(g.controllers || 'v2').padEnd(18)} ${g.path}`);
  lines.push(`  limits: memory ${r.limits.memory ?? '?'}, pids ${r.limits.pids ?? '?'}`);
  const caps = r.security.capabilities;
  lines.push('', 'security:');
  lines.push(`  capabilities effective: ${caps.effective.join(', ') || 'none'}; bounding: ${caps.bounding.join(', ') || 'none'}`);
  lines.push(`  seccomp ${r.security.seccomp}; no_new_privs ${r.security.noNewPrivileges ? 'on' : 'off'}`);
  lines.push('', 'rlimits (soft / hard):');
  for (const l of r.rlimits) if (l.soft !== 'unlimited' || l.hard !== 'unlimited') lines.push(`  ${l.name.padEnd(22)} ${l.soft} / ${l.hard}${l.units ? ` ${l.units}` : ''}`);
  lines.push('', 'mounts:');
  for (const m of r.mounts) lines.push(`  ${m.target.padEnd(28)} ${m.type.padEnd(8)} ${m.options}  ${m.source}`);
  lines.push('', 'sockets:');
  const owner = (pids: number[]) => pids.map((p) => `${byPid.get(p)?.cmdline[0] ?? '?'}[${byPid.get(p)?.nsPid ?? p}]`).join(', ');
  for (const s of r.sockets) lines.push(`  ${s.protocol.padEnd(5)} ${s.state.padEnd(11)} ${s.local}${s.remote ? ` → ${s.remote}` : ''}  ${owner(s.pids)}`);
  lines.push('', `environment${r.env.some((e) => e.endsWith('=<redacted>')) ? ' (values redacted; --show-env shows them)' : ''}:`);
  for (const e of r.env) lines.push(`  ${e}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Runs `command` (a host program) in the target's network, pid, ipc, uts and cgroup namespaces and in its cgroups
 * (so its limits and accounting cover the tool too), with the host's filesystem and PITH_ROOT=/proc/PID/root;
 * resolves to its exit status. A shell moves itself into the cgroups and then becomes nsenter, so every process
 * of the tool starts inside them.
 */
export function debugExec(target: Target, command: string[]): Promise<number> {
  const pid = target.pid;
  const info = processInfo(pid);
  if (!info) throw new PithError('DEBUG_NO_PROCESS', `expected process ${pid} to be running, found it has exited`);
  const root = `/proc/${pid}/root`;
  const procs = cgroupDirs(cgroups(pid), mounts('self')).map((d) => join(d.dir, 'cgroup.procs')).filter((f) => existsSync(f));
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = `${procs.map((f) => `echo $$ > ${quote(f)} || exit 125; `).join('')}exec nsenter --target ${pid} --net --pid --ipc --uts --cgroup -- "$@"`;
  const child = spawn('sh', ['-c', script, 'pith-debug', ...command], {
    stdio: 'inherit',
    env: { ...process.env, PITH_ROOT: root, PITH_PID: String(pid) },
  });
  return new Promise((ok, fail) => {
    child.on('error', (e) => fail(new PithError('DEBUG_EXEC_FAILED', `expected to start sh and nsenter (Debian package util-linux), found: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => ok(code ?? (signal ? 128 : 1)));
  });
}
