/**
 * Atomic outputs for the transports: a file streamed into a temp file beside its target and renamed over it, and
 * tar members for the archive transports. A failure at any point removes the temp file and leaves the target as
 * it was.
 */
import { promises as fs } from 'node:fs';
import { basename, dirname } from 'node:path';
import { removeStaleTemps, tempSibling, unwritable } from '../cache/store.ts';
import { PithError } from '../errors.ts';
import { encodeHeader, padding } from './tar.ts';

export type Sink = (chunk: Uint8Array) => Promise<void>;

/** Streams `produce`'s chunks into `path` atomically (temp file, fsync, rename); `what` names the output in errors. */
export async function writeFileAtomicFrom(path: string, what: string, produce: (write: Sink) => Promise<void>, mode = 0o644): Promise<void> {
  await checkOutputParent(path, what);
  await removeStaleTemps(dirname(path), basename(path));
  const tmp = tempSibling(path);
  let renamed = false;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', mode);
    const h = handle;
    await produce(async (chunk) => {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await h.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    });
    await h.sync();
    await h.close();
    await fs.rename(tmp, path);
    renamed = true;
  } catch (e) {
    throw unwritable(e, path, what);
  } finally {
    if (!renamed) {
      await handle?.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
    }
  }
}

/** An output's directory must exist: creating a user's missing parent directories hides typos in paths. */
export async function checkOutputParent(path: string, what: string): Promise<void> {
  const dir = dirname(path);
  const found = await fs.stat(dir).then(
    (st) => (st.isDirectory() ? undefined : 'a file'),
    (e: NodeJS.ErrnoException) => (e.code === 'ENOTDIR' ? 'a path through a file' : e.code === 'ENOENT' ? 'nothing' : e.message),
  );
  if (found !== undefined) {
    throw new PithError('OCI_NO_PARENT_DIR', `expected the directory "${dir}" to exist for ${what} "${path}", found ${found}`);
  }
}

/** A member's content handed over in pieces, with its length known up front (a tar header states it first). */
export interface StreamedContent {
  size: number;
  chunks: AsyncIterable<Uint8Array>;
}

/**
 * Writes one archive member: header, content, padding to a block. Owned by root, fixed modes. Streamed content is
 * written as it comes, never held whole, and must be exactly `size` bytes long.
 */
export async function writeMember(write: Sink, name: string, mtime: number, content?: Uint8Array | StreamedContent): Promise<void> {
  if (content === undefined) {
    await write(encodeHeader({ name, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime }));
    return;
  }
  const size = content instanceof Uint8Array ? content.byteLength : content.size;
  await write(encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime }));
  if (content instanceof Uint8Array) {
    await write(content);
  } else {
    let written = 0;
    for await (const c of content.chunks) {
      written += c.byteLength;
      if (written > size) break;
      await write(c);
    }
    if (written !== size) {
      throw new PithError('OCI_LAYER_MISMATCH', `expected the archive member ${name} to be ${size} bytes long, as its header says, found ${written > size ? 'more' : `${written}`} bytes`);
    }
  }
  await write(padding(size));
}
