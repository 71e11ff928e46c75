/**
 * Layer planning: which of the tree's entries go into which layer. Pure: the tree and the lock in, a list of
 * layers (bottom first) out; compression happens in the image stage.
 */
import type { FsEntry } from '../fs/entry.ts';
import type { FsTree } from '../fs/tree.ts';
import type { LockedPackage } from '../lock/lock.ts';
import { AVAILABLE_LAYER, SPEC_FILES_LAYER } from './layer-names.ts';
import { AVAILABLE } from './status.ts';
import { compareStrings } from '../order.ts';
import { contentSize } from '../fs/content.ts';

export const DEFAULT_LAYER_BUDGET = 20;

export interface PlannedLayer {
  comment: string;
  packages: string[];
  entries: FsEntry[];
}

/**
 * Layers, bottom first: the directory skeleton (every directory and the merged-/usr links, so modes are right
 * whatever layer a file arrives in); one layer per Debian source package, the largest ones, up to the budget;
 * one shared layer for the remaining packages; what pith wrote (accounts, CA bundle, …); /var/lib/dpkg/available;
 * the spec's own files. Each package's dpkg metadata (status.d, info/<package>.list, owned by the package) sits in
 * its layer, so a fix to one source package changes that layer and the few-KB available layer.
 */
export function planLayers(tree: FsTree, locked: LockedPackage[], specFiles: FsEntry[], budget: number): PlannedLayer[] {
  const sourceOf = new Map(locked.map((p) => [p.name, p.source]));
  const specPaths = new Set(specFiles.map((f) => f.path));
  const skeleton: FsEntry[] = [];
  const bySource = new Map<string, { packages: Set<string>; entries: FsEntry[]; bytes: number }>();
  const pith: FsEntry[] = [];
  const available: FsEntry[] = [];
  const files: FsEntry[] = [];
  for (const entry of tree.entries()) {
    if (entry.path === AVAILABLE) {
      available.push(entry);
      continue;
    }
    if (entry.type === 'dir' || (entry.type === 'symlink' && tree.owner(entry.path) === undefined && /^\/(bin|sbin|lib[^/]*)$/.test(entry.path))) {
      skeleton.push(entry);
      continue;
    }
    if (specPaths.has(entry.path)) {
      files.push(entry);
      continue;
    }
    const owner = tree.owner(entry.path);
    const source = owner ? sourceOf.get(owner) : undefined;
    if (!source) {
      pith.push(entry);
      continue;
    }
    let group = bySource.get(source);
    if (!group) bySource.set(source, (group = { packages: new Set(), entries: [], bytes: 0 }));
    group.packages.add(owner!);
    group.entries.push(entry);
    group.bytes += entry.type === 'file' ? contentSize(entry.content) : 0;
  }
  const fixed = 1 + (pith.length ? 1 : 0) + (available.length ? 1 : 0) + (files.length ? 1 : 0);
  const own = Math.max(1, budget - fixed - 1);
  const ranked = [...bySource].sort((a, b) => b[1].bytes - a[1].bytes || compareStrings(a[0], b[0]));
  const separate = ranked.length <= own + 1 ? ranked : ranked.slice(0, own);
  const shared = ranked.length <= own + 1 ? [] : ranked.slice(own);
  const layers: PlannedLayer[] = [{ comment: 'pith: directories and merged /usr', packages: [], entries: skeleton }];
  for (const [source, g] of separate.sort((a, b) => compareStrings(a[0], b[0]))) {
    layers.push({ comment: `source ${source}: ${[...g.packages].sort().join(' ')}`, packages: [...g.packages].sort(), entries: g.entries });
  }
  if (shared.length > 0) {
    const packages = shared.flatMap(([, g]) => [...g.packages]).sort();
    layers.push({ comment: `packages: ${packages.join(' ')}`, packages, entries: shared.flatMap(([, g]) => g.entries) });
  }
  if (pith.length) layers.push({ comment: 'pith: what maintainer scripts would have made (accounts, CA bundle, time zone, alternatives) and os-release', packages: [], entries: pith });
  if (available.length) layers.push({ comment: AVAILABLE_LAYER, packages: [], entries: available });
  if (files.length) layers.push({ comment: SPEC_FILES_LAYER, packages: [], entries: files });
  return layers;
}
