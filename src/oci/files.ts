/**
 * Atomic outputs for the transports: a file streamed into a temp file beside its target and renamed over it, and
 * tar members for the archive transports. A failure at any point removes the temp file and leaves the target as
 * it was.
 */
import { promises as fs } from 'node:fs';
import { basename, dirname } from 'node:path';
import { removeStaleTemps, tempSibling } from '../cache/store.ts';
import { PithError } from '../errors.ts';
import { encodeHeader, padding } from './tar.ts';

export type Sink = (chunk: Uint8Array) => Promise<void>;

/** Streams `produce`'s chunks into `path` atomically (temp file, fsync, rename). */
export async function writeFileAtomicFrom(path: string, produce: (write: Sink) => Promise<void>, mode = 0o644): Promise<void> {
  await checkParent(path);
  await removeStaleTemps(dirname(path), basename(path));
  const tmp = tempSibling(path);
  const handle = await fs.open(tmp, 'wx', mode);
  let renamed = false;
  try {
    await produce(async (chunk) => {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    });
    await handle.sync();
    await handle.close();
    await fs.rename(tmp, path);
    renamed = true;
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
    }
  }
}

/** The output's directory must exist: creating a user's missing parent directories hides typos in paths. */
async function checkParent(path: string): Promise<void> {
  const dir = dirname(path);
  const st = await fs.stat(dir).catch(() => null);
  if (st === null || !st.isDirectory()) {
    throw new PithError('OCI_NO_PARENT_DIR', `expected the directory "${dir}" to exist for output "${path}", found ${st === null ? 'nothing' : 'a non-directory'}`);
  }
}

/** Writes one archive member: header, content, padding to a block. Owned by root, fixed modes. */
export async function writeMember(write: Sink, name: string, mtime: number, content?: Uint8Array): Promise<void> {
  if (content === undefined) {
    await write(encodeHeader({ name, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime }));
    return;
  }
  await write(encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: content.byteLength, mtime }));
  await write(content);
  await write(padding(content.byteLength));
}
