import { PithError } from '../errors.ts';

/**
 * A parallelism a caller asked for: a whole number from 1 up. NaN or 0 would start no worker at all and silently do
 * nothing, so it is refused, naming `what` (the option or setting it came from).
 */
export function checkJobs(jobs: number, what: string): number {
  if (!Number.isSafeInteger(jobs) || jobs < 1) throw new PithError('INVALID_OPTION', `expected a whole number from 1 up for ${what}, found ${String(jobs)}`);
  return jobs;
}

/**
 * Runs `fn` over `items` with at most `jobs` at a time, in order of start. The first failure stops new items
 * from starting and is thrown once the ones already running have settled, so nothing runs on after the caller
 * has moved on.
 */
export async function forEachBounded<T>(items: readonly T[], jobs: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  checkJobs(jobs, 'the number of parallel jobs');
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
}

const running = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` after every earlier call with the same `key` in this process has settled: for read-modify-writes of one
 * remote document (a referrers fallback index), which concurrent writers would otherwise each base on the version
 * read before the other's write, losing an entry.
 */
export function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const result = (running.get(key) ?? Promise.resolve()).then(fn, fn);
  const settled = result.then(() => undefined, () => undefined);
  running.set(key, settled);
  void settled.then(() => {
    if (running.get(key) === settled) running.delete(key);
  });
  return result;
}

/**
 * Bytes that may be held at once by work that runs in parallel (the .debs a build has in flight): `take` waits
 * until the amount fits, first come first served; an amount larger than the whole budget waits until nothing else
 * is held, then runs alone. What `take` resolves to gives the bytes back.
 */
export class ByteBudget {
  #held = 0;
  readonly #waiting: Array<{ bytes: number; go: () => void }> = [];

  constructor(readonly limit: number) {}

  async take(bytes: number): Promise<() => void> {
    // A waiter's bytes are counted by the release that lets it go, so no later `take` can overtake it.
    if (this.#waiting.length > 0 || !this.#fits(bytes)) await new Promise<void>((go) => this.#waiting.push({ bytes, go }));
    else this.#held += bytes;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#held -= bytes;
      while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
        const next = this.#waiting.shift()!;
        this.#held += next.bytes;
        next.go();
      }
    };
  }

  #fits(bytes: number): boolean {
    return this.#held === 0 || this.#held + bytes <= this.limit;
  }
}
