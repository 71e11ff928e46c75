/**
 * Reading images back into the `Image`/`ImageIndex` model from the local transports — `oci:`, `oci-archive:` and
 * `docker-archive:` — and, through `readGraph`, from any store that hands out manifests and blobs by descriptor
 * (the registry reader uses it too). So every source copies to every destination through one model.
 *
 * Manifests, indexes and configs are read when the image is opened; layers stay where they are until a writer
 * asks for their bytes. Every byte is checked against the digest and size that name it before it is used, and the
 * manifest bytes are kept exactly as found, so a copy keeps the image's digest.
 */
import { promises as fs } from 'node:fs';
import { posix, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { PithError, type ErrorCode } from '../errors.ts';
import { canonicalJson } from '../json.ts';
import { describe, digestHex, digestOf, DockerMediaType, isDigest, knownDigest, MediaType, noteDigest, parseDigest, type Descriptor, type Digest, type Platform } from './digest.ts';
import { platformString, type Image, type ImageIndex, type Layer, type OciConfig, type OciIndex, type OciManifest } from './image.ts';
import { OCI_LAYOUT, parseIndexJson, readIndexJson, REF_NAME, type IndexJson } from './layout.ts';
import { normaliseRepoTag } from './docker-archive.ts';
import { isRegularFile, memberName, readTar, TarError, TarFile, type TarSource } from '../fs/tar.ts';
import { checkedChunks, fileChunks, gatherChunks, gzipChunks, holdable, layerTarChunks } from './blob-stream.ts';
import { compressLayer } from './gzip.ts';

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.index, DockerMediaType.manifestList]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.manifest, DockerMediaType.manifest]);

/** Where `readGraph` gets content; each answer is already checked against the descriptor it was asked for. */
export interface ContentSource {
  /** Names the source in messages, e.g. "oci:out" or a registry URL. */
  where: string;
  manifest(d: Descriptor): Promise<Uint8Array>;
  blob(d: Descriptor): Promise<Uint8Array>;
  /** A blob as it arrives, checked as `Layer.stream` promises, for layers a writer can store without holding. */
  stream?(d: Descriptor): AsyncIterable<Uint8Array>;
}

/** Throws `code` unless `bytes` are exactly what `d` names (`digest`: theirs, when hashed as they arrived). */
export function checkContent(bytes: Uint8Array, d: Pick<Descriptor, 'digest' | 'size'>, code: ErrorCode, where: string, digest = knownDigest(bytes)): Uint8Array {
  noteDigest(bytes, digest);
  checkDigest(d, digest, bytes.byteLength, code, where);
  return bytes;
}

/** Throws `code` unless content of this digest and size is what `d` names. */
export function checkDigest(d: Pick<Descriptor, 'digest' | 'size'>, digest: Digest, size: number, code: ErrorCode, where: string): void {
  if (digest !== d.digest || (d.size !== undefined && size !== d.size)) {
    throw new PithError(code, `expected ${d.digest} (${d.size} bytes) from ${where}, found ${digest} (${size} bytes)`, {
      details: { expected: d.digest, found: digest, where },
    });
  }
}

/** The media type of a manifest or index: its descriptor's, else the one inside it. */
export function mediaTypeOf(bytes: Uint8Array, fallback?: string): string {
  if (fallback) return fallback;
  const parsed = parseJson(bytes, 'a manifest') as { mediaType?: unknown; manifests?: unknown };
  if (typeof parsed.mediaType === 'string') return parsed.mediaType;
  return Array.isArray(parsed.manifests) ? MediaType.index : MediaType.manifest;
}

