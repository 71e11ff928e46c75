/**
 * The filesystem an image's layers make, read back from the image itself: each layer decompressed, checked
 * against its diff_id, and applied over the ones below it with the OCI whiteouts (`.wh.NAME` removes NAME,
 * `.wh..wh..opq` hides what lower layers put in a directory) — what a runtime extracts, and what a scanner reads.
 * Nothing is written to the host: contents stay views of the decompressed layer tars.
 */
import { gunzip as gunzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import { PithError } from '../errors.ts';
import { digestOf, isGzipLayer, MediaType, type Digest } from './digest.ts';
import type { Image, Layer } from './image.ts';
import { readTarMembers } from './read.ts';
import { isRegularFile } from '../fs/tar.ts';

const gunzip = promisify(gunzipCb);

export type ImageFileType = 'file' | 'dir' | 'symlink' | 'hardlink';

export interface ImageFile {
  /** Absolute and normalised, as the container sees it. */
  path: string;
  type: ImageFileType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Content bytes for files (and hardlinks, the size of what they share); 0 otherwise. */
  size: number;
  /** A symlink's target as written; a hardlink's absolute target path. */
  target?: string;
  /** Index of the layer that last wrote the path. */
  layer: number;
  content?: Uint8Array;
}

export interface LayerContents {
  index: number;
  mediaType: string;
  /** Of the compressed blob, as the manifest lists it. */
  digest: Digest;
  size: number;
  diffId: Digest;
  uncompressedSize: number;
  /** The config history's `created_by` for this layer, when the image records one. */
  createdBy?: string;
  /** Every path the layer adds or changes, in tar order. */
  paths: string[];
  /** Paths the layer removes (whiteouts), and directories it makes opaque. */
  removed: string[];
}

export class Rootfs {
  readonly files = new Map<string, ImageFile>();
  readonly layers: LayerContents[] = [];
  readonly #digests = new Map<string, Digest>();

  /** The entry at `path`, following symlinks in every component (inside the image, at most 40 hops). */
  resolve(path: string): ImageFile | undefined {
    let hops = 0;
    const walk = (p: string): ImageFile | undefined => {
      const parts = p.split('/').filter((c) => c !== '' && c !== '.');
      let at = '';
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        at = part === '..' ? at.slice(0, Math.max(0, at.lastIndexOf('/'))) : `${at}/${part}`;
        const f = this.files.get(at);
        if (f?.type === 'symlink') {
          if (++hops > 40) return undefined;
          const base = f.target!.startsWith('/') ? f.target! : `${at.slice(0, at.lastIndexOf('/'))}/${f.target}`;
          return walk([base, ...parts.slice(i + 1)].join('/'));
        }
        // A missing parent is an implicit directory: layer tars need not list every directory.
      }
      return at === '' ? undefined : this.files.get(at);
    };
    return walk(path);
  }

  /** A regular file's bytes (through symlinks and hardlinks), or undefined when there is none at `path`. */
  readFile(path: string): Uint8Array | undefined {
    const f = this.resolve(path);
    if (f?.type === 'hardlink') return this.files.get(f.target!)?.content;
    return f?.type === 'file' ? f.content : undefined;
  }

  readText(path: string): string | undefined {
    const b = this.readFile(path);
    return b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  }

  /** The SHA-256 of a file's (or hardlink's) content; undefined for directories and symlinks. */
  digest(f: ImageFile): Digest | undefined {
    const content = f.type === 'hardlink' ? this.files.get(f.target!)?.content : f.content;
    if (content === undefined) return undefined;
    let d = this.#digests.get(f.path);
    if (d === undefined) this.#digests.set(f.path, (d = digestOf(content)));
    return d;
  }

  /** The paths directly inside `dir`, sorted. */
  list(dir: string): string[] {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    return [...this.files.keys()].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).sort();
  }
}

