/**
 * xz decompression for .deb members and Packages.xz indexes. The host's `xz` (xz-utils) runs as a child process
 * when it is on PATH: it decodes several times faster than the built-in WebAssembly decoder (xz-decompress, about
 * 30 MB/s) and several of them run at once, where the wasm decoder serialises every stream in the process on one
 * context. Small streams (control.tar members) stay in-process, where decoding costs less than starting a process.
 * The wasm decoder remains the fallback, so pith needs nothing installed; `PITH_XZ=wasm` or `host` forces one.
 *
 * Both yield the same bytes; they differ only in what they refuse: xz-embedded cannot check a SHA-256 integrity
 * check (xz-utils, like dpkg's liblzma, can). Errors are plain `Error`s saying what went wrong; each caller turns
 * them into its own PithError (DEB_MALFORMED, INDEX_CORRUPT).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import xz from 'xz-decompress';

export type XzDecoder = 'host' | 'wasm';

export interface XzOptions {
  /** Default: `chooseXzDecoder` for the input's size. */
  decoder?: XzDecoder;
  /** The decoder stops and an error is raised once the output would exceed this many bytes. */
  maxOutput?: number;
}

/** Below this many compressed bytes the wasm decoder is quicker than spawning xz (a fork of this whole process). */
const IN_PROCESS_BELOW = 64 * 1024;

/** Whether a PATH holds an executable xz, looked up once per PATH. */
const xzOnPath = new Map<string, boolean>();

