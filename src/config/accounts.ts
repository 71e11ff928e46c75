/**
 * The accounts every image has before a spec adds its own: root and nobody/nogroup as base-passwd defines them,
 * and nonroot (65532), the unprivileged default user distroless images made the convention. One table, because
 * two readers need it: assembly writes /etc/passwd and /etc/group from it, and the spec's `files:` resolve an
 * `owner:` name against it before any package is read.
 */

export interface BuiltinUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface BuiltinGroup {
  name: string;
  gid: number;
}

export const NONROOT: BuiltinUser = { name: 'nonroot', uid: 65532, gid: 65532, home: '/home/nonroot' };

export const BUILTIN_USERS: readonly BuiltinUser[] = [
  { name: 'root', uid: 0, gid: 0, home: '/root' },
  { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' },
  NONROOT,
];

export const BUILTIN_GROUPS: readonly BuiltinGroup[] = [
  { name: 'root', gid: 0 },
  { name: 'nogroup', gid: 65534 },
  { name: 'nonroot', gid: 65532 },
];
