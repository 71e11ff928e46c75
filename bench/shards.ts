// How pith splits a fleet between N workers, against the two splits a script would write: the balance of each, and
// how many specs already in the fleet change shard when one spec is added (a spec that moves loses whatever its
// worker kept for it — a warm per-shard cache, a pod's volume — and its history: "svc7 is on shard 2").
// Splits compared over the sorted spec paths: `modulo` (i mod N), `ranges` (contiguous, as even as can be) and
// pith's rendezvous hashing (shardOf). The added spec sorts an eighth of the way in. Prints; asserts nothing.
import { shardOf } from 'pith';

const N = Number(process.env.SHARDS ?? 4);
const sizes = (m: Map<string, number>) => [...Array(N).keys()].map((s) => [...m.values()].filter((v) => v === s).length).sort((a, b) => a - b).join('/');
const splits: Record<string, (keys: string[]) => Map<string, number>> = {
  modulo: (keys) => new Map(keys.map((k, i) => [k, i % N])),
  ranges: (keys) => new Map(keys.map((k, i) => [k, Math.floor((i * N) / keys.length)])),
  rendezvous: (keys) => new Map(keys.map((k) => [k, shardOf(k, N) - 1])),
};
for (const n of [40, 41, 42, 43, 100, 101, 1000, 1001]) {
  const keys = Array.from({ length: n }, (_, i) => `svc${i}/pith.yaml`).sort();
  const added = [...keys, keys[Math.floor(n / 8)]!.replace('/', 'a/')].sort();
  const line = Object.entries(splits).map(([name, split]) => {
    const before = split(keys);
    const after = split(added);
    return `${name} ${sizes(before)}, ${keys.filter((k) => before.get(k) !== after.get(k)).length} moved`;
  });
  const start = performance.now();
  for (const k of keys) shardOf(k, N);
  console.log(`${n} specs on ${N} shards: ${line.join('; ')} (rendezvous hashing took ${(performance.now() - start).toFixed(1)} ms)`);
}
