/**
 * Reading a container's files from the host — an unpacked rootfs, or a live container's `/proc/PID/root` — the way
 * the container sees them: its symlinks resolve inside its root (an absolute link names the container's path, not
 * the host's, and `..` stops at the root), so a hostile image cannot make pith read a host file.
 */
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The host path of `path` inside `root`, with every symlink resolved inside the root; undefined if too deep. */
export function resolveInRoot(root: string, path: string): string | undefined {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  for (let hops = 0; parts.length > 0;) {
    const part = parts.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let link: string | undefined;
    try {
      link = lstatSync(host).isSymbolicLink() ? readlinkSync(host) : undefined;
    } catch {
      link = undefined;
    }
    if (link === undefined) {
      done.push(part);
      continue;
    }
    if (++hops > 40) return undefined;
    parts.unshift(...link.split('/').filter((p) => p !== '' && p !== '.'));
    if (link.startsWith('/')) done.length = 0;
  }
  return join(root, ...done);
}

/** A regular file's text inside `root`, or undefined when there is none (or it cannot be read). */
export function readTextInRoot(root: string, path: string): string | undefined {
  const host = resolveInRoot(root, path);
  if (host === undefined) return undefined;
  try {
    if (!lstatSync(host).isFile()) return undefined;
    return readFileSync(host, 'utf8');
  } catch {
    return undefined;
  }
}

/** The names in a directory inside `root`, sorted; empty when it is missing. */
export function listInRoot(root: string, path: string): string[] {
  const host = resolveInRoot(root, path);
  if (host === undefined) return [];
  try {
    return readdirSync(host).sort();
  } catch {
    return [];
  }
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home?: string;
}

/** /etc/passwd entries inside `root`. */
export function readPasswd(root: string): Account[] {
  return (readTextInRoot(root, '/etc/passwd') ?? '').split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return [];
    return [{ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), ...(f[5] ? { home: f[5] } : {}) }];
  });
}

/** /etc/group entries inside `root`: name, gid and members. */
export function readGroups(root: string): Array<{ name: string; gid: number; members: string[] }> {
  return (readTextInRoot(root, '/etc/group') ?? '').split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 3 || !/^\d+$/.test(f[2]!)) return [];
    return [{ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter((m) => m !== '') }];
  });
}
