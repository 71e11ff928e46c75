/** Sample filesystem entries and a tar reader (tar-stream's, independent of our writer) for the oci tests. */
import { extract } from 'tar-stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FsEntry } from '../../src/fs/entry.ts';
import type { Layer } from '../../src/oci/image.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { PithError } from '../../src/errors.ts';

const enc = new TextEncoder();

export const LONG_DIR = `/usr/share/${'deep-directory-name/'.repeat(6)}end`;
export const UNICODE = '/usr/share/naïve-ünïcode-名前.txt';

/** A small tree covering every entry type, a long path, a non-ASCII name and special modes. */
export function sampleEntries(): FsEntry[] {
  return [
    { type: 'dir', path: '/usr', mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000 },
    { type: 'dir', path: '/usr/bin', mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000 },
    { type: 'dir', path: '/usr/share', mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000 },
    { type: 'file', path: '/usr/bin/hello', mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000, content: enc.encode('#!/bin/sh\necho hello\n') },
    { type: 'file', path: '/usr/bin/su', mode: 0o4755, uid: 0, gid: 0, mtime: 1_600_000_000, content: enc.encode('setuid') },
    // The link sorts before its target: the writer must put the content on the first path.
    { type: 'hardlink', path: '/usr/bin/aa-hello', target: '/usr/bin/hello', uid: 0, gid: 0, mtime: 1 },
    { type: 'hardlink', path: '/usr/bin/zz-hello', target: '/usr/bin/hello', uid: 0, gid: 0, mtime: 1 },
    { type: 'symlink', path: '/bin', target: 'usr/bin', uid: 0, gid: 0, mtime: 1_600_000_000 },
    { type: 'symlink', path: '/usr/bin/sh', target: '/usr/bin/hello', uid: 0, gid: 0, mtime: 1_600_000_000 },
    { type: 'dir', path: '/tmp', mode: 0o1777, uid: 0, gid: 0, mtime: 1_600_000_000 },
    { type: 'dir', path: '/home', mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000 },
    { type: 'dir', path: '/home/nonroot', mode: 0o700, uid: 65532, gid: 65532, mtime: 1_600_000_000 },
    { type: 'file', path: '/home/nonroot/.profile', mode: 0o600, uid: 65532, gid: 65532, mtime: 2_000_000_000, content: enc.encode('late mtime\n') },
    ...longDirs(),
    { type: 'file', path: `${LONG_DIR}/file-with-a-long-name.txt`, mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, content: enc.encode('long\n') },
    { type: 'file', path: UNICODE, mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, content: enc.encode('unicode\n') },
  ];
}

function longDirs(): FsEntry[] {
  const out: FsEntry[] = [];
  const parts = LONG_DIR.split('/').slice(3);
  let p = '/usr/share';
  for (const part of parts) {
    p += `/${part}`;
    out.push({ type: 'dir', path: p, mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000 });
  }
  return out;
}

/** Deterministic Fisher–Yates, so a failing order can be reproduced. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export interface TarMember {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  linkname: string | null;
  size: number;
  content: Buffer;
  pax: Record<string, string> | null;
}

export async function readTar(bytes: Uint8Array): Promise<TarMember[]> {
  const ex = extract();
  const out: TarMember[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header as typeof entry.header & { pax?: Record<string, string> | null };
      out.push({
        name: h.name, type: h.type ?? '', mode: h.mode ?? -1, uid: h.uid ?? -1, gid: h.gid ?? -1,
        uname: h.uname ?? '', gname: h.gname ?? '', mtime: (h.mtime?.getTime() ?? -1) / 1000,
        linkname: h.linkname ?? null, size: h.size ?? 0, content: Buffer.concat(chunks), pax: h.pax ?? null,
      });
    }
  })();
  ex.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  await done;
  return out;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pith-oci-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The layer as a writer sees one it cannot hold (over Node's buffer limit): `bytes()` throws, `stream()` hands out
 * the blob in 64 KiB pieces, each a fresh copy, and counts its uses in `streamed` — or, with `corrupt`, the blob with
 * one byte changed in the middle, which the stream notices at its end (OCI_LAYER_MISMATCH), as a real one does.
 */
export async function streamOnly(l: Layer, options: { corrupt?: boolean } = {}): Promise<Layer & { streamed: number }> {
  const blob = await l.bytes();
  const bytes = options.corrupt ? Uint8Array.from(blob, (b, i) => (i === blob.byteLength >> 1 ? b ^ 1 : b)) : blob;
  const out = {
    ...l,
    streamed: 0,
    bytes: async (): Promise<Uint8Array> => {
      throw new Error('bytes() of a layer too large to hold');
    },
    async *stream() {
      out.streamed++;
      for (let at = 0; at < bytes.byteLength; at += 1 << 16) {
        // As Layer.stream promises: other bytes fail before the last piece is handed out.
        if (at + (1 << 16) >= bytes.byteLength && digestOf(bytes) !== l.digest) throw new PithError('OCI_LAYER_MISMATCH', `stream: other bytes than ${l.digest}`);
        yield bytes.slice(at, at + (1 << 16));
      }
    },
  };
  return out;
}
