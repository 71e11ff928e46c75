/**
 * An image's root filesystem on disk, unpacked once per image digest into the cache (`<cache>/rootfs/<hex>/rootfs`)
 * and shared, read-only, by every container of that image. The layers are read and verified by `readRootfs` (each
 * blob against its digest by the transport, each tar against its diff_id, whiteouts applied in memory), each file's
 * content written to a staging directory beside the rootfs as it streams past (no layer or file is ever held in
 * memory), then the tree is made by pith itself — never by a tar program — with each surviving file's content
 * renamed into place, so nothing lands outside the rootfs: every path is checked to
 * have no `..` component and no ancestor that is anything but a directory pith made, symlinks are only ever
 * created as leaves, and a hardlink may only name a regular file already written. The tree is prepared in a temp
 * directory beside its final place and renamed into it, so an interrupted unpack leaves nothing half-made.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { PithError } from '../errors.ts';
import { digestHex } from '../oci/digest.ts';
import type { Image } from '../oci/image.ts';
import { readRootfs, type ImageFile, type Rootfs } from '../oci/rootfs.ts';
import { makeDirs, removeStaleTemps, tempSibling } from '../cache/store.ts';
import { compareStrings } from '../order.ts';

/** Written last: a rootfs directory without it is not a complete unpack. */
const COMPLETE = 'complete';

/** Mount points a runtime needs; made here so it never has to create them in the shared rootfs. */
const MOUNT_POINTS = ['/proc', '/sys', '/dev', '/tmp'];

export interface UnpackedImage {
  /** The rootfs directory (host path). */
  rootfs: string;
  /** Whether this call unpacked it (false: the cache had it). */
  unpacked: boolean;
}

/** The cached rootfs of `image`, unpacking it first when the cache does not have it. */
export async function unpackImage(image: Image, cacheDir: string): Promise<UnpackedImage> {
  const dir = join(cacheDir, 'rootfs', digestHex(image.digest));
  const rootfs = join(dir, 'rootfs');
  if (await exists(join(dir, COMPLETE))) return { rootfs, unpacked: false };
  await makeDirs(join(cacheDir, 'rootfs'));
  await removeStaleTemps(join(cacheDir, 'rootfs'), digestHex(image.digest));
  const tmp = tempSibling(dir);
  try {
    await fs.mkdir(tmp, { mode: 0o700 });
    await extractImage(image, join(tmp, 'rootfs'));
    await fs.writeFile(join(tmp, COMPLETE), `${image.digest}\n`);
    try {
      await fs.rename(tmp, dir);
    } catch (e) {
      // Another pith unpacked the same digest meanwhile: its tree is the same, use it.
      if (!(await exists(join(dir, COMPLETE)))) throw e;
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  // The outer directory stays private to root; the rootfs keeps the image's own modes.
  await fs.chmod(dir, 0o711);
  return { rootfs, unpacked: true };
}

/** Writes the image's filesystem under `root` (which must not exist yet). */
export async function extractImage(image: Image, root: string): Promise<void> {
  // Every file's content lands in the staging directory as its layer streams in; those that survive the whiteouts
  // and later layers are renamed into the tree, the rest go with the directory.
  const staging = tempSibling(root);
  await fs.mkdir(staging, { mode: 0o700 });
  try {
    let n = 0;
    const tree = await readRootfs(image, image.digest, {
      keep: () => false,
      store: async (_file, pieces) => {
        const path = join(staging, String(n++));
        await writeChunksTo(path, pieces);
        return path;
      },
    });
    await writeTree(tree, image.digest, root);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** A new file (mode 0600) holding the pieces, written as they come. */
async function writeChunksTo(path: string, pieces: AsyncIterable<Uint8Array>): Promise<void> {
  const h = await fs.open(path, 'wx', 0o600);
  try {
    for await (const piece of pieces) {
      for (let at = 0; at < piece.byteLength; ) at += (await h.write(piece, at, piece.byteLength - at)).bytesWritten;
    }
  } finally {
    await h.close();
  }
}

async function writeTree(tree: Rootfs, where: string, root: string): Promise<void> {
  await fs.mkdir(root, { mode: 0o755 });
  const files = [...tree.files.values()].sort((a, b) => compareStrings(a.path, b.path));
  const made = new Map<string, ImageFile['type']>([['', 'dir']]);
  const asRoot = process.getuid?.() === 0;
  const dirModes: Array<[string, ImageFile]> = [];

  /** Makes the missing parents of `path` as plain directories; refuses any parent that is not a directory. */
  const parents = async (path: string) => {
    const parts = path.split('/').slice(1, -1);
    let at = '';
    for (const part of parts) {
      at = `${at}/${part}`;
      const kind = made.get(at);
      if (kind === undefined) {
        await fs.mkdir(root + at, { mode: 0o755 });
        made.set(at, 'dir');
      } else if (kind !== 'dir') {
        throw new PithError('RUN_UNSAFE_PATH', `expected ${path} in ${where} to be reached through directories only, found ${at} is a ${kind}: refusing to write through it`);
      }
    }
  };

  for (const f of files) {
    if (f.path.split('/').some((c) => c === '..' || c === '.')) {
      throw new PithError('RUN_UNSAFE_PATH', `expected paths inside the root in ${where}, found ${JSON.stringify(f.path)}`);
    }
    await parents(f.path);
    const host = root + f.path;
    switch (f.type) {
      case 'dir':
        if (made.get(f.path) !== 'dir') await fs.mkdir(host, { mode: 0o700 });
        dirModes.push([host, f]);
        break;
      case 'file':
        // Its content, staged as the layer was read; the path is new (each is written once, parents checked above).
        await fs.rename(f.stored!, host);
        break;
      case 'symlink':
        await fs.symlink(f.target!, host);
        break;
      case 'hardlink': {
        if (made.get(f.target!) !== 'file') {
          throw new PithError('RUN_UNSAFE_PATH', `expected hardlink ${f.path} in ${where} to name a regular file written before it, found ${f.target}`);
        }
        await fs.link(root + f.target!, host);
        break;
      }
    }
    made.set(f.path, f.type === 'hardlink' ? 'file' : f.type);
    if (f.type === 'symlink') {
      if (asRoot) await fs.lchown(host, f.uid, f.gid);
    } else if (f.type === 'file') {
      // A hardlink shares its target's inode, owner and mode: its own header's are not applied over them.
      if (asRoot) await fs.chown(host, f.uid, f.gid);
      await fs.chmod(host, f.mode & 0o7777);
    }
  }
  for (const point of MOUNT_POINTS) {
    if (made.get(point) === undefined) await fs.mkdir(root + point, { mode: point === '/tmp' ? 0o1777 : 0o755 });
  }
  // Directory modes last, deepest first, so a read-only directory never stops its own contents being written.
  for (const [host, f] of dirModes.reverse()) {
    if (asRoot) await fs.chown(host, f.uid, f.gid);
    await fs.chmod(host, f.mode & 0o7777);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}