/** An image or index from its top manifest's bytes (already verified), reading what it refers to from `source`. */
export async function readGraph(top: Descriptor, bytes: Uint8Array, source: ContentSource): Promise<Image | ImageIndex> {
  const mediaType = mediaTypeOf(bytes, top.mediaType);
  if (INDEX_TYPES.has(mediaType)) {
    const index = parseJson(bytes, `the index ${top.digest} in ${source.where}`) as OciIndex;
    if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
      throw new PithError('OCI_BAD_MANIFEST', `expected the index ${top.digest} in ${source.where} to have schemaVersion 2 and a "manifests" array`);
    }
    const images = await Promise.all(index.manifests.map(async (d, i) => {
      parseDigest(d?.digest, `manifests[${i}] of the index ${top.digest} in ${source.where}`);
      if (!MANIFEST_TYPES.has(d.mediaType)) {
        throw new PithError('OCI_UNSUPPORTED_MANIFEST', `expected the index ${top.digest} in ${source.where} to list image manifests, found ${d.mediaType} (${d.digest}) at manifests[${i}]`);
      }
      return readImageManifest(d, await source.manifest(d), source);
    }));
    return { index: { ...index, mediaType }, indexBytes: bytes, digest: top.digest, images };
  }
  if (MANIFEST_TYPES.has(mediaType)) return readImageManifest({ ...top, mediaType }, bytes, source);
  throw new PithError('OCI_UNSUPPORTED_MANIFEST', `expected an image manifest or index (${[...MANIFEST_TYPES, ...INDEX_TYPES].join(', ')}) at ${top.digest} in ${source.where}, found ${mediaType}`);
}

async function readImageManifest(d: Descriptor, bytes: Uint8Array, source: ContentSource): Promise<Image> {
  const where = `the manifest ${d.digest} in ${source.where}`;
  const manifest = parseJson(bytes, where) as OciManifest;
  if (manifest.schemaVersion !== 2 || !isDigest(manifest.config?.digest) || !Array.isArray(manifest.layers)) {
    throw new PithError('OCI_BAD_MANIFEST', `expected ${where} to have schemaVersion 2, a config descriptor and a "layers" array`);
  }
  manifest.layers.forEach((l, i) => parseDigest(l?.digest, `layers[${i}] of ${where}`));
  const configBytes = await source.blob(manifest.config);
  const config = parseJson(configBytes, `the config ${manifest.config.digest} of ${where}`) as OciConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new PithError('OCI_NOT_AN_IMAGE', `expected the config of ${where} (${manifest.config.mediaType}) to list one rootfs diff_id per layer (${manifest.layers.length}), found ${Array.isArray(diffIds) ? diffIds.length : 'none'}: is it an artifact rather than an image?`);
  }
  const layers: Layer[] = manifest.layers.map((l, i) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    diffId: parseDigest(diffIds[i], `rootfs.diff_ids[${i}] of the config of ${where}`),
    bytes: () => source.blob(l),
    ...(source.stream ? { stream: () => source.stream!(l) } : {}),
  }));
  const platform: Platform = d.platform ?? {
    architecture: String(config.architecture),
    os: String(config.os),
    ...(config.variant ? { variant: config.variant } : {}),
  };
  return { manifest: { ...manifest, mediaType: d.mediaType }, manifestBytes: bytes, digest: d.digest, config, configBytes, layers, platform };
}

/** One platform of an index ("linux/arm64", "linux/arm/v7"); an image is returned as is when it matches. */
/** The platform images of an image or index (one, when `platform` picks it). */
export function platformImages(x: Image | ImageIndex, options: { platform?: string } = {}): Image[] {
  if (options.platform !== undefined) return [selectPlatform(x, options.platform)];
  return 'indexBytes' in x ? x.images : [x];
}

