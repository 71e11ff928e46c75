/**
 * One entry of the image filesystem, as the build assembles it and as a layer tar records it. Paths are absolute,
 * normalised POSIX paths ("/usr/bin/env"); "/" itself is never an entry. Owners are numeric: an image has no
 * user database to resolve names against until pith writes one.
 */
import type { Content } from './content.ts';

export type FsEntry = FileEntry | DirEntry | SymlinkEntry | HardlinkEntry;

interface Common {
  path: string;
  uid: number;
  gid: number;
  /** Seconds since the epoch; clamped to SOURCE_DATE_EPOCH when a layer is written. */
  mtime: number;
}

export interface FileEntry extends Common {
  type: 'file';
  /** Permission bits including setuid/setgid/sticky (0o7777 mask). */
  mode: number;
  /** In memory, or on disk for large files (`content.ts`). */
  content: Content;
}

export interface DirEntry extends Common {
  type: 'dir';
  mode: number;
}

export interface SymlinkEntry extends Common {
  type: 'symlink';
  /** Kept verbatim: a link is never followed on the host, and may point anywhere inside the image. */
  target: string;
}

export interface HardlinkEntry extends Common {
  type: 'hardlink';
  /** Absolute path of the file entry it shares content with. */
  target: string;
}
