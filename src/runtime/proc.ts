/**
 * What the host's /proc says about a process and the container around it: its pid namespace's processes, its
 * namespaces, cgroups and their limits, capabilities, seccomp mode, rlimits, mounts, sockets (from its network
 * namespace's /proc/PID/net tables, mapped to processes through their socket file descriptors) and environment.
 * Pure readers over a `proc` root (default /proc), so each is a plain function of the files it reads.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CAPABILITIES } from './config.ts';

export interface ProcessInfo {
  /** As the host sees it. */
  pid: number;
  /** As the container sees it (the last NSpid). */
  nsPid: number;
  ppid: number;
  /** Real, effective, saved, filesystem. */
  uids: number[];
  gids: number[];
  state: string;
  name: string;
  cmdline: string[];
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

const link = (path: string): string | undefined => {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
};

/** /proc/PID/status as key → value. */
export function procStatus(pid: number, proc = '/proc'): Record<string, string> | undefined {
  const text = read(join(proc, String(pid), 'status'));
  if (text === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export function processInfo(pid: number, proc = '/proc'): ProcessInfo | undefined {
  const st = procStatus(pid, proc);
  if (!st) return undefined;
  const nums = (v: string | undefined) => (v ?? '').split(/\s+/).filter((x) => x !== '').map(Number);
  const nsPids = nums(st['NSpid']);
  const cmdline = (read(join(proc, String(pid), 'cmdline')) ?? '').split('\0');
  if (cmdline[cmdline.length - 1] === '') cmdline.pop();
  return {
    pid,
    nsPid: nsPids[nsPids.length - 1] ?? pid,
    ppid: Number(st['PPid'] ?? 0),
    uids: nums(st['Uid']),
    gids: nums(st['Gid']),
    state: st['State'] ?? '?',
    name: st['Name'] ?? '',
    cmdline,
  };
}

/** Every numeric entry of /proc. */
export function allPids(proc = '/proc'): number[] {
  return readdirSync(proc).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
}

/** The processes in `pid`'s pid namespace, by host pid. */
export function namespaceProcesses(pid: number, proc = '/proc'): ProcessInfo[] {
  const ns = link(join(proc, String(pid), 'ns', 'pid'));
  if (ns === undefined) return [];
  return allPids(proc).flatMap((p) => {
    if (link(join(proc, String(p), 'ns', 'pid')) !== ns) return [];
    const info = processInfo(p, proc);
    return info ? [info] : [];
  });
}

export interface Namespace {
  type: string;
  /** e.g. "net:[4026532291]". */
  id: string;
  /** Whether the host (pith's own process) is in the same one. */
  shared: boolean;
}

export function namespaces(pid: number, proc = '/proc'): Namespace[] {
  const types = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'];
  return types.flatMap((type) => {
    const id = link(join(proc, String(pid), 'ns', type));
    return id === undefined ? [] : [{ type, id, shared: id === link(join(proc, 'self', 'ns', type)) }];
  });
}

export interface CgroupInfo {
  /** "memory,…" (v1 controllers) or "" (v2). */
  controllers: string;
  path: string;
}

export function cgroups(pid: number, proc = '/proc'): CgroupInfo[] {
  return (read(join(proc, String(pid), 'cgroup')) ?? '').split('\n').flatMap((line) => {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    return m ? [{ controllers: m[1]!, path: m[2]! }] : [];
  });
}

/**
 * The host directory of each of the process's cgroups, found through the host's own cgroup mounts (`hostMounts`,
 * from `mounts('self')`): v1 hierarchies by their controllers (or name=), v2 as the cgroup2 mount.
 */
export function cgroupDirs(groups: CgroupInfo[], hostMounts: MountInfo[]): Array<CgroupInfo & { dir: string }> {
  return groups.flatMap((g) => {
    const m = hostMounts.find((h) => (g.controllers === '' ? h.type === 'cgroup2' : h.type === 'cgroup' && g.controllers.split(',').every((c) => h.superOptions.split(',').includes(c))));
    return m ? [{ ...g, dir: join(m.target, g.path) }] : [];
  });
}

/** Memory and pids limits from the cgroup filesystem (v1 or v2), when readable; "max" means none. */
export function cgroupLimits(groups: CgroupInfo[], hostMounts: MountInfo[]): { memory?: string; pids?: string } {
  const dirs = cgroupDirs(groups, hostMounts);
  const v1 = (controller: string) => dirs.find((d) => d.controllers.split(',').includes(controller));
  const v2 = dirs.find((d) => d.controllers === '');
  const value = (controller: string, v1File: string, v2File: string) => {
    const d = v1(controller);
    const text = d ? read(join(d.dir, v1File)) : v2 ? read(join(v2.dir, v2File)) : undefined;
    return text?.trim();
  };
  const out: { memory?: string; pids?: string } = {};
  const memory = value('memory', 'memory.limit_in_bytes', 'memory.max');
  // cgroup v1 writes "no limit" as the largest page-aligned 64-bit value.
  if (memory !== undefined) out.memory = /^\d+$/.test(memory) && BigInt(memory) >= 2n ** 62n ? 'max' : memory;
  const pids = value('pids', 'pids.max', 'pids.max');
  if (pids !== undefined) out.pids = pids;
  return out;
}

/** Capability names in a /proc status mask (hex). */
export function capabilityNames(mask: string): string[] {
  const bits = BigInt(`0x${mask || '0'}`);
  return CAPABILITIES.filter((_, i) => (bits >> BigInt(i)) & 1n);
}

export interface Security {
  capabilities: { effective: string[]; permitted: string[]; bounding: string[]; ambient: string[] };
  /** disabled, strict or filter. */
  seccomp: string;
  noNewPrivileges: boolean;
}

export function security(pid: number, proc = '/proc'): Security | undefined {
  const st = procStatus(pid, proc);
  if (!st) return undefined;
  return {
    capabilities: {
      effective: capabilityNames(st['CapEff'] ?? ''),
      permitted: capabilityNames(st['CapPrm'] ?? ''),
      bounding: capabilityNames(st['CapBnd'] ?? ''),
      ambient: capabilityNames(st['CapAmb'] ?? ''),
    },
    seccomp: ['disabled', 'strict', 'filter'][Number(st['Seccomp'] ?? 0)] ?? `mode ${st['Seccomp']}`,
    noNewPrivileges: st['NoNewPrivs'] === '1',
  };
}

export interface Rlimit {
  name: string;
  soft: string;
  hard: string;
  units: string;
}

export function rlimits(pid: number, proc = '/proc'): Rlimit[] {
  const lines = (read(join(proc, String(pid), 'limits')) ?? '').split('\n').slice(1);
  return lines.flatMap((line) => {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)\s*(\S*)\s*$/.exec(line);
    return m ? [{ name: m[1]!.trim(), soft: m[2]!, hard: m[3]!, units: m[4]! }] : [];
  });
}

export interface MountInfo {
  target: string;
  type: string;
  source: string;
  /** The mount's own options (ro, nosuid, …). */
  options: string;
  /** The filesystem's (for cgroup v1: its controllers). */
  superOptions: string;
}

export function mounts(pid: number | 'self', proc = '/proc'): MountInfo[] {
  return (read(join(proc, String(pid), 'mountinfo')) ?? '').split('\n').flatMap((line) => {
    const [left, right] = line.split(' - ');
    if (!left || !right) return [];
    const l = left.split(' ');
    const r = right.split(' ');
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    return [{ target: unescape(l[4]!), type: r[0]!, source: unescape(r[1] ?? ''), options: l[5]!, superOptions: r[2] ?? '' }];
  });
}

export interface Socket {
  protocol: 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'unix';
  local: string;
  remote?: string;
  /** LISTEN, ESTABLISHED, … (tcp); for udp and unix, what the kernel reports. */
  state: string;
  inode: number;
  /** The container processes holding it (host pids). */
  pids: number[];
}

const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];

