/**
 * Runs `fn` over `items` with at most `jobs` at a time, in order of start. The first failure stops new items
 * from starting and is thrown once the ones already running have settled, so nothing runs on after the caller
 * has moved on.
 */
export async function forEachBounded<T>(items: readonly T[], jobs: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
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
