/**
 * The `oci:DIR[:TAG]` transport: an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`).
 *
 * A new layout is assembled in a temp directory beside DIR and renamed into place. An existing layout is updated
 * in place: blobs are content-addressed, so adding them never changes what the current `index.json` refers to,
 * and `index.json` — the only mutable file — is replaced atomically last. If anything fails before that, the
 * blobs this write added are removed again, so the previous layout is left exactly as it was.
 *
 * Blobs are written a few at a time (`jobs`), each fsynced as soon as it is written, so downloads, disk writes
 * and syncs overlap; the directories are synced once, before the rename (or the new index.json) publishes them.
 * Layers a registry serves are streamed into their files as they arrive, never held whole, and hashed on the way;
 * one that does not match fails the write before anything is published. Other layers are checked against their
 * digest before they are stored, by the hash taken when their bytes were made or arrived when there is one.
 */
import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PithError } from '../errors.ts';
import { canonicalJson } from '../json.ts';
import { removeStaleTemps, tempSibling, unwritable, writeFileAtomic } from '../cache/store.ts';
import { checkOutputParent } from './files.ts';
import { digestHex, digestOf, knownDigest, MediaType, parseDigest, type Descriptor, type Digest } from './digest.ts';
import { isImageIndex, type Image, type ImageIndex, type Layer } from './image.ts';
import { checkJobs, forEachBounded } from '../net/bounded.ts';
import { fileChunks, hashChunks } from './blob-stream.ts';

export const REF_NAME = 'org.opencontainers.image.ref.name';
export const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

export interface Blob {
  digest: Digest;
  size: number;
  bytes(): Promise<Uint8Array>;
  /** For layers that have one (`Layer.stream`): the bytes as they arrive, checked by the stream itself. */
  stream?(): AsyncIterable<Uint8Array>;
}

// The OCI image-layout grammar for ref.name: components of alphanumerics joined by separators, split by "/".
const COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export function checkTag(tag: string, where: string): void {
  if (!REF.test(tag)) {
    throw new PithError('OCI_BAD_TAG', `expected a tag made of letters, digits and the separators - . _ : @ + / (like "1.0" or "latest") in ${where}, found ${JSON.stringify(tag)}`);
  }
}

/** Every blob the image or index needs, once each (images in an index may share layers), in a stable order. */
export function blobsOf(x: Image | ImageIndex): Blob[] {
  const out = new Map<Digest, Blob>();
  const add = (b: Blob) => {
    if (!out.has(b.digest)) out.set(b.digest, b);
  };
  const addBytes = (bytes: Uint8Array) => add({ digest: digestOf(bytes), size: bytes.byteLength, bytes: async () => bytes });
  const images = isImageIndex(x) ? x.images : [x];
  for (const img of images) {
    for (const l of img.layers) add(checkedLayerBlob(l));
    addBytes(img.configBytes);
    addBytes(img.manifestBytes);
  }
  if (isImageIndex(x)) addBytes(x.indexBytes);
  return [...out.values()];
}

/**
 * A layer's bytes are checked against its descriptor before they are stored under its digest — by a hash already
 * computed when the bytes were made or checked on arrival, else now; a layer's stream checks itself as it ends.
 */
export function checkedLayerBlob(l: Pick<Layer, 'digest' | 'size' | 'bytes' | 'stream'>): Blob {
  return {
    digest: l.digest,
    size: l.size,
    ...(l.stream ? { stream: () => l.stream!() } : {}),
    bytes: async () => {
      const b = await l.bytes();
      const d = knownDigest(b);
      if (d !== l.digest || b.byteLength !== l.size) {
        throw new PithError('OCI_LAYER_MISMATCH', `expected layer bytes with digest ${l.digest} and size ${l.size}, found ${d} and size ${b.byteLength}`);
      }
      return b;
    },
  };
}

/** The descriptor `index.json` (or an archive's) lists for the top object. */
export function topDescriptor(x: Image | ImageIndex, tag?: string): Descriptor {
  const annotations = tag === undefined ? undefined : { [REF_NAME]: tag };
  if (isImageIndex(x)) {
    return { mediaType: x.index.mediaType, digest: x.digest, size: x.indexBytes.byteLength, ...(annotations ? { annotations } : {}) };
  }
  return {
    mediaType: x.manifest.mediaType,
    digest: x.digest,
    size: x.manifestBytes.byteLength,
    platform: x.platform,
    ...(annotations ? { annotations } : {}),
  };
}

export function indexJson(manifests: Descriptor[], extra: Record<string, unknown> = {}): Uint8Array {
  return new TextEncoder().encode(canonicalJson({ ...extra, schemaVersion: 2, mediaType: MediaType.index, manifests }));
}