/** "0100007F:1F90" → "127.0.0.1:8080"; IPv6 as four host-order 32-bit words. */
export function parseAddress(hex: string): string {
  const [addr, port] = hex.split(':') as [string, string];
  const p = parseInt(port, 16);
  if (addr.length === 8) {
    const n = Buffer.from(addr, 'hex').reverse();
    return `${[...n].join('.')}:${p}`;
  }
  const words: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    const b = Buffer.from(addr.slice(i, i + 8), 'hex').reverse();
    words.push(b.subarray(0, 2).toString('hex'), b.subarray(2, 4).toString('hex'));
  }
  const text = words.map((w) => w.replace(/^0+(?=.)/, '')).join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  return `[${text}]:${p}`;
}

/** The sockets of `pid`'s network namespace, each with the processes of `holders` that have it open. */
export function sockets(pid: number, holders: number[], proc = '/proc'): Socket[] {
  const owners = new Map<number, number[]>();
  for (const h of holders) {
    let fds: string[];
    try {
      fds = readdirSync(join(proc, String(h), 'fd'));
    } catch {
      continue;
    }
    for (const fd of fds) {
      const m = /^socket:\[(\d+)\]$/.exec(link(join(proc, String(h), 'fd', fd)) ?? '');
      if (m) owners.set(Number(m[1]), [...new Set([...(owners.get(Number(m[1])) ?? []), h])]);
    }
  }
  const out: Socket[] = [];
  for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    const lines = (read(join(proc, String(pid), 'net', protocol)) ?? '').split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const st = parseInt(f[3]!, 16);
      const inode = Number(f[9]);
      const udp = protocol.startsWith('udp');
      out.push({
        protocol,
        local: parseAddress(f[1]!),
        ...(f[2]!.replace(/[0:]/g, '') === '' ? {} : { remote: parseAddress(f[2]!) }),
        state: udp ? (st === 7 ? 'UNCONN' : 'ESTABLISHED') : TCP_STATES[st] ?? String(st),
        inode,
        pids: owners.get(inode) ?? [],
      });
    }
  }
  const unix = (read(join(proc, String(pid), 'net', 'unix')) ?? '').split('\n').slice(1);
  for (const line of unix) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    const inode = Number(f[6]);
    // Only the container's own: the unix table lists every socket of the namespace, the host's too when shared.
    if (!owners.has(inode)) continue;
    out.push({ protocol: 'unix', local: f[7] ?? '', state: parseInt(f[3]!, 16) & 0x10000 ? 'LISTEN' : ['', 'UNCONNECTED', 'CONNECTING', 'CONNECTED', 'DISCONNECTING'][parseInt(f[5]!, 16)] ?? f[5]!, inode, pids: owners.get(inode)! });
  }
  return out;
}

/** The environment of `pid`, values replaced by "<redacted>" unless `show`. */
export function environment(pid: number, show: boolean, proc = '/proc'): string[] {
  const text = read(join(proc, String(pid), 'environ'));
  if (text === undefined) return [];
  return text.split('\0').filter((e) => e !== '').map((e) => (show ? e : `${e.split('=', 1)[0]}=<redacted>`));
}
