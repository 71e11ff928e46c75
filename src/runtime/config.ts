/**
 * The OCI runtime config (config.json) pith writes for a container — by itself, from the image config and the
 * run options, with secure defaults: the image's user, a read-only root with a tmpfs /tmp, no_new_privileges, no
 * capabilities, docker's masked and read-only /proc paths, the default seccomp profile, and new pid, ipc, uts,
 * mount and network namespaces (`network: 'host'` shares the host's).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { PithError } from '../errors.ts';
import type { OciConfig } from '../oci/image.ts';
import { readGroups, readPasswd } from './root.ts';
import { defaultSeccomp, type SeccompProfile } from './seccomp.ts';

export interface RunOptions {
  /** Replace the image's Cmd (the Entrypoint stays). */
  args?: string[];
  /** Replace the image's Entrypoint (and drop its Cmd unless `args` are given). */
  entrypoint?: string;
  /** "K=V", or "K" to pass the host's value. */
  env?: string[];
  /** "HOST:CTR[:ro]". */
  volumes?: string[];
  workdir?: string;
  /** "uid[:gid]" or "name[:group]", as the image's /etc/passwd and /etc/group know them. */
  user?: string;
  /** "64m", "1g", "1048576". */
  memory?: string;
  pidsLimit?: number;
  network?: 'none' | 'host';
  writable?: boolean;
  /** Capability names, with or without CAP_, any case. */
  capAdd?: string[];
}

/** The paths docker masks (bind of /dev/null, or an empty read-only tmpfs for directories). */
export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

/** The paths docker makes read-only. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Every capability the kernel knows by name; `--cap-add` accepts only these. */
export const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
];

export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>;
    rlimits: Array<{ type: string; hard: number; soft: number }>;
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: Array<{ destination: string; type: string; source: string; options: string[] }>;
  linux: {
    namespaces: Array<{ type: string }>;
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp: SeccompProfile;
    resources: { devices: Array<{ allow: boolean; access: string }>; memory?: { limit: number; swap: number }; pids?: { limit: number } };
    cgroupsPath: string;
  };
}

/** The runtime config of container `name` running `config` from the unpacked `rootfs`. */
export function runtimeSpec(name: string, config: OciConfig, rootfs: string, options: RunOptions = {}): RuntimeSpec {
  const image = config.config ?? {};
  const entrypoint = options.entrypoint === undefined ? image.Entrypoint ?? [] : [options.entrypoint];
  const cmd = options.args && options.args.length > 0 ? options.args : options.entrypoint === undefined ? image.Cmd ?? [] : [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new PithError('RUN_NO_COMMAND', `expected the image to have an Entrypoint or Cmd, or arguments after "--", found neither`);
  }
  const user = resolveUser(rootfs, options.user ?? image.User ?? '');
  const caps = (options.capAdd ?? []).map(capability);
  const env = mergeEnv(image.Env ?? [], options.env ?? []);
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  const cwd = options.workdir ?? (image.WorkingDir || '/');
  if (!cwd.startsWith('/')) throw new PithError('RUN_BAD_WORKDIR', `expected an absolute --workdir, found ${JSON.stringify(cwd)}`);
  const network = options.network ?? 'none';
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user,
      args,
      env,
      cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: user.uid === 0 ? [] : caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: !options.writable },
    hostname: name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] },
      ...(network === 'host' && existsSync('/etc/resolv.conf')
        ? [{ destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] }]
        : []),
      ...(options.volumes ?? []).map(volume),
    ],
    linux: {
      namespaces: [
        { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' },
        ...(network === 'host' ? [] : [{ type: 'network' }]),
      ],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: defaultSeccomp(config.architecture),
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(options.memory === undefined ? {} : { memory: { limit: memoryLimit(options.memory), swap: memoryLimit(options.memory) } }),
        ...(options.pidsLimit === undefined ? {} : { pids: { limit: options.pidsLimit } }),
      },
      cgroupsPath: `/pith-${name}`,
    },
  };
}

