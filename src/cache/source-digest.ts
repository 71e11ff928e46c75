/**
 * Digests of pith's own code. The build cache key holds the digest of the TypeScript sources, so a changed rule
 * never serves a stale layer. The CLI bundle (scripts/bundle.ts) is made with that digest embedded, and the
 * launcher (bin/pith.js) runs the bundle only while the code fingerprint it was made from still holds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex as sha256 } from './store.ts';
import { compareStrings } from '../order.ts';

/** SHA-256 over every `.ts` file under `srcDir` (path relative to it and content digest), in sorted order. */
export function digestOfSources(srcDir: string): string {
  const parts: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => compareStrings(a.name, b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) parts.push(`${path.slice(srcDir.length)} ${sha256(readFileSync(path))}`);
    }
  };
  walk(srcDir);
  return sha256(parts.join('\n'));
}

/**
 * What a bundle of pith is made from: the sources, and the dependencies bundled with them (named exactly by
 * package-lock.json, which npm rewrites whenever it changes node_modules). `root` is the repository.
 */
export function codeFingerprint(root: string): string {
  let lockfile = '';
  try {
    lockfile = sha256(readFileSync(join(root, 'package-lock.json')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return sha256(`${digestOfSources(join(root, 'src'))}\n${lockfile}`);
}