/** `PITH_XZ` if set to `host` or `wasm`; else the host's xz for a stream of `inputBytes` or more when xz is on PATH. */
export function chooseXzDecoder(inputBytes: number, env: NodeJS.ProcessEnv = process.env): XzDecoder {
  if (env.PITH_XZ === 'wasm' || env.PITH_XZ === 'host') return env.PITH_XZ;
  if (inputBytes < IN_PROCESS_BELOW) return 'wasm';
  const path = env.PATH ?? '';
  let found = xzOnPath.get(path);
  if (found === undefined) {
    found = path.split(delimiter).some((dir) => {
      if (dir === '') return false;
      try {
        accessSync(join(dir, 'xz'), fsConstants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    xzOnPath.set(path, found);
  }
  return found ? 'host' : 'wasm';
}

/**
 * The in-process decoder's memory grows to the largest dictionary it has met and never shrinks (one WebAssembly
 * memory for the process): a package compressed with `xz -9` (a 64 MiB dictionary) would leave 76 MB behind for the
 * rest of a build. Streams with a larger dictionary than this go to the host's xz, whatever their size.
 */
const WASM_MAX_DICTIONARY = 8 * 1024 * 1024;

/**
 * The LZMA2 dictionary size the first block of an xz stream declares (its block header's filter properties), or
 * undefined when the bytes do not say (too short, another filter first, not xz): then the size alone decides.
 */
export function xzDictionarySize(data: Uint8Array): number | undefined {
  const HEADER = 12;
  if (data.byteLength < HEADER + 2 || data[0] !== 0xfd || data[1] !== 0x37 || data[HEADER] === 0) return undefined;
  const end = HEADER + (data[HEADER]! + 1) * 4;
  if (end > data.byteLength) return undefined;
  const flags = data[HEADER + 1]!;
  let at = HEADER + 2;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; at < end && shift < 63; shift += 7) {
      const b = data[at++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    return undefined;
  };
  if (flags & 0x40 && varint() === undefined) return undefined;
  if (flags & 0x80 && varint() === undefined) return undefined;
  const filter = varint();
  const propsSize = varint();
  if (filter !== 0x21 || propsSize !== 1 || at >= end) return undefined;
  const p = data[at]!;
  if (p > 40) return undefined;
  return p === 40 ? 0xffffffff : (2 | (p & 1)) * 2 ** (Math.floor(p / 2) + 11);
}

/**
 * Decompresses an xz stream, held in memory or arriving in pieces (`inputBytes` then says how long it is, which
 * picks the decoder), chunk by chunk; stopping early ends the decoder.
 */
export async function* unxzStream(data: Uint8Array | AsyncIterable<Uint8Array>, options: XzOptions & { inputBytes?: number } = {}): AsyncGenerator<Uint8Array> {
  const size = data instanceof Uint8Array ? data.byteLength : (options.inputBytes ?? Infinity);
  let decoder = options.decoder ?? chooseXzDecoder(size);
  // The in-process decoder takes its input whole; it is chosen for small streams only, and not for a large dictionary.
  const input = decoder === 'wasm' && !(data instanceof Uint8Array) ? await gather(data) : data;
  if (options.decoder === undefined && input instanceof Uint8Array && (xzDictionarySize(input) ?? 0) > WASM_MAX_DICTIONARY) decoder = chooseXzDecoder(Infinity);
  const chunks = decoder === 'host' ? hostUnxz(input) : wasmUnxz(input as Uint8Array);
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.byteLength;
    if (options.maxOutput !== undefined && total > options.maxOutput) throw new Error(`xz: expected at most ${options.maxOutput} bytes of output, found more`);
    yield chunk;
  }
}

/** The whole decompressed output, at most `maxOutput` bytes. */
export async function unxz(data: Uint8Array, options: XzOptions & { maxOutput: number }): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of unxzStream(data, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Decoders running at once: each keeps a core busy, and more would only hold more output in memory. */
const HOST_SLOTS = Math.max(1, availableParallelism());
let running = 0;
const waiting: Array<() => void> = [];

async function acquireSlot(): Promise<void> {
  if (running < HOST_SLOTS) {
    running++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function releaseSlot(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
}

/** Generous for Debian (xz -9 needs 65 MiB to decode), and a bound on what a hostile header can make xz allocate. */
const HOST_MEMLIMIT = '512MiB';

async function* hostUnxz(data: Uint8Array | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  await acquireSlot();
  try {
    const child = spawn('xz', ['--decompress', '--stdout', '--threads=1', `--memlimit-decompress=${HOST_MEMLIMIT}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', XZ_DEFAULTS: '', XZ_OPT: '' },
    });
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.on('error', (error) => resolve({ code: null, signal: null, error }));
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    // xz stops reading when it fails or is killed; the pipe error that follows is expected, not a failure.
    child.stdin.on('error', () => {});
    if (data instanceof Uint8Array) child.stdin.end(data);
    else void pipeline(Readable.from(data, { objectMode: false }), child.stdin).catch(() => child.kill('SIGKILL'));
    let finished = false;
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
      finished = true;
    } finally {
      if (!finished) child.kill('SIGKILL');
      const { code, signal, error } = await closed;
      if (finished) {
        if (error) throw new Error(`xz: cannot run the host's xz: ${error.message}`, { cause: error });
        if (code !== 0) {
          const why = stderr.trim().replace(/^xz: \(stdin\): /gm, '') || `exited with ${signal ?? `status ${code}`}`;
          throw new Error(`xz: ${why}`);
        }
      }
    }
  } finally {
    releaseSlot();
  }
}

async function gather(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const piece of pieces) chunks.push(piece);
  return Buffer.concat(chunks);
}

/** xz-embedded's return codes, which the wasm decoder reports only as numbers. */
const XZ_ERRORS: Record<string, string> = {
  '2': 'unsupported integrity check',
  '3': 'out of memory',
  '4': 'memory limit exceeded',
  '5': 'not xz data',
  // xz-embedded checks none, CRC32 and CRC64 (what dpkg-deb and the xz tool write) but not SHA-256.
  '6': 'unsupported stream options (an integrity check other than CRC32/CRC64, such as SHA-256?)',
  '7': 'corrupt data',
  '8': 'truncated or corrupt data',
};

async function* wasmUnxz(data: Uint8Array): AsyncGenerator<Uint8Array> {
  const input = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(data);
      c.close();
    },
  });
  const reader = new xz.XzReadableStream(input).getReader();
  let finished = false;
  let idle = 0;
  try {
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (e) {
        const code = /error code (\d+)/.exec(e instanceof Error ? e.message : '')?.[1];
        throw new Error(code !== undefined && XZ_ERRORS[code] !== undefined ? `xz: ${XZ_ERRORS[code]} (xz-embedded error ${code})` : String(e), { cause: e });
      }
      const { done, value } = step;
      if (done) {
        finished = true;
        return;
      }
      if (value.byteLength > 0) {
        idle = 0;
        yield value;
      } else if (++idle > 64) {
        // xz-embedded reports a cut-short stream itself (XZ_BUF_ERROR); this only guards against spinning forever.
        throw new Error('xz decoder makes no progress (truncated?)');
      }
    }
  } finally {
    // Cancelling frees the decoder's process-wide context; leaving it held would stall every later xz read.
    if (!finished) await reader.cancel().catch(() => {});
  }
}