export interface LayoutResult {
  /** What index.json now lists for this write. */
  descriptor: Descriptor;
  /** Blobs this write stored (the rest were present and intact). */
  written: number;
}

export interface LayoutOptions {
  tag?: string;
  /** Blobs written at once (default 4). */
  jobs?: number;
}

export async function writeLayout(dir: string, x: Image | ImageIndex, options: LayoutOptions = {}): Promise<LayoutResult> {
  const root = resolve(dir);
  if (options.tag !== undefined) checkTag(options.tag, `oci:${dir}`);
  const jobs = checkJobs(options.jobs ?? 4, 'layout jobs (blobs written in parallel)');
  try {
    const st = await fs.lstat(root).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (st !== null && !st.isDirectory()) {
      throw new PithError('OCI_LAYOUT_NOT_DIR', `expected "${root}" to be a directory (or not to exist) for an OCI layout, found a ${st.isSymbolicLink() ? 'symlink' : 'file'}`);
    }
    if (st === null || (await fs.readdir(root)).length === 0) return await writeFresh(root, x, options.tag, jobs);
    return await updateLayout(root, blobsOf(x), topDescriptor(x, options.tag), options.tag, jobs);
  } catch (e) {
    throw unwritable(e, root, 'the OCI layout');
  }
}

/**
 * Adds blobs to an existing layout and lists `descriptor` in its index.json under `tag` (replacing what had that
 * tag): how artifacts that are not images — an SBOM manifest, a referrers index — are stored beside an image.
 */
export async function addToLayout(dir: string, blobs: Blob[], descriptor: Descriptor, tag: string): Promise<LayoutResult> {
  checkTag(tag, `oci:${dir}`);
  const root = resolve(dir);
  try {
    return await updateLayout(root, blobs, { ...descriptor, annotations: { ...descriptor.annotations, [REF_NAME]: tag } }, tag, 4);
  } catch (e) {
    throw unwritable(e, root, 'the OCI layout');
  }
}

async function writeFresh(root: string, x: Image | ImageIndex, tag: string | undefined, jobs: number): Promise<LayoutResult> {
  const parent = dirname(root);
  await checkOutputParent(root, 'the OCI layout');
  await removeStaleTemps(parent, basename(root));
  const staging = tempSibling(root);
  try {
    const blobDir = join(staging, 'blobs', 'sha256');
    // One level at a time: a recursive mkdir never returns in /proc (see makeDirs).
    for (const d of [staging, dirname(blobDir), blobDir]) await fs.mkdir(d);
    const blobs = blobsOf(x);
    await forEachBounded(blobs, jobs, (b) => writeBlob(join(blobDir, digestHex(b.digest)), b));
    const descriptor = topDescriptor(x, tag);
    await writeSynced(join(staging, 'oci-layout'), OCI_LAYOUT);
    await writeSynced(join(staging, 'index.json'), indexJson([descriptor]));
    for (const d of [blobDir, dirname(blobDir), staging]) await syncPath(d);
    // rename(2) replaces an empty directory, so an existing empty DIR is taken over atomically too.
    await fs.rename(staging, root);
    await syncPath(parent);
    return { descriptor, written: blobs.length };
  } catch (e) {
    await fs.rm(staging, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new PithError('OCI_LAYOUT_CHANGED', `"${root}" was filled by someone else while the layout was written; nothing was changed`, { cause: e });
    }
    throw e;
  }
}

async function updateLayout(root: string, blobs: Blob[], descriptor: Descriptor, tag: string | undefined, jobs: number): Promise<LayoutResult> {
  const layoutFile = join(root, 'oci-layout');
  const layoutText = await fs.readFile(layoutFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') {
      throw new PithError('OCI_NOT_A_LAYOUT', `expected "${root}" to be empty or an OCI image layout, found a non-empty directory without an oci-layout file`);
    }
    throw e;
  });
  let version: unknown;
  try {
    version = (JSON.parse(layoutText) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (version !== '1.0.0') {
    throw new PithError('OCI_NOT_A_LAYOUT', `expected ${layoutFile} to declare imageLayoutVersion "1.0.0", found ${JSON.stringify(layoutText.slice(0, 80))}`);
  }
  const index = await readIndexJson(join(root, 'index.json'));

  // Blob paths must stay inside the layout: a symlinked blobs directory would send writes elsewhere.
  const blobDir = join(root, 'blobs', 'sha256');
  for (const d of [join(root, 'blobs'), blobDir]) {
    const s = await fs.lstat(d).catch(() => null);
    if (s === null) await fs.mkdir(d);
    else if (!s.isDirectory()) {
      throw new PithError('OCI_NOT_A_LAYOUT', `expected "${d}" to be a directory inside the layout, found a ${s.isSymbolicLink() ? 'symlink' : 'file'}`);
    }
  }

  await removeStaleTemps(blobDir);
  await removeStaleTemps(root, 'index.json');
  const created: string[] = [];
  let written = 0;
  try {
    await forEachBounded(blobs, jobs, async (b) => {
      const path = join(blobDir, digestHex(b.digest));
      const state = await blobState(path, b);
      if (state === 'intact') return;
      await writeBlobAtomic(path, b);
      if (state === 'absent') created.push(path);
      written++;
    });
    // The renames of new blobs reach the disk before an index.json that refers to them.
    if (written > 0) await syncPath(blobDir);
    const manifests = index.manifests.filter((d) => refName(d) !== tag);
    const at = index.manifests.findIndex((d) => refName(d) === tag);
    manifests.splice(at === -1 ? manifests.length : at, 0, descriptor);
    await writeFileAtomic(join(root, 'index.json'), indexJson(manifests, index.extra));
    await syncPath(root);
    return { descriptor, written };
  } catch (e) {
    for (const p of created) await fs.rm(p, { force: true });
    throw e;
  }
}

function refName(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME];
}