export function selectPlatform(x: Image | ImageIndex, platform: string): Image {
  const images = 'indexBytes' in x ? x.images : [x];
  const want = platform.split('/');
  const found = images.find((img) => {
    const have = platformString(img.platform).split('/');
    return have[0] === want[0] && have[1] === want[1] && (want[2] === undefined || have[2] === want[2]);
  });
  if (!found) {
    throw new PithError('OCI_NO_SUCH_PLATFORM', `expected an image for ${platform}, found ${images.map((i) => platformString(i.platform)).join(', ')}`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------- oci: and oci-archive:

/** The `oci:DIR[:TAG]` source. Without a tag the layout must hold exactly one image or index. */
export async function readLayout(dir: string, options: { tag?: string } = {}): Promise<Image | ImageIndex> {
  const root = resolve(dir);
  const where = `oci:${dir}`;
  await checkLayoutFile(await fs.readFile(resolve(root, 'oci-layout'), 'utf8').catch(() => undefined), where);
  const index = await readIndexJson(resolve(root, 'index.json'));
  const blobAt = (d: Descriptor) => resolve(root, 'blobs', 'sha256', digestHex(d.digest));
  const missing = (d: Descriptor) => (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new PithError('OCI_MISSING_BLOB', `expected the blob ${d.digest} at ${blobAt(d)} (${where}), found nothing`);
    throw e;
  };
  const read = async (d: Descriptor) => {
    holdable(d, blobAt(d));
    const bytes = await fs.readFile(blobAt(d)).catch(missing(d));
    return checkContent(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), d, 'OCI_BLOB_MISMATCH', blobAt(d));
  };
  // A layer is streamed from its file, checked as it is read.
  async function* stream(d: Descriptor): AsyncGenerator<Uint8Array> {
    try {
      yield* checkedChunks(fileChunks(blobAt(d)), d, 'OCI_BLOB_MISMATCH', blobAt(d));
    } catch (e) {
      missing(d)(e as NodeJS.ErrnoException);
    }
  }
  return readLayoutGraph(index, options.tag, { where, manifest: read, blob: read, stream });
}

/** The `oci-archive:FILE[:TAG]` source: a tar of a layout, read member by member without unpacking it. */
export async function readOciArchive(file: string, options: { tag?: string } = {}): Promise<Image | ImageIndex> {
  const where = `oci-archive:${file}`;
  const archive = await openTar(file);
  await checkLayoutFile(await archive.text('oci-layout'), where);
  const indexText = await archive.text('index.json');
  if (indexText === undefined) throw new PithError('OCI_NOT_A_LAYOUT', `expected an index.json member in ${where}, found none`);
  const index = parseIndexJson(indexText, `${where} index.json`);
  const member = (d: Descriptor) => {
    const name = `blobs/sha256/${digestHex(d.digest)}`;
    const range = archive.range(name);
    if (range === undefined) throw new PithError('OCI_MISSING_BLOB', `expected the blob ${d.digest} as ${name} in ${where}, found no such member`);
    return { name, range };
  };
  const read = async (d: Descriptor) => {
    const { name } = member(d);
    holdable(d, `${where} ${name}`);
    return checkContent((await archive.read(name))!, d, 'OCI_BLOB_MISMATCH', `${where} ${name}`);
  };
  // A layer is streamed out of the archive file, checked as it is read.
  async function* stream(d: Descriptor): AsyncGenerator<Uint8Array> {
    const { name, range } = member(d);
    yield* checkedChunks(fileChunks(resolve(file), range), d, 'OCI_BLOB_MISMATCH', `${where} ${name}`);
  }
  return readLayoutGraph(index, options.tag, { where, manifest: read, blob: read, stream });
}

async function checkLayoutFile(text: string | undefined, where: string): Promise<void> {
  let version: unknown;
  try {
    version = text === undefined ? undefined : (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (version !== (JSON.parse(OCI_LAYOUT) as { imageLayoutVersion: string }).imageLayoutVersion) {
    throw new PithError('OCI_NOT_A_LAYOUT', `expected ${where} to be an OCI image layout with an oci-layout file declaring imageLayoutVersion "1.0.0", found ${text === undefined ? 'none' : JSON.stringify(text.slice(0, 80))}`);
  }
}

async function readLayoutGraph(index: IndexJson, tag: string | undefined, source: ContentSource): Promise<Image | ImageIndex> {
  const tags = index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
  let top: Descriptor | undefined;
  if (tag !== undefined) {
    top = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
    if (!top) throw new PithError('OCI_NO_SUCH_TAG', `expected an image tagged "${tag}" in ${source.where}, found ${tags.length ? `the tags ${tags.join(', ')}` : 'no tags'}`);
  } else {
    // Referrers fallback indexes (artifacts about an image, such as its SBOMs) are not images of their own.
    const images = index.manifests.filter((d) => !/^sha256-[0-9a-f]{64}$/.test(d.annotations?.[REF_NAME] ?? ''));
    if (images.length !== 1) {
      throw new PithError('OCI_AMBIGUOUS_SOURCE', `expected one image in ${source.where} or a tag naming one (${source.where}:TAG), found ${images.length}${tags.length ? ` (tags: ${tags.join(', ')})` : ''}`);
    }
    top = images[0]!;
  }
  const bytes = await source.manifest(top);
  // The annotations of index.json's entry (the ref name) describe the layout, not the manifest.
  const { annotations: _a, ...descriptor } = top;
  return readGraph(descriptor, bytes, source);
}

// ------------------------------------------------------------------------------------------------- docker-archive:

interface DockerArchiveEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

/**
 * The `docker-archive:FILE[:NAME[:TAG]]` source (`docker save` output, old and new). The archive holds a config
 * and layer tars but no manifest, so one is made: an OCI manifest of the config as found and each layer as a gzip
 * blob — compressed here with pith's fixed settings when the archive holds it uncompressed (the tar is checked
 * against the config's diff_id either way). A copy to a registry therefore gets a new manifest digest, as it does
 * with skopeo.
 */
export async function readDockerArchive(file: string, options: { reference?: string } = {}): Promise<Image> {
  const where = `docker-archive:${file}`;
  const archive = await openTar(file);
  const text = await archive.text('manifest.json');
  if (text === undefined) throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected a manifest.json member in ${where}, found none`);
  const entries = parseJson(new TextEncoder().encode(text), `manifest.json in ${where}`) as DockerArchiveEntry[];
  if (!Array.isArray(entries) || entries.length === 0) throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected manifest.json in ${where} to list at least one image, found none`);
  const tagsOf = (e: DockerArchiveEntry) => (Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : []);
  let entry: DockerArchiveEntry | undefined;
  if (options.reference !== undefined) {
    const want = normaliseRepoTag(options.reference, where);
    entry = entries.find((e) => tagsOf(e).some((t) => normaliseRepoTag(t, where) === want));
    if (!entry) throw new PithError('OCI_NO_SUCH_TAG', `expected an image named ${want} in ${where}, found ${entries.flatMap(tagsOf).join(', ') || 'only untagged images'}`);
  } else if (entries.length === 1) {
    entry = entries[0]!;
  } else {
    throw new PithError('OCI_AMBIGUOUS_SOURCE', `expected one image in ${where} or a name choosing one (${where}:NAME:TAG), found ${entries.length} (${entries.flatMap(tagsOf).join(', ')})`);
  }
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) {
    throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected manifest.json in ${where} to name a Config file and a list of Layers files`);
  }
  const member = async (name: string) => {
    const bytes = await archive.read(name);
    if (bytes === undefined) throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected the member ${name} that manifest.json names in ${where}, found none`);
    return bytes;
  };
  const configBytes = await member(entry.Config);
  const config = parseJson(configBytes, `${entry.Config} in ${where}`) as OciConfig;
  const diffIds = config.rootfs?.diff_ids;
  const layerNames = entry.Layers as string[];
  if (!Array.isArray(diffIds) || diffIds.length !== layerNames.length) {
    throw new PithError('OCI_NOT_AN_IMAGE', `expected the config ${entry.Config} in ${where} to list ${layerNames.length} rootfs diff_ids, one per layer, found ${Array.isArray(diffIds) ? diffIds.length : 'none'}`);
  }
  // Layers are independent: each is read once as the image opens, as a stream (decompressed and checked, or
  // compressed), in parallel; afterwards a layer streams out of the archive file whenever a writer asks for it.
  const path = resolve(file);
  const layers = await Promise.all(layerNames.map(async (name, i): Promise<Layer> => {
    const diffId = parseDigest(diffIds[i], `rootfs.diff_ids[${i}] of ${entry.Config} in ${where}`);
    const range = archive.range(name);
    if (range === undefined) throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected the member ${name} that manifest.json names in ${where}, found none`);
    const memberChunks = () => fileChunks(path, range);
    const head = await gatherChunks(fileChunks(path, { offset: range.offset, size: Math.min(2, range.size) }));
    const gzipped = head[0] === 0x1f && head[1] === 0x8b;
    const tarWhere = `${where} ${name} (the config's diff_id ${i})`;
    let blob: { digest: Digest; size: number };
    let uncompressedSize = 0;
    if (gzipped) {
      const hash = createHash('sha256');
      let size = 0;
      const tapped = async function* () {
        for await (const c of memberChunks()) {
          hash.update(c);
          size += c.byteLength;
          yield c;
        }
      };
      for await (const c of layerTarChunks({ mediaType: MediaType.layerGzip, digest: diffId, diffId, bytes: async () => new Uint8Array(), stream: tapped }, tarWhere)) uncompressedSize += c.byteLength;
      blob = { digest: `sha256:${hash.digest('hex')}`, size };
    } else {
      const made = await compressLayer(memberChunks(), new Writable({ write: (_chunk, _encoding, done) => done() }));
      checkDigest({ digest: diffId, size: made.uncompressedSize }, made.diffId, made.uncompressedSize, 'OCI_LAYER_MISMATCH', tarWhere);
      blob = { digest: made.digest, size: made.size };
      uncompressedSize = made.uncompressedSize;
    }
    // The blob is the member, or the member compressed again (the same bytes each time), checked as it is read.
    const stream = () => checkedChunks(gzipped ? memberChunks() : gzipChunks(memberChunks()), blob, 'OCI_BLOB_MISMATCH', `${where} ${name}`);
    return {
      mediaType: MediaType.layerGzip,
      ...blob,
      diffId,
      uncompressedSize,
      bytes: async () => {
        holdable(blob, `${where} ${name}`);
        return noteDigest(await gatherChunks(stream()), blob.digest);
      },
      stream,
    };
  }));
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: describe(MediaType.config, configBytes),
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestBytes = new TextEncoder().encode(canonicalJson(manifest));
  const platform: Platform = { architecture: String(config.architecture), os: String(config.os), ...(config.variant ? { variant: config.variant } : {}) };
  return { manifest, manifestBytes, digest: digestOf(manifestBytes), config, configBytes, layers, platform };
}

// --------------------------------------------------------------------------------------------------- tar members

/** Where a member's content lies in an archive file. */
interface MemberRange {
  offset: number;
  size: number;
}

/** An archive transport's tar file, its problems as OCI errors; a member can also be streamed out of it by range. */
async function openTar(file: string): Promise<Pick<TarFile, 'read' | 'text'> & { range(name: string): MemberRange | undefined }> {
  let tar: TarFile;
  let ranges: Map<string, MemberRange & { linkname?: string }>;
  try {
    tar = await TarFile.open(file);
    ranges = await memberRanges(resolve(file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PithError('OCI_NO_SUCH_FILE', `expected an archive at ${resolve(file)}, found nothing`);
    throw asOciError(e);
  }
  return {
    read: (name) => tar.read(name).catch((e: unknown) => Promise.reject(asOciError(e))),
    text: (name) => tar.text(name).catch((e: unknown) => Promise.reject(asOciError(e))),
    range(name) {
      let m = ranges.get(name);
      // Symlinks between members (docker save writes them for repeated layers), as TarFile.read follows them.
      for (let hops = 0; m?.linkname !== undefined && hops < 10; hops++) {
        name = memberName(posix.join(posix.dirname(name), m.linkname));
        m = ranges.get(name);
      }
      return m === undefined || m.linkname !== undefined ? undefined : { offset: m.offset, size: m.size };
    },
  };
}

/**
 * The range of every regular member of an archive file (and symlinks between members), from one pass over its
 * headers read by position: content is passed over, not read.
 * TODO(issue 17): TarFile (src/fs/tar.ts) indexes the same headers; once it hands out a member's range, use that.
 */
async function memberRanges(path: string): Promise<Map<string, MemberRange & { linkname?: string }>> {
  const handle = await fs.open(path, 'r');
  const out = new Map<string, MemberRange & { linkname?: string }>();
  try {
    const { size: length } = await handle.stat();
    let at = 0;
    const source: TarSource = {
      length,
      async read(n) {
        const buffer = Buffer.alloc(Math.min(n, length - at));
        let got = 0;
        for (let r = -1; got < buffer.byteLength && r !== 0; got += r) r = (await handle.read(buffer, got, buffer.byteLength - got, at + got)).bytesRead;
        at += got;
        return buffer.subarray(0, got);
      },
      async skip(n) {
        const k = Math.min(n, length - at);
        at += k;
        return k;
      },
    };
    for await (const m of readTar(source, { where: path })) {
      if (isRegularFile(m)) out.set(memberName(m.name), { offset: m.offset, size: m.size });
      else if (m.type === 'symlink') out.set(memberName(m.name), { offset: m.offset, size: 0, linkname: m.linkname });
    }
  } finally {
    await handle.close();
  }
  return out;
}

/** A TarError as the OCI error it is to whoever reads an image; other errors as they are. */
export function asOciError(e: unknown): unknown {
  return e instanceof TarError ? new PithError('OCI_BAD_ARCHIVE', e.message, { cause: e }) : e;
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new PithError('OCI_BAD_JSON', `expected JSON in ${where}, found ${(e as Error).message}`, { cause: e });
  }
}