/** Reads every layer of `image` (each verified) and applies them in order. */
export async function readRootfs(image: Image, where: string = image.digest): Promise<Rootfs> {
  const fs = new Rootfs();
  const history = (image.config.history ?? []).filter((h) => !(h as { empty_layer?: boolean }).empty_layer);
  const tars = await Promise.all(image.layers.map((l, i) => layerTar(l, i, where)));
  for (const [i, l] of image.layers.entries()) {
    const tar = tars[i]!;
    const members = await readTarMembers(tar, `layer ${i} (${l.digest}) of ${where}`);
    const contents: LayerContents = {
      index: i,
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      diffId: l.diffId,
      uncompressedSize: tar.byteLength,
      ...(history[i]?.created_by === undefined ? {} : { createdBy: history[i]!.created_by }),
      paths: [],
      removed: [],
    };
    const isLower = (p: string, under: string) => (p === under || p.startsWith(`${under}/`)) && fs.files.get(p)!.layer < i;
    // Opaque markers apply to what lower layers have, whatever their position in this layer's tar.
    for (const m of members) {
      const name = `/${m.name}`;
      if (name.endsWith('/.wh..wh..opq')) {
        const dir = name.slice(0, -'/.wh..wh..opq'.length) || '/';
        for (const p of [...fs.files.keys()]) if (p !== dir && isLower(p, dir === '/' ? '' : dir)) fs.files.delete(p);
        contents.removed.push(dir);
      }
    }
    for (const m of members) {
      if (m.name === '' || m.name === '.') continue;
      const path = `/${m.name}`;
      const base = path.slice(path.lastIndexOf('/') + 1);
      if (base === '.wh..wh..opq') continue;
      if (base.startsWith('.wh.')) {
        const gone = `${path.slice(0, path.lastIndexOf('/'))}/${base.slice(4)}`;
        for (const p of [...fs.files.keys()]) if (p === gone || p.startsWith(`${gone}/`)) fs.files.delete(p);
        contents.removed.push(gone);
        continue;
      }
      const type: ImageFileType | undefined = m.type === 'directory' ? 'dir' : m.type === 'symlink' ? 'symlink' : m.type === 'link' ? 'hardlink' : isRegularFile(m) ? 'file' : undefined;
      if (type === undefined) {
        throw new PithError('SBOM_UNSUPPORTED_ENTRY', `expected files, directories, symlinks and hardlinks in layer ${i} (${l.digest}) of ${where}, found ${path} of tar type ${JSON.stringify(m.typeflag)}`);
      }
      const existing = fs.files.get(path);
      // A non-directory replacing a directory takes the directory's contents with it, as extraction does.
      if (existing?.type === 'dir' && type !== 'dir') for (const p of [...fs.files.keys()]) if (p.startsWith(`${path}/`)) fs.files.delete(p);
      const target = type === 'hardlink' ? `/${m.linkname.replace(/^\/+/, '')}` : type === 'symlink' ? m.linkname : undefined;
      const linked = type === 'hardlink' ? fs.files.get(target!) : undefined;
      fs.files.set(path, {
        path,
        type,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
        mtime: m.mtime,
        size: type === 'file' ? m.size : linked?.size ?? 0,
        ...(target === undefined ? {} : { target }),
        layer: i,
        ...(type === 'file' ? { content: m.data } : {}),
      });
      contents.paths.push(path);
    }
    fs.layers.push(contents);
  }
  return fs;
}

/** The layer's tar, checked against its diff_id (the blob itself is checked by the transport that reads it). */
async function layerTar(l: Layer, i: number, where: string): Promise<Uint8Array> {
  const blob = await l.bytes();
  let tar: Uint8Array;
  if (isGzipLayer(l.mediaType)) {
    try {
      tar = new Uint8Array(await gunzip(blob));
    } catch (e) {
      throw new PithError('OCI_LAYER_MISMATCH', `expected layer ${i} (${l.digest}) of ${where} to be gzip, found ${(e as Error).message}`, { cause: e });
    }
  } else if (l.mediaType === MediaType.layerTar) {
    tar = blob;
  } else {
    throw new PithError('OCI_LAYER_MEDIA_TYPE', `expected gzip or uncompressed tar layers in ${where}, found ${l.mediaType} for layer ${i} (${l.digest})`);
  }
  const diffId = digestOf(tar);
  if (diffId !== l.diffId) {
    throw new PithError('OCI_LAYER_MISMATCH', `expected layer ${i} (${l.digest}) of ${where} to decompress to its diff_id ${l.diffId}, found ${diffId}`);
  }
  return tar;
}