async function blobState(path: string, b: Blob): Promise<'absent' | 'intact' | 'damaged'> {
  const s = await fs.lstat(path).catch(() => null);
  if (s === null) return 'absent';
  if (!s.isFile() || s.size !== b.size) return 'damaged';
  // Hashed as it is read: a blob already in the layout may be larger than a buffer can hold.
  return (await hashChunks(fileChunks(path))).digest === b.digest ? 'intact' : 'damaged';
}

export interface IndexJson {
  manifests: Descriptor[];
  /** Other top-level members (annotations, …), kept as found. */
  extra: Record<string, unknown>;
}

export async function readIndexJson(path: string): Promise<IndexJson> {
  return parseIndexJson(await fs.readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new PithError('OCI_BAD_INDEX', `expected ${path} to hold an OCI image index, found no such file`);
    throw e;
  }), path);
}

/** `path` names where the text came from (a file, or a member of an archive). */
export function parseIndexJson(text: string, path: string): IndexJson {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new PithError('OCI_BAD_INDEX', `expected ${path} to hold an OCI image index as JSON, found ${(e as Error).message}`, { cause: e });
  }
  const obj = parsed as { schemaVersion?: unknown; manifests?: unknown };
  if (obj === null || typeof obj !== 'object' || obj.schemaVersion !== 2 || !Array.isArray(obj.manifests)) {
    throw new PithError('OCI_BAD_INDEX', `expected ${path} to have schemaVersion 2 and a "manifests" array`);
  }
  const manifests = obj.manifests.map((d: unknown, i: number) => {
    const desc = d as Descriptor;
    parseDigest(desc?.digest, `${path} manifests[${i}]`);
    return desc;
  });
  const { schemaVersion: _v, manifests: _m, mediaType: _t, ...extra } = parsed as Record<string, unknown>;
  return { manifests, extra };
}

/** A new file, on disk before this resolves. */
async function writeSynced(path: string, data: Uint8Array | string | AsyncIterable<Uint8Array>): Promise<void> {
  const h = await fs.open(path, 'wx');
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await h.writeFile(data);
    else await writeChunks(h, data);
    await h.sync();
  } finally {
    await h.close();
  }
}

/** A blob into a new file: streamed when it can be, so a large layer is never held whole. */
async function writeBlob(path: string, b: Blob): Promise<void> {
  await writeSynced(path, b.stream ? b.stream() : await b.bytes());
}

/** A blob replacing `path` atomically (temp file, sync, rename), only once the whole of it has been checked. */
async function writeBlobAtomic(path: string, b: Blob): Promise<void> {
  if (!b.stream) return writeFileAtomic(path, await b.bytes());
  const tmp = tempSibling(path);
  try {
    await writeSynced(tmp, b.stream());
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Gathered into writes of about 1 MiB (one writev each), as a stream hands out 64 kB pieces. */
const WRITE_BATCH = 1 << 20;

async function writeChunks(h: fs.FileHandle, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  let batch: Uint8Array[] = [];
  let size = 0;
  const flush = async () => {
    let { bytesWritten } = await h.writev(batch);
    // A short write (rare on a regular file) leaves the rest to plain writes.
    for (const c of batch) {
      if (bytesWritten >= c.byteLength) {
        bytesWritten -= c.byteLength;
        continue;
      }
      let rest = c.subarray(bytesWritten);
      bytesWritten = 0;
      while (rest.byteLength > 0) rest = rest.subarray((await h.write(rest)).bytesWritten);
    }
    batch = [];
    size = 0;
  };
  for await (const c of chunks) {
    batch.push(c);
    size += c.byteLength;
    if (size >= WRITE_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
}

async function syncPath(p: string): Promise<void> {
  const h = await fs.open(p, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
