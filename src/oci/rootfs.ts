/**
 * The filesystem an image's layers make, read back from the image itself: each layer decompressed as it streams in,
 * checked against its diff_id, and applied over the ones below it with the OCI whiteouts (`.wh.NAME` removes NAME,
 * `.wh..wh..opq` hides what lower layers put in a directory) — what a runtime extracts, and what a scanner reads.
 *
 * No layer is ever held whole (a layer may be larger than a buffer can be): every file's SHA-256 is taken as it
 * passes, and only the contents a caller asks to keep stay in memory (`keep`: by default files up to 1 MiB); a
 * caller that writes files out (`pith run`'s unpack) is handed each file's content as it passes (`store`).
 */
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { PithError } from '../errors.ts';
import { digestOf, type Digest } from './digest.ts';
import type { Image, Layer } from './image.ts';
import { asOciError } from './read.ts';
import { isRegularFile, memberName, readTar, streamSource, type TarHeader } from '../fs/tar.ts';
import { layerTarChunks } from './blob-stream.ts';

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
  /** A file's bytes, when they were kept (`RootfsOptions.keep`). */
  content?: Uint8Array;
  /** SHA-256 of a file's bytes, taken as the layer was read. */
  sha256?: Digest;
  /** SHA-1 (hex) of a file's bytes, for the layers `RootfsOptions.sha1` names. */
  sha1?: string;
  /** What `RootfsOptions.store` answered for a file's bytes (e.g. where on disk it put them). */
  stored?: string;
}

/** Files up to this size keep their content unless `keep` says otherwise. */
export const KEEP_UP_TO = 1 << 20;

export interface RootfsOptions {
  /** Whether a file's content stays in memory (`readFile` answers only for those). Default: files up to 1 MiB. */
  keep?: (path: string, size: number) => boolean;
  /** Layers whose files' SHA-1 is taken too (SPDX's package verification code wants them). */
  sha1?: (layer: Pick<LayerContents, 'index' | 'createdBy'>) => boolean;
  /**
   * Takes every file's content as it passes, all of it, before the next file is read; its answer is kept as
   * `stored`. Pieces are only valid until the next is asked for.
   */
  store?: (file: { path: string; layer: number; size: number }, pieces: AsyncIterable<Uint8Array>) => Promise<string>;
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

  /**
   * A regular file's bytes (through symlinks and hardlinks), or undefined when there is none at `path` — or when
   * its content was not kept (`RootfsOptions.keep`).
   */
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
    const file = f.type === 'hardlink' ? this.files.get(f.target!) : f;
    if (file?.sha256 !== undefined) return file.sha256;
    // A Rootfs made by hand (a live container's files) has contents but no digests.
    const content = file?.content;
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

/** A member of a layer as the rootfs needs it: its header, and for a file what was taken of its content. */
interface LayerMember extends Omit<TarHeader, 'offset'>, Pick<ImageFile, 'content' | 'sha256' | 'sha1' | 'stored'> {}

/** Reads every layer of `image` (each verified, all at once, as streams) and applies them in order. */
export async function readRootfs(image: Image, where: string = image.digest, options: RootfsOptions = {}): Promise<Rootfs> {
  const fs = new Rootfs();
  const history = (image.config.history ?? []).filter((h) => !(h as { empty_layer?: boolean }).empty_layer);
  const read = await Promise.all(image.layers.map((l, i) => readLayer(l, i, history[i]?.created_by, `layer ${i} (${l.digest}) of ${where}`, options)));
  for (const [i, l] of image.layers.entries()) {
    const { members, uncompressedSize } = read[i]!;
    const contents: LayerContents = {
      index: i,
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      diffId: l.diffId,
      uncompressedSize,
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
      const type = fileType(m);
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
        ...(m.content === undefined ? {} : { content: m.content }),
        ...(m.sha256 === undefined ? {} : { sha256: m.sha256 }),
        ...(m.sha1 === undefined ? {} : { sha1: m.sha1 }),
        ...(m.stored === undefined ? {} : { stored: m.stored }),
      });
      contents.paths.push(path);
    }
    fs.layers.push(contents);
  }
  return fs;
}

function fileType(m: Pick<TarHeader, 'type'>): ImageFileType | undefined {
  return m.type === 'directory' ? 'dir' : m.type === 'symlink' ? 'symlink' : m.type === 'link' ? 'hardlink' : isRegularFile(m) ? 'file' : undefined;
}

/**
 * One layer's members, its tar streamed out of the blob and checked against its diff_id (the blob itself is checked
 * by the transport that reads it): each file's content hashed as it passes, kept or stored as `options` say.
 */
async function readLayer(l: Layer, index: number, createdBy: string | undefined, where: string, options: RootfsOptions): Promise<{ members: LayerMember[]; uncompressedSize: number }> {
  const keep = options.keep ?? ((_path: string, size: number) => size <= KEEP_UP_TO);
  const sha1 = options.sha1?.({ index, ...(createdBy === undefined ? {} : { createdBy }) }) ?? false;
  let uncompressedSize = 0;
  const counted = async function* () {
    for await (const c of layerTarChunks(l, where)) {
      uncompressedSize += c.byteLength;
      yield c;
    }
  };
  const members: LayerMember[] = [];
  try {
    for await (const entry of readTar(streamSource(counted()), { where })) {
      const { content: _c, chunks: _p, offset: _o, ...h } = entry;
      const m: LayerMember = { ...h, name: memberName(h.name) };
      members.push(m);
      if (!isRegularFile(h)) continue;
      const path = `/${m.name}`;
      const kept = keep(path, h.size);
      if (kept && h.size > bufferConstants.MAX_LENGTH) {
        throw new PithError('CONTENT_TOO_LARGE', `expected ${path} in ${where} to be at most ${bufferConstants.MAX_LENGTH} bytes to read it whole, found ${h.size} bytes`);
      }
      const hash = createHash('sha256');
      const hash1 = sha1 ? createHash('sha1') : undefined;
      // Pieces are views of the stream's buffers: a kept file's are copied out as they pass.
      const content = kept ? new Uint8Array(h.size) : undefined;
      const taken = async function* () {
        let at = 0;
        for await (const piece of entry.chunks()) {
          hash.update(piece);
          hash1?.update(piece);
          content?.set(piece, at);
          at += piece.byteLength;
          yield piece;
        }
      };
      if (options.store) m.stored = await options.store({ path, layer: index, size: h.size }, taken());
      else for await (const _ of taken());
      m.sha256 = `sha256:${hash.digest('hex')}`;
      if (hash1) m.sha1 = hash1.digest('hex');
      if (content) m.content = content;
    }
  } catch (e) {
    throw asOciError(e);
  }
  return { members, uncompressedSize };
}
