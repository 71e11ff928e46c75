/**
 * Splitting a fleet between workers that share nothing but the checkout: each takes a deterministic share of the
 * specs (`--shard I/N`, I from 1 as Jest and Playwright count), so N CI jobs or Kubernetes pods update a fleet with
 * no coordinator. Shards are chosen by rendezvous hashing of each spec's path relative to the fleet's root: every
 * worker computes the same split, the shards are disjoint and cover the fleet, and adding or removing a spec moves
 * no other spec between shards (a range split would move up to N-1 of them).
 */
import { createHash } from 'node:crypto';
import { posix, relative, resolve, sep } from 'node:path';
import { statSync } from 'node:fs';
import { findSpecs } from './fleet.ts';
import type { Shard } from './shard.ts';

/** The shard (from 1) a spec belongs to: the highest of N hash scores of its key, one per shard. */
export function shardOf(key: string, count: number): number {
  let best = 1;
  let bestScore = -1n;
  for (let i = 1; i <= count; i++) {
    const score = createHash('sha256').update(`${i}\n${key}`).digest().readBigUInt64BE(0);
    if (score > bestScore) [best, bestScore] = [i, score];
  }
  return best;
}

export interface FleetMember {
  /** The spec file, absolute. */
  spec: string;
  /** What it is hashed by: its path relative to the directory it was found under, as `/`-separated text. */
  key: string;
}

/**
 * The fleet's specs with their shard keys: under a directory argument, the path relative to it (so every checkout,
 * wherever it sits, splits alike); a spec named directly, its path as given.
 */
export function fleetMembers(paths: string[]): FleetMember[] {
  const members = new Map<string, FleetMember>();
  for (const p of paths.length > 0 ? paths : ['.']) {
    const root = resolve(p);
    const isDir = (() => {
      try {
        return statSync(root).isDirectory();
      } catch {
        return false; // findSpecs says what is wrong
      }
    })();
    for (const spec of findSpecs([p])) {
      if (!members.has(spec)) members.set(spec, { spec, key: isDir ? relative(root, spec).split(sep).join(posix.sep) : posix.normalize(p) });
    }
  }
  return [...members.values()];
}

/** The specs of one shard of the fleet (all of them without a shard), in the fleet's order. */
export function shardSpecs(paths: string[], shard?: Shard): string[] {
  return inShard(fleetMembers(paths), shard);
}

function inShard(members: FleetMember[], shard?: Shard): string[] {
  return (shard ? members.filter((m) => shardOf(m.key, shard.count) === shard.index) : members).map((m) => m.spec);
}

export interface Plan {
  /** The specs of the shard asked for (every spec without one). */
  specs: string[];
  shard?: Shard;
  /** Every shard of `count`, with its specs: the whole split, for a look at its balance. */
  shards: Array<{ shard: string; specs: string[] }>;
}

/** `pith plan`: the fleet split into `count` shards (default the shard's count, else 1), and the one asked for. */
export function plan(paths: string[], options: { shard?: Shard; count?: number } = {}): Plan {
  const members = fleetMembers(paths);
  const count = options.count ?? options.shard?.count ?? 1;
  const shards = Array.from({ length: count }, (_, i) => ({ shard: `${i + 1}/${count}`, specs: [] as string[] }));
  for (const m of members) shards[shardOf(m.key, count) - 1]!.specs.push(m.spec);
  return { specs: inShard(members, options.shard), ...(options.shard ? { shard: options.shard } : {}), shards };
}

/**
 * A GitHub Actions matrix (`strategy.matrix: ${{ fromJSON(…) }}`): one job per shard that holds specs, `matrix.shard`
 * = `I/N`. A shard rendezvous hashing left empty (a small fleet, many shards) gets no job, so no runner starts to do
 * nothing; the jobs that run keep the same N, so each still takes exactly the specs the plan gave it.
 */
export function githubMatrix(split: Pick<Plan, 'shards'>): { shard: string[] } {
  return { shard: split.shards.filter((s) => s.specs.length > 0).map((s) => s.shard) };
}

/**
 * The image a Job runs when none is named: `localhost/pith`, the name podman gives a local build of examples/pith and
 * one no public registry can answer for — a bare `pith` would be pulled from Docker Hub's library namespace, which
 * pith does not own.
 */
export const DEFAULT_JOB_IMAGE = 'localhost/pith:latest';

export interface JobOptions {
  /** pith's image (examples/pith, pushed where the cluster pulls from; best by digest); default DEFAULT_JOB_IMAGE. */
  image?: string;
  count: number;
  /** The pith command and its arguments before the shard, e.g. ['update', '/fleet', '--push', 'reg/{name}:2']. */
  args: string[];
  /** The Job's name (default pith-update). */
  name?: string;
  /** A PersistentVolumeClaim holding the fleet's checkout, mounted at `mountPath` (default pith-fleet at /fleet). */
  claim?: string;
  mountPath?: string;
}

/**
 * A Kubernetes Indexed Job running one pith per shard. pith's image has no shell, so nothing computes the shard in
 * the pod: Kubernetes expands `$(JOB_COMPLETION_INDEX)` in the arguments itself, and `--shard-from-zero` takes its
 * count from 0. Least privilege: non-root, no privilege escalation, every capability dropped, read-only root (the
 * cache in an emptyDir at /tmp).
 */
export function k8sJob(options: JobOptions): Record<string, unknown> {
  const mountPath = options.mountPath ?? '/fleet';
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: options.name ?? 'pith-update' },
    spec: {
      completionMode: 'Indexed',
      completions: options.count,
      parallelism: options.count,
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
          containers: [
            {
              name: 'pith',
              image: options.image ?? DEFAULT_JOB_IMAGE,
              // An image loaded into the nodes (kind load, ctr import) runs without a registry; pinned by digest,
              // what runs is exact either way.
              imagePullPolicy: 'IfNotPresent',
              args: [...options.args, '--shard-from-zero', `$(JOB_COMPLETION_INDEX)/${options.count}`, '--json'],
              env: [
                { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } },
                { name: 'HOME', value: '/tmp' },
              ],
              workingDir: mountPath,
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'fleet', mountPath },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'fleet', persistentVolumeClaim: { claimName: options.claim ?? 'pith-fleet' } },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}
