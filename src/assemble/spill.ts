/**
 * Where a build keeps file contents its memory budget has no room for: one append-only file in a private directory
 * of the cache (on disk, not a tmpfs that would count as memory), removed when the build ends; a build that is
 * killed leaves it for the next one to clear (the store's temp-file rule). Small files stay in memory while the
 * budget lasts, so a small image is assembled as fast as before; the rest costs a write now and a read when its
 * layer is made.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTemps, STALE_TEMP_AGE_MS, tempSibling, unwritable } from '../cache/store.ts';
import type { Content, ContentKeeper, StoredContent } from '../fs/content.ts';

export interface SpillOptions {
  /** Bytes of file content kept in memory in all (default 16 MiB). */
  memoryBudget?: number;
  /** A file at least this large always goes to disk (default 4 MiB). */
  largeFile?: number;
}

export class Spill implements ContentKeeper {
  readonly dir: string;
  readonly #file: string;
  #fd: number | undefined;
  #end = 0;
  /** Contents `write` gathered, not yet on disk, and the file offset they start at. */
  readonly #pending = new Uint8Array(1 << 20);
  #used = 0;
  #pendingAt = 0;
  #inMemory = 0;
  readonly #budget: number;
  readonly largeFile: number;
  #files = 0;

  private constructor(dir: string, options: SpillOptions) {
    this.dir = dir;
    this.#file = join(dir, 'contents');
    this.#budget = options.memoryBudget ?? 16 * 1024 * 1024;
    this.largeFile = options.largeFile ?? 4 * 1024 * 1024;
  }

  /** A new spill under `parent` (the cache directory), after clearing what killed builds left there. */
  static async open(parent: string, options: SpillOptions = {}): Promise<Spill> {
    const base = join(parent, 'spill');
    try {
      mkdirSync(base, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw unwritable(e, base, 'the build\'s spill directory');
    }
    // As the store clears its temp files: only a dead process's, and only once it has been left alone a while (a
    // build in another PID namespace sharing this cache looks dead from here).
    await removeStaleTemps(base, 'build', STALE_TEMP_AGE_MS);
    const dir = tempSibling(join(base, 'build'));
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      throw unwritable(e, dir, 'the build\'s spill directory');
    }
    return new Spill(dir, options);
  }

  /** Whether a file of `size` bytes is to be kept in memory (and then counted against the budget). */
  #holds(size: number): boolean {
    if (size >= this.largeFile || this.#inMemory + size > this.#budget) return false;
    this.#inMemory += size;
    return true;
  }

  /** The bytes, kept in memory when the budget allows, else written to disk (readable once `flush` has run). */
  keep(bytes: Uint8Array, options: { transient?: boolean } = {}): Content {
    // A copy of its own (a Buffer's slice() would be a view).
    if (this.#holds(bytes.byteLength)) return options.transient ? new Uint8Array(bytes) : bytes;
    return this.write(bytes);
  }

  /** A large file's content arriving in pieces, written to a file of its own as it comes (never held whole). */
  async keepPieces(pieces: AsyncIterable<Uint8Array>): Promise<StoredContent> {
    const file = join(this.dir, `large-${++this.#files}`);
    const fd = this.#written(() => openSync(file, 'wx', 0o600));
    let size = 0;
    try {
      for await (const piece of pieces) {
        this.#written(() => writeAll(fd, piece, size));
        size += piece.byteLength;
      }
    } finally {
      closeSync(fd);
    }
    return { file, offset: 0, size };
  }

  /** Removes the spill; content kept on disk can no longer be read. */
  close(): void {
    this.#used = 0;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Appends to the shared file, gathered into writes of about 1 MiB; each call is one synchronous step, so contents
   * kept by interleaved readers never mix. What it kept is readable once `flush` has run.
   */
  private write(bytes: Uint8Array): StoredContent {
    if (this.#used + bytes.byteLength > this.#pending.byteLength) this.flush();
    const offset = this.#end;
    this.#end += bytes.byteLength;
    if (bytes.byteLength >= this.#pending.byteLength) this.#writeAt(bytes, offset);
    else {
      if (this.#used === 0) this.#pendingAt = offset;
      this.#pending.set(bytes, this.#used);
      this.#used += bytes.byteLength;
    }
    return { file: this.#file, offset, size: bytes.byteLength };
  }

  /** Writes out what `keep` gathered: what it put on disk can be read from here on. */
  flush(): void {
    if (this.#used === 0) return;
    this.#writeAt(this.#pending.subarray(0, this.#used), this.#pendingAt);
    this.#used = 0;
  }

  #writeAt(bytes: Uint8Array, offset: number): void {
    const fd = (this.#fd ??= this.#written(() => openSync(this.#file, 'wx', 0o600)));
    this.#written(() => writeAll(fd, bytes, offset));
  }

  /** A write to the spill; the system's refusal (a full disk) named as such, with the directory it was in. */
  #written<T>(write: () => T): T {
    try {
      return write();
    } catch (e) {
      throw unwritable(e, this.dir, 'file contents that do not fit in memory to the build\'s spill directory');
    }
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}
