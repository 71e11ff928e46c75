/**
 * The `oci-archive:FILE[:TAG]` transport: a tar of a fresh OCI image layout holding this one image or index (as
 * skopeo writes it, an existing archive is replaced, not merged). Members are in path order with fixed owners and
 * modes, and every mtime is the image's `created`, so the archive is as reproducible as the image. Layers are
 * streamed into it when they can be (see `blobsOf`), so an archive of any size is written in bounded memory.
 */
import { resolve } from 'node:path';
import { digestHex } from './digest.ts';
import { isImageIndex, type Image, type ImageIndex } from './image.ts';
import { blobsOf, checkTag, indexJson, OCI_LAYOUT, topDescriptor } from './layout.ts';
import { writeFileAtomicFrom, writeMember } from './files.ts';
import { END_OF_ARCHIVE } from './tar.ts';
import { compareStrings } from '../order.ts';

export async function writeOciArchive(file: string, x: Image | ImageIndex, options: { tag?: string } = {}): Promise<void> {
  if (options.tag !== undefined) checkTag(options.tag, `oci-archive:${file}`);
  const mtime = createdEpoch(x);
  const blobs = blobsOf(x).sort((a, b) => compareStrings(a.digest, b.digest));
  await writeFileAtomicFrom(resolve(file), 'the oci-archive', async (write) => {
    await writeMember(write, 'blobs/', mtime);
    await writeMember(write, 'blobs/sha256/', mtime);
    // A layer that can stream (read from a registry, a layout, the build cache) is copied in, never held whole.
    for (const b of blobs) await writeMember(write, `blobs/sha256/${digestHex(b.digest)}`, mtime, b.stream ? { size: b.size, chunks: b.stream() } : await b.bytes());
    await writeMember(write, 'index.json', mtime, indexJson([topDescriptor(x, options.tag)]));
    await writeMember(write, 'oci-layout', mtime, new TextEncoder().encode(OCI_LAYOUT));
    await write(END_OF_ARCHIVE);
  });
}

/** The latest `created` among the images, in epoch seconds: archive members carry the build's time, not now. */
export function createdEpoch(x: Image | ImageIndex): number {
  const images = isImageIndex(x) ? x.images : [x];
  let max = 0;
  for (const img of images) {
    const t = Date.parse(img.config.created);
    if (Number.isFinite(t)) max = Math.max(max, Math.floor(t / 1000));
  }
  return max;
}
