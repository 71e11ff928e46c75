/**
 * The `docker-archive:FILE[:NAME[:TAG]]` transport: the `docker save` format that `docker load` and
 * `podman load` read — `manifest.json` naming the config and the layer files, the config blob, one file per layer.
 *
 * Layers are written uncompressed, as `<diff_id hex>.tar`, the way skopeo's docker-archive writer stores them.
 * Recent docker daemons would also decompress gzip layers on load, but an uncompressed tar is the one form every
 * `docker load` (and podman, and skopeo) has always accepted, and its file name and digest equal the diff_id
 * in the config, which docker verifies. Each layer is decompressed as it is written and checked against its diff_id
 * (the archive is only put in place when every layer matched); a tar member states its length first, so a layer
 * whose uncompressed size is not known is decompressed once before, to measure it. No layer is held whole.
 * A docker archive holds one platform: an image index is refused.
 */
import { resolve } from 'node:path';
import { PithError } from '../errors.ts';
import { digestHex, digestOf, DockerMediaType, isGzipLayer, MediaType } from './digest.ts';
import { hashChunks, layerTarChunks } from './blob-stream.ts';
import { checkedLayerBlob } from './layout.ts';
import { isImageIndex, platformString, type Image, type ImageIndex, type Layer } from './image.ts';
import { createdEpoch } from './archive.ts';
import { writeFileAtomicFrom, writeMember, type StreamedContent } from './files.ts';
import { END_OF_ARCHIVE } from './tar.ts';
import { NAME, TAG } from './reference.ts';

/** "name" → "name:latest"; a registry port is not mistaken for a tag. */
export function normaliseRepoTag(reference: string, where: string): string {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  const [name, tag] = colon > slash ? [reference.slice(0, colon), reference.slice(colon + 1)] : [reference, 'latest'];
  if (!NAME.test(name) || !TAG.test(tag)) {
    throw new PithError('OCI_BAD_REFERENCE', `expected an image name like "app:1.0" or "registry.example:5000/team/app:1.0" (lower-case name, tag of letters, digits, . _ -) in ${where}, found ${JSON.stringify(reference)}`);
  }
  return `${name}:${tag}`;
}

export async function writeDockerArchive(file: string, x: Image | ImageIndex, options: { reference?: string } = {}): Promise<void> {
  if (isImageIndex(x)) {
    throw new PithError('OCI_DOCKER_ARCHIVE_INDEX', `a docker-archive holds one platform, found an index of ${x.images.length} (${x.images.map((i) => platformString(i.platform)).join(', ')}) for docker-archive:${file}; build it with one --arch, or write oci: / oci-archive: for all of them`);
  }
  const repoTag = options.reference === undefined ? undefined : normaliseRepoTag(options.reference, `docker-archive:${file}`);
  const image = x;
  for (const l of image.layers) {
    if (!isGzipLayer(l.mediaType) && l.mediaType !== MediaType.layerTar) {
      throw new PithError('OCI_LAYER_MEDIA_TYPE', `expected layers of type ${MediaType.layerGzip}, ${DockerMediaType.layerGzip} or ${MediaType.layerTar} for a docker-archive, found ${l.mediaType} (${l.digest})`);
    }
  }
  const mtime = createdEpoch(image);
  const configName = `${digestHex(digestOf(image.configBytes))}.json`;
  const layerNames = image.layers.map((l) => `${digestHex(l.diffId)}.tar`);
  const manifest = [{ Config: configName, RepoTags: repoTag === undefined ? [] : [repoTag], Layers: layerNames }];

  await writeFileAtomicFrom(resolve(file), 'the docker-archive', async (write) => {
    const done = new Set<string>();
    for (const [i, l] of image.layers.entries()) {
      if (done.has(layerNames[i]!)) continue;
      done.add(layerNames[i]!);
      await writeMember(write, layerNames[i]!, mtime, await uncompressed(l, `layer ${i} (${l.digest}) of docker-archive:${file}`));
    }
    await writeMember(write, configName, mtime, image.configBytes);
    await writeMember(write, 'manifest.json', mtime, new TextEncoder().encode(JSON.stringify(manifest) + '\n'));
    await write(END_OF_ARCHIVE);
  });
}

/** The layer's tar, checked against the layer's digest (by its stream, or here) and its diff_id as it is written. */
async function uncompressed(l: Layer, where: string): Promise<StreamedContent> {
  const checked = { ...l, ...checkedLayerBlob(l) };
  const size = l.mediaType === MediaType.layerTar ? l.size : l.uncompressedSize ?? (await hashChunks(layerTarChunks(checked, where))).size;
  return { size, chunks: layerTarChunks(checked, where) };
}
