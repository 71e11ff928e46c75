/** Images for the registry tests: small ones from sample entries, one with a layer big enough to go in chunks. */
import { randomBytes } from 'node:crypto';
import { buildImage, type Image } from '../../src/oci/image.ts';
import type { FsEntry } from '../../src/fs/entry.ts';
import { sampleEntries } from '../oci/helpers.ts';

export const EPOCH = 1_700_000_000;

export function file(path: string, content: Uint8Array | string, mode = 0o644): FsEntry {
  return { type: 'file', path, mode, uid: 0, gid: 0, mtime: 0, content: typeof content === 'string' ? new TextEncoder().encode(content) : content };
}

/** Two layers: the sample tree and a marker file, so images with different markers share a layer. */
export function sampleImage(marker = 'one', arch = 'amd64'): Promise<Image> {
  return buildImage({
    layers: [{ entries: sampleEntries(), comment: 'base' }, { entries: [file('/etc/marker', marker)], comment: marker }],
    config: { architecture: arch, os: 'linux', entrypoint: ['/usr/bin/hello'] },
    sourceDateEpoch: EPOCH,
  });
}

/** The sample image plus a layer of `size` random (incompressible) bytes. */
export function bigImage(size: number, marker = 'big'): Promise<Image> {
  return buildImage({
    layers: [{ entries: sampleEntries() }, { entries: [file('/var/big', randomBytes(size))] }, { entries: [file('/etc/marker', marker)] }],
    config: { architecture: 'amd64', os: 'linux' },
    sourceDateEpoch: EPOCH,
  });
}