/** "uid[:gid]" or "name[:group]" in the image's accounts; an empty user is root, as in every runtime. */
export function resolveUser(rootfs: string, spec: string): { uid: number; gid: number; additionalGids?: number[] } {
  if (spec === '') return { uid: 0, gid: 0 };
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  const accounts = readPasswd(rootfs);
  const account = /^\d+$/.test(u) ? accounts.find((a) => a.uid === Number(u)) : accounts.find((a) => a.name === u);
  if (!/^\d+$/.test(u) && !account) {
    throw new PithError('RUN_UNKNOWN_USER', `expected user ${JSON.stringify(u)} in the image's /etc/passwd, found ${accounts.map((a) => a.name).join(', ') || 'no accounts'}`);
  }
  const uid = account?.uid ?? Number(u);
  let gid = account?.gid ?? uid;
  if (g !== undefined) {
    const group = /^\d+$/.test(g) ? undefined : readGroups(rootfs).find((x) => x.name === g);
    if (!/^\d+$/.test(g) && !group) throw new PithError('RUN_UNKNOWN_GROUP', `expected group ${JSON.stringify(g)} in the image's /etc/group, found none`);
    gid = group?.gid ?? Number(g);
  }
  const extra = account ? readGroups(rootfs).filter((x) => x.members.includes(account.name) && x.gid !== gid).map((x) => x.gid) : [];
  return { uid, gid, ...(extra.length > 0 ? { additionalGids: extra } : {}) };
}

function mergeEnv(image: string[], extra: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of image) out.set(e.split('=', 1)[0]!, e);
  for (const e of extra) {
    const eq = e.indexOf('=');
    const key = eq === -1 ? e : e.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new PithError('RUN_BAD_ENV', `expected -e NAME=VALUE or -e NAME, found ${JSON.stringify(e)}`);
    if (eq !== -1) out.set(key, e);
    else if (process.env[key] !== undefined) out.set(key, `${key}=${process.env[key]}`);
  }
  return [...out.values()];
}

function volume(v: string): RuntimeSpec['mounts'][number] {
  const parts = v.split(':');
  const ro = parts.length === 3 && parts[2] === 'ro';
  if (parts.length < 2 || parts.length > 3 || (parts.length === 3 && parts[2] !== 'ro' && parts[2] !== 'rw') || !parts[0] || !isAbsolute(parts[1]!)) {
    throw new PithError('RUN_BAD_VOLUME', `expected -v HOST:CONTAINER[:ro|rw] with an absolute container path, found ${JSON.stringify(v)}`);
  }
  const source = resolve(parts[0]!);
  if (!existsSync(source)) throw new PithError('RUN_BAD_VOLUME', `expected the host path of -v ${v} to exist, found nothing at ${source}`);
  return { destination: parts[1]!, type: 'bind', source, options: ['rbind', 'rprivate', 'nosuid', 'nodev', ...(ro ? ['ro'] : [])] };
}

export function capability(name: string): string {
  const bare = name.toUpperCase().replace(/^CAP_/, '');
  if (!CAPABILITIES.includes(bare)) throw new PithError('RUN_BAD_CAPABILITY', `expected a capability name such as NET_BIND_SERVICE, found ${JSON.stringify(name)}`);
  return `CAP_${bare}`;
}

/** "64m", "1g", "512k", "1048576" (bytes); binary units, as docker reads them. */
export function parseBytes(text: string, what = 'a size'): number {
  const m = /^(\d+)([bkmg]?)b?$/i.exec(text.trim());
  if (!m) throw new PithError('RUN_BAD_SIZE', `expected a size such as 64m, 1g or 1048576 for ${what}, found ${JSON.stringify(text)}`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** Docker's floor: below it runc fails while setting the cgroup up ("unable to set memory limit to 10"). */
const MIN_MEMORY = 6 * 1024 ** 2;

/** A `--memory` value in bytes: a size (parseBytes) of at least 6m. */
export function memoryLimit(text: string, what = 'the memory limit'): number {
  const bytes = parseBytes(text, what);
  if (bytes < MIN_MEMORY) throw new PithError('RUN_BAD_SIZE', `expected a size of at least 6m for ${what}, found ${JSON.stringify(text)}`);
  return bytes;
}
