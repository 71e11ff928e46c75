/**
 * `--shard I/N`, read apart from the planning it feeds (plan.ts) so that a command's option parsing loads nothing
 * else: the CLI's shared option helpers import it, and every command pays for what they load.
 */
import { PithError } from '../errors.ts';

export interface Shard {
  /** From 1. */
  index: number;
  count: number;
}

/** `I/N` with 1 ≤ I ≤ N (or, `fromZero`, 0 ≤ I < N, as Kubernetes' JOB_COMPLETION_INDEX counts). */
export function parseShard(text: string, where = '--shard', options: { fromZero?: boolean } = {}): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const first = options.fromZero ? 0 : 1;
  const [i, n] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || !Number.isSafeInteger(i) || !Number.isSafeInteger(n) || n < 1 || i < first || i > n - 1 + first) {
    const range = options.fromZero ? 'I from 0 to N-1' : 'I from 1 to N';
    throw new PithError('USAGE', `${where}: expected I/N with N ≥ 1 and ${range} (such as ${options.fromZero ? '0/4' : '1/4'}), found ${JSON.stringify(text)}`);
  }
  return { index: i + 1 - first, count: n };
}
