/**
 * The resolver: the closure `apt-get install --no-install-recommends PKGS` computes on a system whose dpkg status is
 * empty, so that `pith resolve` shows exactly what apt would install.
 *
 * This is a port of apt's own greedy algorithm, not a SAT solver, because only the same algorithm makes the same
 * choices. Sources followed (apt 2.6, bookworm's apt; the code is unchanged there since 2.3):
 *  - apt-private/private-install.cc `DoCacheManipulationFromCommandLine`, `TryToInstall::operator()`,
 *    `TryToInstall::doAutoInstall`, `DoAutomaticRemove`: every requested package is first marked (protected,
 *    without dependencies), then each one whose dependencies are broken is marked again with auto-install, in
 *    package-id order; new packages that nothing installed needs are dropped ("garbage").
 *  - apt-pkg/depcache.cc `pkgDepCache::MarkInstall` and its helpers `MarkInstall_CollectDependencies`,
 *    `MarkInstall_RemoveConflictsIfNotUpgradeable`, `MarkInstall_InstallDependencies`, `getAllPossibleSolutions`,
 *    `IsInstallOkDependenciesSatisfiableByCandidates`, `MarkInstall_DiscardInstall`, and `struct CompareProviders`.
 *  - apt-pkg/cacheset.cc `VersionContainerInterface::FromDependency` (which versions can satisfy a dependency).
 *  - apt-pkg/deb/deblistparser.cc `ParseDepends`/`ParseProvides` and apt-pkg/pkgcachegen.cc `NewDepends`/
 *    `NewProvides`: how `:any`, `:native`, Multi-Arch foreign/allowed and Provides become cache edges.
 *  - apt-private/private-cacheset.cc `tryVirtualPackage`: a request for a virtual package with exactly one
 *    provider selects that provider; with several, apt refuses.
 *  - apt-pkg/algorithms.cc `pkgProblemResolver::ResolveInternal`, only for what it does after a conflict un-marks
 *    a package (see `repair`).
 *
 * Where pith approximates apt, and why:
 *  - apt's problem resolver scores packages to repair what conflicts break; pith reproduces its outcome for the
 *    shapes checked against apt-get 2.6 (see the local-repository cases in test/integration/resolve-apt.test.ts)
 *    but not its scoring, and a closure it cannot repair is an error naming the conflict.
 *  - The last tie-break between providers is apt's package id, the order in which its cache generator first met
 *    each name. That order also depends on Recommends, Suggests and Enhances, which BinaryPackage does not
 *    declare; they are used when a record carries them.
 *  - apt's garbage pass also follows Recommends and Suggests; so does pith's when the records carry them. It only
 *    matters for packages left marked by an abandoned alternative.
 */
import { PithError } from '../errors.ts';
import { pinnedPackage, type BinaryPackage, type PinnedPackage } from './packages.ts';
import { formatGroup, formatRelation, parseRelations, type Relation } from './relations.ts';
import { compareVersions, satisfiesVersion } from './version.ts';
import { closestNames, compareStrings } from '../order.ts';

export interface PackageUniverseOptions {
  /** The native architecture (dpkg --print-architecture). */
  architecture: string;
  /** As added with `dpkg --add-architecture`. */
  foreignArchitectures?: string[];
}

interface ParsedRelations {
  preDepends: Relation[][];
  depends: Relation[][];
  /** Conflicts and Breaks: on a system where nothing is installed yet both forbid co-installation. */
  negative: NegativeRelation[];
  /** Recommends and Suggests: apt's garbage pass keeps what they reach. */
  soft: Relation[][];
}

interface NegativeRelation extends Relation {
  field: 'Conflicts' | 'Breaks';
}

interface ProvideEntry {
  owner: number;
  name: string;
  /** An explicit qualifier in `Provides: x:arch`, rare. */
  arch?: string;
  version?: string;
}

const SIMPLE_PROVIDE = /^\s*([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*=\s*([A-Za-z0-9.+~:_-]+)\s*\))?\s*$/;

/**
 * Every package stanza from the loaded indexes (in the order apt would read them: the order of the sources), with
 * indexes built lazily so that constructing one over ~65k packages costs only an array copy. Relations are parsed
 * only for the packages a resolution visits; the per-package caches are bounded by the universe's size.
 */
export class PackageUniverse {
  readonly architecture: string;
  readonly foreignArchitectures: readonly string[];
  private readonly pkgs: BinaryPackage[];
  private byName?: Map<string, number[]>;
  private byProvide?: Map<string, ProvideEntry[]>;
  private byOwner?: Map<number, ProvideEntry[]>;
  private readonly parsed = new Map<number, ParsedRelations>();
  private readonly mentions = new Map<string, number>();
  private mentionScan = 0;
  private mentionCount = 0;

  constructor(packages: Iterable<BinaryPackage>, options: PackageUniverseOptions) {
    this.pkgs = Array.from(packages);
    this.architecture = options.architecture;
    this.foreignArchitectures = (options.foreignArchitectures ?? []).filter((a) => a !== options.architecture);
  }

  get size(): number {
    return this.pkgs.length;
  }

  /** All configured architectures, native first (apt's APT::Architectures order). */
  get architectures(): string[] {
    return [this.architecture, ...this.foreignArchitectures];
  }

  get(index: number): BinaryPackage {
    return this.pkgs[index]!;
  }

  /** Indexes of every stanza named `name`, of any architecture, in load order. */
  versionsOf(name: string): readonly number[] {
    return this.nameIndex().get(name) ?? [];
  }

  /** Every `Provides` entry naming `name`, from any version of any package. */
  providersOf(name: string): readonly ProvideEntry[] {
    return this.provideIndex().get(name) ?? [];
  }

  /** The `Provides` entries of one stanza. */
  providesOf(index: number): readonly ProvideEntry[] {
    this.provideIndex();
    return this.byOwner!.get(index) ?? [];
  }

  /** Every real and virtual package name, for suggestions. */
  allNames(): Iterable<string> {
    const names = new Set(this.nameIndex().keys());
    for (const k of this.provideIndex().keys()) names.add(k);
    return names;
  }

  relationsOf(index: number): ParsedRelations {
    let r = this.parsed.get(index);
    if (r === undefined) {
      const p = this.pkgs[index]!;
      const where = (field: string) => `${p.name} ${p.version} (${p.architecture}) ${field}`;
      const negative: NegativeRelation[] = [];
      for (const [field, text] of [['Conflicts', p.conflicts], ['Breaks', p.breaks]] as const) {
        if (text) for (const g of parseRelations(text, where(field))) for (const rel of g) negative.push({ ...rel, field });
      }
      r = {
        preDepends: p.preDepends ? parseRelations(p.preDepends, where('Pre-Depends')) : [],
        depends: p.depends ? parseRelations(p.depends, where('Depends')) : [],
        negative,
        soft: [
          ...(p.recommends ? parseRelations(p.recommends, where('Recommends')) : []),
          ...(p.suggests ? parseRelations(p.suggests, where('Suggests')) : []),
        ],
      };
      this.parsed.set(index, r);
    }
    return r;
  }

  /**
   * apt breaks the last tie between providers by package id: the order in which its cache generator first met
   * each name, as a package or as the target of a relation (pkgcachegen.cc NewPackage, called for every relation
   * target; deblistparser.cc NewVersion reads Pre-Depends, Depends, Conflicts, Breaks, Recommends, Suggests,
   * Replaces, Enhances, then Provides). This rebuilds that order from the same fields, scanning only as far as
   * needed.
   */
  mentionRank(name: string): number {
    const known = this.mentions.get(name);
    if (known !== undefined) return known;
    while (this.mentionScan < this.pkgs.length && !this.mentions.has(name)) {
      const p = this.pkgs[this.mentionScan++]!;
      this.mention(p.name);
      for (const text of [p.preDepends, p.depends, p.conflicts, p.breaks, p.recommends, p.suggests, p.replaces, p.enhances, p.provides]) {
        if (text) this.mentionAll(text);
      }
    }
    return this.mentions.get(name) ?? Number.MAX_SAFE_INTEGER;
  }

  private mention(name: string): void {
    if (!this.mentions.has(name)) this.mentions.set(name, this.mentionCount++);
  }

  /** Relation targets in order; `x:any` and `x:arch` name packages of their own in apt, not `x`. */
  private mentionAll(text: string): void {
    for (const part of text.split(/[,|]/)) {
      const t = part.trim();
      let end = 0;
      while (end < t.length && !' \t\n(['.includes(t[end]!)) end++;
      const n = t.slice(0, end);
      if (n !== '' && !n.includes(':')) this.mention(n);
    }
  }

  private nameIndex(): Map<string, number[]> {
    if (this.byName === undefined) {
      const m = new Map<string, number[]>();
      this.pkgs.forEach((p, i) => {
        const list = m.get(p.name);
        if (list === undefined) m.set(p.name, [i]);
        else list.push(i);
      });
      this.byName = m;
    }
    return this.byName;
  }

  private provideIndex(): Map<string, ProvideEntry[]> {
    if (this.byProvide === undefined) {
      const m = new Map<string, ProvideEntry[]>();
      const own = new Map<number, ProvideEntry[]>();
      this.pkgs.forEach((p, i) => {
        if (!p.provides) return;
        // Nearly every Provides entry is `name` or `name (= version)`: take those directly, and leave anything
        // else (and errors) to the full parser. This index is built over every package, so it must be cheap.
        for (const part of p.provides.split(',')) {
          const fast = SIMPLE_PROVIDE.exec(part);
          const rels: Relation[] = fast
            ? [fast[3] === undefined ? { name: fast[1]! } : { name: fast[1]!, op: '=', version: fast[3] }]
            : parseRelations(part, `${p.name} ${p.version} (${p.architecture}) Provides`).flat();
          if (fast?.[2] !== undefined) rels[0]!.arch = fast[2];
          for (const r of rels) {
            // apt ignores a Provides with an operator other than '=' (deblistparser.cc ParseProvides).
            if (r.op !== undefined && r.op !== '=') continue;
            const e: ProvideEntry = { owner: i, name: r.name };
            if (r.arch !== undefined) e.arch = r.arch;
            if (r.version !== undefined) e.version = r.version;
            const list = m.get(r.name);
            if (list === undefined) m.set(r.name, [e]);
            else list.push(e);
            const mine = own.get(i);
            if (mine === undefined) own.set(i, [e]);
            else mine.push(e);
          }
        }
      });
      this.byProvide = m;
      this.byOwner = own;
    }
    return this.byProvide;
  }
}

export interface ResolveOptions {
  /**
   * The architecture to resolve for; default the universe's native one. Any other architecture the universe
   * was loaded with counts as foreign, as after `dpkg --add-architecture`.
   */
  architecture?: string;
  /** Packages to drop from apt's closure, with everything only they pulled in. */
  exclude?: Array<{ name: string; reason?: string }>;
  /**
   * Dependency edges to ignore after apt's closure is computed (e.g. ca-certificates → openssl, which only its
   * maintainer script uses): the target stays only if something else still needs it. Each target that goes is
   * reported as an exclusion with this reason.
   */
  ignoreDependencies?: Array<{ from: string; to: string; reason: string }>;
}

export interface ResolvedPackage extends PinnedPackage {
  /** A shortest dependency path from a requested package, e.g. ['python3', 'python3.11', 'libc6']. */
  reason: string[];
  package: BinaryPackage;
}

export interface Exclusion {
  name: string;
  reason: string;
  /** Packages left in the closure that depended on it. */
  requiredBy: string[];
  /** What only it pulled in. */
  alsoDropped: string[];
}

export interface Resolution {
  architecture: string;
  /** Sorted by name, then architecture. */
  packages: ResolvedPackage[];
  /** Only exclusions that removed something. */
  exclusions: Exclusion[];
}

/** One package (name and architecture) as apt's depcache sees it. */
interface PkgState {
  name: string;
  /** The architecture of apt's package: `all` stanzas belong to the native one. */
  arch: string;
  /** The stanza apt would install (the highest version), or null once discarded. */
  cand: number | null;
  /** Marked for installation: the stanza being installed. */
  inst: number | null;
  protect: boolean;
  failure?: Failure;
}

type Failure =
  | { kind: 'group'; group: Relation[]; leaf?: string; sub?: PkgState }
  | { kind: 'conflict'; other: PkgState; text: string }
  | { kind: 'depth' };

const PRIORITY: Record<string, number> = { required: 1, important: 2, standard: 3, optional: 4, extra: 5 };

/** apt gives up on dependency chains deeper than this (depcache.cc IsModeChangeOk). */
const MAX_DEPTH = 3000;

class Resolver {
  readonly native: string;
  readonly archs: string[];
  private readonly states = new Map<string, PkgState>();
  /** Marked packages, in marking order. */
  readonly marked = new Set<PkgState>();
  /** The Conflicts/Breaks of marked packages, by the name they target, for the reverse check. */
  private readonly negativeByTarget = new Map<string, Array<[PkgState, NegativeRelation]>>();
  private readonly markedByName = new Map<string, PkgState[]>();
  private readonly overrides = new Map<string, number>();

  constructor(
    readonly u: PackageUniverse,
    arch: string,
  ) {
    this.native = arch;
    this.archs = [arch, ...u.architectures.filter((a) => a !== arch)];
  }

  effArch(p: BinaryPackage): string {
    return p.architecture === 'all' ? this.native : p.architecture;
  }

  state(name: string, arch: string): PkgState {
    const key = `${name}:${arch}`;
    let st = this.states.get(key);
    if (st === undefined) {
      st = { name, arch, cand: this.overrides.get(key) ?? this.candidateOf(name, arch), inst: null, protect: false };
      this.states.set(key, st);
    }
    return st;
  }

  /** Records of `name` belonging to apt's package `name:arch`. */
  recordsOf(name: string, arch: string): number[] {
    return this.u.versionsOf(name).filter((i) => this.effArch(this.u.get(i)) === arch);
  }

  /** apt's default policy with every source at priority 500: the highest version; the first source on a tie. */
  private candidateOf(name: string, arch: string): number | null {
    let best: number | null = null;
    for (const i of this.recordsOf(name, arch)) {
      if (best === null || compareVersions(this.u.get(i).version, this.u.get(best).version) > 0) best = i;
    }
    return best;
  }

  setCandidate(st: PkgState, index: number): void {
    st.cand = index;
    this.overrides.set(`${st.name}:${st.arch}`, index);
  }

  pkg(st: PkgState): BinaryPackage {
    return this.u.get((st.inst ?? st.cand)!);
  }

  display(st: PkgState): string {
    return st.arch === this.native ? st.name : `${st.name}:${st.arch}`;
  }

  // ---- which versions satisfy a relation (cacheset.cc FromDependency, with the multi-arch edges of pkgcachegen)

  /**
   * The packages whose version `which` (candidate or marked) satisfies `rel`, written in a package of
   * architecture `fromArch`: the real package first, then providers.
   */
  satisfiers(rel: Relation, fromArch: string, which: 'cand' | 'inst'): PkgState[] {
    const out: PkgState[] = [];
    const qualifier = rel.arch === 'native' ? this.native : rel.arch;
    // Real packages. Unqualified: the depending package's architecture, or any architecture whose version is
    // Multi-Arch: foreign (an implicit versioned provide). `:any`: any architecture whose version is
    // Multi-Arch: allowed. `:arch`: exactly that architecture.
    for (const arch of this.archs) {
      if (qualifier !== undefined && qualifier !== 'any' && arch !== qualifier) continue;
      if (this.u.versionsOf(rel.name).length === 0) break;
      const st = this.state(rel.name, arch);
      const v = which === 'cand' ? st.cand : st.inst;
      if (v === null) continue;
      const p = this.u.get(v);
      const fits =
        qualifier === 'any'
          ? p.multiArch === 'allowed'
          : qualifier !== undefined || arch === fromArch || p.multiArch === 'foreign';
      if (fits && versionOk(rel, p.version)) out.push(st);
    }
    for (const e of this.u.providersOf(rel.name)) {
      const p = this.u.get(e.owner);
      const arch = this.effArch(p);
      if (!this.archs.includes(arch)) continue;
      const st = this.state(p.name, arch);
      if ((which === 'cand' ? st.cand : st.inst) !== e.owner) continue;
      let fits: boolean;
      if (e.arch !== undefined) fits = e.arch === 'any' ? qualifier === 'any' : e.arch === (qualifier ?? fromArch);
      else if (qualifier === 'any') fits = p.multiArch === 'allowed';
      else if (qualifier !== undefined) fits = arch === qualifier;
      else fits = arch === fromArch || p.multiArch === 'foreign';
      if (fits && versionOk(rel, e.version) && !out.includes(st)) out.push(st);
    }
    return out;
  }

  groupSatisfied(group: Relation[], fromArch: string): boolean {
    return group.some((r) => this.satisfiers(r, fromArch, 'inst').length > 0);
  }

  groupHasCandidate(group: Relation[], fromArch: string): boolean {
    return group.some((r) => this.satisfiers(r, fromArch, 'cand').length > 0);
  }

  criticalGroups(index: number): Relation[][] {
    const r = this.u.relationsOf(index);
    return r.preDepends.length === 0 ? r.depends : [...r.preDepends, ...r.depends];
  }

  // ---- conflicts

  /** Whether the marked package `v` is hit by the Conflicts/Breaks relation `rel` declared by `by`. */
  private negativeHits(rel: Relation, by: PkgState, v: PkgState, vInst: number): boolean {
    // A package never conflicts with itself or its own name on another architecture (pkgcache.cc
    // DepIterator::IsIgnorable); other architectures are handled by otherArchClash.
    if (v.name === by.name) return false;
    const p = this.u.get(vInst);
    const qualifier = rel.arch === 'native' ? this.native : rel.arch;
    if (qualifier !== undefined && qualifier !== 'any' && this.effArch(p) !== qualifier) return false;
    if (p.name === rel.name && versionOk(rel, p.version)) return true;
    if (!p.provides) return false;
    return this.u.providesOf(vInst).some((e) => e.name === rel.name && versionOk(rel, e.version));
  }

  /** A marked package (other than `by`) that the negative relation `rel` of `by` hits. */
  private markedHit(rel: Relation, by: PkgState): PkgState | undefined {
    for (const v of this.markedByName.get(rel.name) ?? []) {
      if (v !== by && this.negativeHits(rel, by, v, v.inst!)) return v;
    }
    for (const e of this.u.providersOf(rel.name)) {
      const p = this.u.get(e.owner);
      const v = this.states.get(`${p.name}:${this.effArch(p)}`);
      if (v !== undefined && v !== by && v.inst === e.owner && this.negativeHits(rel, by, v, e.owner)) return v;
    }
    return undefined;
  }

  /** Multi-Arch: two architectures of one package may be co-installed only if both are `same` at one version. */
  private otherArchClash(st: PkgState, index: number): PkgState | undefined {
    const p = this.u.get(index);
    for (const v of this.markedByName.get(st.name) ?? []) {
      if (v === st) continue;
      const q = this.u.get(v.inst!);
      if (!(p.multiArch === 'same' && q.multiArch === 'same' && p.version === q.version)) return v;
    }
    return undefined;
  }

  /**
   * The packages whose candidate the negative relation `rel` of `by` hits, marked or not (getAllPossibleSolutions
   * over a Conflicts/Breaks with the CANDIDATE selector).
   */
  private candidateHits(rel: Relation, by: PkgState): PkgState[] {
    const out: PkgState[] = [];
    for (const arch of this.archs) {
      if (this.u.versionsOf(rel.name).length === 0) break;
      const v = this.state(rel.name, arch);
      if (v !== by && v.cand !== null && this.negativeHits(rel, by, v, v.cand)) out.push(v);
    }
    for (const e of this.u.providersOf(rel.name)) {
      const p = this.u.get(e.owner);
      const arch = this.effArch(p);
      if (!this.archs.includes(arch)) continue;
      const v = this.state(p.name, arch);
      if (v !== by && v.cand === e.owner && !out.includes(v) && this.negativeHits(rel, by, v, e.owner)) out.push(v);
    }
    return out;
  }

  private conflictWith(v: PkgState, rel: NegativeRelation): Failure {
    const verb = rel.field === 'Breaks' ? 'breaks' : 'conflicts with';
    return { kind: 'conflict', other: v, text: `${verb} ${this.display(v)} (${rel.field}: ${formatRelation(rel)})` };
  }

  /**
   * MarkInstall_RemoveConflictsIfNotUpgradeable, for the Conflicts and Breaks of `st`'s candidate. When `st` is
   * protected, a marked package they hit is un-marked (MarkKeep, refused if that one is protected too), and every
   * candidate they hit is discarded and protected so that nothing installs it later; `repair` then fixes what the
   * un-marking broke. When `st` is not protected, hitting a marked package makes `st` not installable, and so does
   * a marked package whose own Conflicts/Breaks hit `st`: in both cases apt would mark `st` and leave the breakage
   * to its problem resolver, which (checked against apt 2.6) ends up keeping the earlier choice.
   */
  private removeConflicts(st: PkgState, fromUser: boolean): Failure | undefined {
    const index = st.cand!;
    const clash = this.otherArchClash(st, index);
    if (clash) return { kind: 'conflict', other: clash, text: `cannot be co-installed with ${this.display(clash)} (Multi-Arch)` };
    const propagate = st.protect;
    let failure: Failure | undefined;
    const probe: PkgState = { ...st, inst: index };
    for (const rel of this.u.relationsOf(index).negative) {
      if (!propagate) {
        // apt would un-mark the package hit and let its problem resolver choose; for a package that is not
        // protected that resolver keeps the earlier choice and gives this one up, which is what failing does.
        const v = this.markedHit(rel, probe);
        if (v) {
          failure ??= this.conflictWith(v, rel);
          if (!fromUser) return failure;
        }
        continue;
      }
      for (const v of this.candidateHits(rel, probe)) {
        if (v.inst !== null) {
          if (v.protect) {
            failure ??= this.conflictWith(v, rel);
            continue;
          }
          this.unmark(v);
        }
        v.cand = null;
        v.protect = true;
        v.failure ??= { kind: 'conflict', other: st, text: `${this.display(st)} conflicts with it (${rel.field}: ${formatRelation(rel)})` };
      }
    }
    if (failure) return failure;
    const self = this.u.get(index);
    const names = [self.name, ...(self.provides ? this.u.providesOf(index).map((e) => e.name) : [])];
    for (const name of names) {
      for (const [v, rel] of this.negativeByTarget.get(name) ?? []) {
        if (v === st) continue;
        if (this.negativeHits(rel, v, st, index)) {
          const verb = rel.field === 'Breaks' ? 'breaks' : 'conflicts with';
          const what = self.name === rel.name ? `${verb} it` : `${verb} ${rel.name}, which it provides`;
          return { kind: 'conflict', other: v, text: `${this.display(v)} ${what} (${rel.field}: ${formatRelation(rel)})` };
        }
      }
    }
    return undefined;
  }

  /** apt's InstBroken: a marked package with an unsatisfied critical dependency or a violated conflict. */
  instBroken(st: PkgState): boolean {
    if (st.inst === null) return false;
    for (const g of this.criticalGroups(st.inst)) if (!this.groupSatisfied(g, st.arch)) return true;
    if (this.otherArchClash(st, st.inst)) return true;
    return this.u.relationsOf(st.inst).negative.some((rel) => this.markedHit(rel, st) !== undefined);
  }

  // ---- marking (depcache.cc)

  private stateChange(st: PkgState): void {
    st.inst = st.cand;
    if (!this.marked.has(st)) {
      this.marked.add(st);
      const same = this.markedByName.get(st.name);
      if (same) same.push(st);
      else this.markedByName.set(st.name, [st]);
    }
    for (const rel of this.u.relationsOf(st.inst!).negative) {
      const list = this.negativeByTarget.get(rel.name);
      if (list === undefined) this.negativeByTarget.set(rel.name, [[st, rel]]);
      else if (!list.some(([v, r]) => v === st && r === rel)) list.push([st, rel]);
    }
  }

  /** MarkKeep of a package that is not installed: un-mark it, keeping its candidate. */
  private unmark(st: PkgState): void {
    for (const rel of this.u.relationsOf(st.inst!).negative) {
      const list = this.negativeByTarget.get(rel.name)!;
      this.negativeByTarget.set(rel.name, list.filter(([v]) => v !== st));
    }
    st.inst = null;
    this.marked.delete(st);
    const same = this.markedByName.get(st.name)!;
    same.splice(same.indexOf(st), 1);
  }

  /** MarkInstall_DiscardInstall: un-mark, and drop the candidate so that it is never tried again. */
  discardInstall(st: PkgState): void {
    if (st.inst !== null) this.unmark(st);
    st.cand = null;
  }

  /** Marked, with a critical dependency no marked package satisfies (but no violated conflict). */
  brokenByDependencies(st: PkgState): boolean {
    return st.inst !== null && this.criticalGroups(st.inst).some((g) => !this.groupSatisfied(g, st.arch));
  }

  /**
   * getAllPossibleSolutions: the candidate versions satisfying any alternative of `group`, each alternative's
   * list sorted with CompareProviders, then concatenated, adjacent duplicates removed, and protected packages
   * that are not being installed left out.
   */
  private solutions(group: Relation[], from: PkgState, sorted: boolean): PkgState[] {
    let all: PkgState[] = [];
    for (const rel of group) {
      const list = this.satisfiers(rel, from.arch, 'cand');
      // The dependency's target group: `x:any` and `x:arch` name pseudo-packages of their own in apt's cache.
      if (sorted) list.sort((a, b) => this.compareProviders(a, b, rel.arch === undefined ? rel.name : ''));
      all.push(...list);
    }
    if (!sorted) {
      // cacheset order (by version id), then unique: only the count and the single element matter here.
      all = [...new Set(all)];
    } else {
      all = all.filter((s, i) => i === 0 || all[i - 1] !== s);
    }
    return all.filter((s) => !(s.protect && s.inst === null));
  }

  /**
   * struct CompareProviders (depcache.cc), as a sort comparator: negative when `a` should be tried first. On an
   * empty system the rules about installed versions (M-A:same siblings installed, current version) never apply;
   * the rest, in apt's order: protected first; a package of the dependency's own name; Essential; Important
   * (the Protected/Important fields); native architecture, then APT::Architectures order; higher Priority;
   * finally the higher package id.
   */
  private compareProviders(a: PkgState, b: PkgState, target: string): number {
    if (a === b) return 0;
    if (a.protect !== b.protect) return a.protect ? -1 : 1;
    if (a.name !== b.name) {
      if (a.name === target) return -1;
      if (b.name === target) return 1;
    }
    const pa = this.u.get(a.cand!);
    const pb = this.u.get(b.cand!);
    const ea = isEssential(pa);
    const eb = isEssential(pb);
    if (ea !== eb) return ea ? -1 : 1;
    const ia = isImportant(pa);
    const ib = isImportant(pb);
    if (ia !== ib) return ia ? -1 : 1;
    if (a.arch !== b.arch) {
      const ra = this.archs.indexOf(a.arch);
      const rb = this.archs.indexOf(b.arch);
      if (ra !== rb) return ra - rb;
    }
    const prA = PRIORITY[pa.priority] ?? 5;
    const prB = PRIORITY[pb.priority] ?? 5;
    if (prA !== prB) return prA - prB;
    const ida = this.u.mentionRank(a.name);
    const idb = this.u.mentionRank(b.name);
    if (ida !== idb) return idb - ida;
    return this.archs.indexOf(b.arch) - this.archs.indexOf(a.arch);
  }

  /** pkgDepCache::MarkInstall, for a package that is not installed. */
  markInstall(st: PkgState, autoInst: boolean, fromUser: boolean, depth: number): boolean {
    // IsModeChangeOk
    if (depth > MAX_DEPTH) {
      st.failure = { kind: 'depth' };
      return false;
    }
    if (!fromUser && st.inst === null && st.protect) return false;
    if (st.cand === null) return false;
    if (!st.protect && st.inst !== null && !this.instBroken(st)) return true;

    // IsInstallOkDependenciesSatisfiableByCandidates
    if (autoInst) {
      for (const g of this.criticalGroups(st.cand)) {
        if (this.groupSatisfied(g, st.arch) || this.groupHasCandidate(g, st.arch)) continue;
        st.failure = { kind: 'group', group: g, ...this.whyUnsatisfiable(g, st) };
        if (!st.protect) {
          st.cand = null;
          if (st.inst !== null) this.discardInstall(st);
        }
        return false;
      }
    }

    if (fromUser) this.stateChange(st);
    const failEarly = !st.protect && !fromUser;
    let hasFailed = false;
    let firstFailure: Failure | undefined;
    let toInstall: Relation[][] = [];
    if (autoInst) {
      const conflict = this.removeConflicts(st, fromUser);
      if (conflict) {
        st.failure = conflict;
        if (failEarly) return false;
        hasFailed = true;
        firstFailure = conflict;
      }
      // MarkInstall_CollectDependencies: a protected package also revisits satisfied groups, to pass its
      // protection on to single solutions.
      toInstall = this.criticalGroups(st.cand).filter((g) => st.protect || !this.groupSatisfied(g, st.arch));
    }
    if (!fromUser) this.stateChange(st);
    if (!autoInst) return !hasFailed;

    // ScopedProtected: the package is protected while its dependencies are marked.
    const propagate = st.protect;
    st.protect = true;
    try {
      for (const g of toInstall) {
        if (this.groupSatisfied(g, st.arch)) {
          if (!propagate) continue;
          const sols = this.solutions(g, st, false);
          if (sols.length !== 1) continue;
          const only = sols[0]!;
          if (only.protect) continue;
          only.protect = true;
          if (!this.markInstall(only, true, false, depth + 1)) {
            hasFailed = true;
            firstFailure ??= { kind: 'group', group: g, sub: only };
          }
          continue;
        }
        const sols = this.solutions(g, st, true);
        let found = false;
        for (const s of sols) {
          if (s.cand === null) continue;
          if (propagate && sols.length === 1) {
            if (!this.markInstall(s, false, false, depth + 1)) continue;
            s.protect = true;
          }
          if (!this.markInstall(s, true, false, depth + 1)) continue;
          found = true;
          break;
        }
        if (!found) {
          hasFailed = true;
          const why: Failure =
            sols.length > 0 ? { kind: 'group', group: g, sub: sols[0]! } : { kind: 'group', group: g, ...this.whyUnsatisfiable(g, st) };
          firstFailure ??= why;
          if (!propagate && !fromUser) break;
        }
      }
    } finally {
      if (!propagate) st.protect = false;
    }
    if (hasFailed) {
      if (firstFailure) st.failure = firstFailure;
      if (failEarly) {
        this.discardInstall(st);
        return false;
      }
    }
    return !hasFailed;
  }

  // ---- explanations

  /** Why no candidate satisfies `group`: a readable leaf, or a package that was tried and rejected. */
  whyUnsatisfiable(group: Relation[], from: PkgState): { leaf?: string; sub?: PkgState } {
    const leaves: string[] = [];
    for (const rel of group) {
      const qualifier = rel.arch === 'native' ? this.native : rel.arch;
      const arches = qualifier === undefined ? [from.arch] : qualifier === 'any' ? this.archs : [qualifier];
      // A package that could have satisfied this but whose candidate was discarded explains more than a leaf.
      for (const arch of arches) {
        const st = this.states.get(`${rel.name}:${arch}`);
        if (st && st.cand === null && st.failure && this.recordsOf(rel.name, arch).length > 0) return { sub: st };
      }
      const all = this.u.versionsOf(rel.name).filter((i) => this.archs.includes(this.effArch(this.u.get(i))));
      const here = all.filter((i) => arches.includes(this.effArch(this.u.get(i))));
      const providers = this.u.providersOf(rel.name).filter((e) => this.archs.includes(this.effArch(this.u.get(e.owner))));
      const versions = (idx: number[]) =>
        [...new Set(idx.map((i) => this.u.get(i).version))].sort(compareVersions).join(', ');
      if (here.length > 0) {
        const cand = this.state(rel.name, this.effArch(this.u.get(here[0]!)));
        if (rel.op !== undefined) {
          const fitting = here.filter((i) => satisfiesVersion(this.u.get(i).version, rel.op!, rel.version!));
          if (fitting.length === 0) {
            leaves.push(`no version of ${rel.name} satisfies ${rel.op} ${rel.version}; available: ${versions(here)}`);
          } else if (cand.cand !== null) {
            leaves.push(
              `the candidate ${rel.name} ${this.u.get(cand.cand).version} does not satisfy ${rel.op} ${rel.version} ` +
                `(apt installs only the highest version unless one is requested as ${rel.name}=VERSION); available: ${versions(here)}`,
            );
          } else {
            leaves.push(`${rel.name} cannot be installed`);
          }
          continue;
        }
        if (qualifier === 'any') {
          leaves.push(`${rel.name} is not Multi-Arch: allowed, so ${rel.name}:any cannot be satisfied`);
          continue;
        }
        leaves.push(`${rel.name} cannot be installed`);
        continue;
      }
      if (all.length > 0) {
        const found = [...new Set(all.map((i) => this.effArch(this.u.get(i))))].join(', ');
        leaves.push(`${rel.name} is not available for ${arches.join(', ')} (only for ${found}, and not Multi-Arch: foreign)`);
        continue;
      }
      if (providers.length > 0) {
        const names = [...new Set(providers.map((e) => this.u.get(e.owner).name))].sort();
        const shown = listed(names, 5);
        leaves.push(
          rel.op !== undefined
            ? `no provider of the virtual package ${rel.name} satisfies ${rel.op} ${rel.version} (provided by ${shown})`
            : `no provider of the virtual package ${rel.name} can be installed (provided by ${shown})`,
        );
        continue;
      }
      leaves.push(`no package named ${rel.name} is available`);
    }
    return { leaf: leaves.join('; ') };
  }

  /** Why a marked package is broken now: its unsatisfied dependency (with what was tried) or a conflict. */
  problemOf(st: PkgState): Failure | undefined {
    if (st.inst === null) return st.failure;
    for (const g of this.criticalGroups(st.inst)) {
      if (this.groupSatisfied(g, st.arch)) continue;
      if (st.failure?.kind === 'group' && st.failure.group === g) return st.failure;
      const sols = this.solutions(g, st, true);
      return sols.length > 0 ? { kind: 'group', group: g, sub: sols[0]! } : { kind: 'group', group: g, ...this.whyUnsatisfiable(g, st) };
    }
    const clash = this.otherArchClash(st, st.inst);
    if (clash) return { kind: 'conflict', other: clash, text: `cannot be co-installed with ${this.display(clash)} (Multi-Arch)` };
    for (const rel of this.u.relationsOf(st.inst).negative) {
      const v = this.markedHit(rel, st);
      if (v) return this.conflictWith(v, rel);
    }
    return st.failure;
  }

  /** The chain after a package's name: `dependency → … → why`. */
  explain(st: PkgState, seen = new Set<PkgState>()): string[] {
    const f = st.failure;
    if (seen.has(st)) return ['(dependency cycle)'];
    seen.add(st);
    if (f === undefined) return ['cannot be installed'];
    if (f.kind === 'depth') return [`dependency chain deeper than ${MAX_DEPTH}`];
    if (f.kind === 'conflict') return [f.text];
    const out = [formatGroup(f.group)];
    if (f.leaf !== undefined) out.push(f.leaf);
    else if (f.sub !== undefined) {
      const sameName = f.group.length === 1 && f.group[0]!.name === f.sub.name;
      if (!sameName) out.push(this.display(f.sub));
      out.push(...this.explain(f.sub, seen));
    }
    return out;
  }
}

/** Whether a (provided) version satisfies the relation; an unversioned provide never satisfies a versioned one. */
function versionOk(rel: Relation, version: string | undefined): boolean {
  return rel.op === undefined || (version !== undefined && satisfiesVersion(version, rel.op, rel.version!));
}

/** apt's Flag::Essential; apt forces it on the package named apt (pkgCacheGen::ForceEssential). */
function isEssential(p: BinaryPackage): boolean {
  return p.essential || p.name === 'apt';
}

/** apt's Flag::Important: `Important: yes` or `Protected: yes` when the record carries them, and apt itself. */
function isImportant(p: BinaryPackage): boolean {
  return p.important || p.name === 'apt';
}

interface Request {
  text: string;
  name: string;
  arch?: string;
  version?: string;
}

function parseRequest(text: string): Request {
  const m = /^([A-Za-z0-9][A-Za-z0-9+._-]*)(?::([A-Za-z0-9_-]+))?(?:=(\S+))?$/.exec(text.trim());
  if (!m) {
    throw new PithError(
      'INVALID_REQUEST',
      `invalid package request "${text}": expected NAME, NAME=VERSION, NAME:ARCH or NAME:ARCH=VERSION`,
    );
  }
  const r: Request = { text, name: m[1]! };
  if (m[2] !== undefined) r.arch = m[2];
  if (m[3] !== undefined) r.version = m[3];
  return r;
}

/** Names for a message, the first `max` of them and how many more: "a, b, c and 287 more". */
function listed(names: string[], max = 10): string {
  return names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', ');
}

/** Resolves what a request names, as apt-get's command line does (including tryVirtualPackage). */
function lookupRequest(r: Resolver, u: PackageUniverse, req: Request): PkgState {
  const archOf = (arch: string | undefined) => (arch === undefined || arch === 'all' || arch === 'native' ? undefined : arch);
  const wanted = archOf(req.arch);
  if (wanted !== undefined && !r.archs.includes(wanted)) {
    throw new PithError(
      'UNKNOWN_ARCHITECTURE',
      `request "${req.text}": architecture ${wanted} is not configured; expected one of ${r.archs.join(', ')}`,
    );
  }
  const realArchs = (wanted ? [wanted] : r.archs).filter((a) => r.recordsOf(req.name, a).length > 0);
  if (realArchs.length === 0) {
    // A virtual package: apt selects its provider only when there is exactly one.
    const providers = new Map<string, PkgState>();
    if (req.version === undefined) {
      for (const e of u.providersOf(req.name)) {
        const p = u.get(e.owner);
        const arch = r.effArch(p);
        if (!r.archs.includes(arch) || (wanted && arch !== wanted)) continue;
        const st = r.state(p.name, arch);
        if (st.cand !== e.owner) continue;
        const prev = providers.get(p.name);
        if (prev === undefined || r.archs.indexOf(arch) < r.archs.indexOf(prev.arch)) providers.set(p.name, st);
      }
    }
    if (providers.size === 1) return [...providers.values()][0]!;
    if (providers.size > 1) {
      const list = [...providers.values()].map((st) => `${r.display(st)} ${u.get(st.cand!).version}`).sort();
      const shown = listed(list);
      throw new PithError(
        'VIRTUAL_PACKAGE',
        `"${req.text}" is a virtual package provided by ${shown}; apt refuses to choose between ` +
          `several providers: request one of them`,
        { details: { name: req.name, providers: list } },
      );
    }
    if (u.versionsOf(req.name).length > 0 || u.providersOf(req.name).length > 0) {
      throw new PithError(
        'UNKNOWN_PACKAGE',
        `package "${req.text}" has no version for ${wanted ?? r.archs.join(', ')}` +
          (req.version !== undefined ? ' (a virtual package has no versions to request)' : ''),
        { details: { name: req.name } },
      );
    }
    const close = closestNames(req.name, u.allNames());
    throw new PithError(
      'UNKNOWN_PACKAGE',
      `no package named "${req.name}" in the loaded indexes` +
        (close.length > 0 ? `; did you mean ${close.join(', ')}?` : ''),
      { details: { name: req.name, suggestions: close } },
    );
  }
  const st = r.state(req.name, realArchs[0]!);
  if (req.version !== undefined) {
    const recs = r.recordsOf(req.name, st.arch);
    const hit = recs.find((i) => compareVersions(u.get(i).version, req.version!) === 0);
    if (hit === undefined) {
      const avail = [...recs]
        .sort((a, b) => compareVersions(u.get(a).version, u.get(b).version))
        .map((i) => `${u.get(i).version} (${u.get(i).origin.suite})`);
      throw new PithError(
        'UNKNOWN_VERSION',
        `package ${r.display(st)} has no version ${req.version}; available: ${[...new Set(avail)].join(', ')}`,
        { details: { name: req.name, version: req.version, available: recs.map((i) => u.get(i).version) } },
      );
    }
    r.setCandidate(st, hit);
  }
  if (st.cand === null) {
    throw new PithError('UNKNOWN_PACKAGE', `package ${r.display(st)} has no installable version`);
  }
  return st;
}

/**
 * The packages `apt-get install --no-install-recommends REQUESTS` would install on an empty system (Essential
 * packages are not added unless something depends on them), minus `options.exclude` and what only they pulled in.
 */
export function resolve(universe: PackageUniverse, requests: string[], options: ResolveOptions = {}): Resolution {
  const arch = options.architecture ?? universe.architecture;
  if (!universe.architectures.includes(arch)) {
    throw new PithError(
      'UNKNOWN_ARCHITECTURE',
      `cannot resolve for ${arch}: the package universe was loaded for ${universe.architectures.join(', ')}`,
    );
  }
  const r = new Resolver(universe, arch);
  const requested: PkgState[] = [];
  for (const text of requests) {
    const st = lookupRequest(r, universe, parseRequest(text));
    if (!requested.includes(st)) requested.push(st);
  }

  // TryToInstall: protect and mark every request, without dependencies.
  for (const st of requested) {
    st.protect = true;
    r.markInstall(st, false, true, 0);
  }
  // doAutoInstall walks an APT::PackageSet, ordered by package id.
  const byId = [...requested].sort(
    (a, b) => universe.mentionRank(a.name) - universe.mentionRank(b.name) || r.archs.indexOf(a.arch) - r.archs.indexOf(b.arch),
  );
  for (const st of byId) {
    if (!r.instBroken(st)) continue;
    r.markInstall(st, true, true, 0);
  }
  repair(r, requested);

  const broken = [...r.marked].filter((st) => r.instBroken(st));
  if (broken.length > 0) {
    const first = broken.find((st) => requested.includes(st)) ?? broken[0]!;
    const problem = r.problemOf(first);
    if (problem) first.failure = problem;
    const path = pathFromRequests(r, requested, first);
    const chain = [...path.slice(0, -1).map((s) => r.display(s)), r.display(first), ...r.explain(first)];
    // The cause comes first and names only the packages involved: a spec may request hundreds, and a list of all
    // of them ahead of the cause hid it. The other side of a conflict is traced to the request that brings it.
    const other = first.failure?.kind === 'conflict' && r.marked.has(first.failure.other) ? first.failure.other : undefined;
    const otherPath = other ? pathFromRequests(r, requested, other).map((s) => r.display(s)) : [];
    const via = otherPath.length > 1 ? `; ${otherPath.at(-1)} is installed for ${otherPath.join(' → ')}` : '';
    const alsoBroken = broken.filter((s) => s !== first).map((s) => r.display(s));
    throw new PithError(
      'UNSATISFIABLE',
      `cannot install ${chain.join(' → ')}${via}` + (alsoBroken.length > 0 ? ` (also broken: ${listed(alsoBroken)})` : ''),
      { details: { chain, broken: broken.map((s) => r.display(s)) } },
    );
  }

  // DoAutomaticRemove: a new install that no requested, Essential or Important package needs is garbage.
  const roots = [...r.marked].filter((st) => requested.includes(st) || isEssential(r.pkg(st)) || isImportant(r.pkg(st)));
  const needed = reach(r, roots, new Set(), true);
  const closure = [...r.marked].filter((st) => needed.has(st));

  // Exclusions, on the full closure.
  const excludedBy = new Map<PkgState, { name: string; reason: string }>();
  for (const e of options.exclude ?? []) {
    const hit = requested.find((st) => st.name === e.name);
    if (hit) {
      throw new PithError(
        'EXCLUDE_REQUESTED',
        `cannot exclude ${e.name}: it is one of the requested packages`,
        { details: { name: e.name } },
      );
    }
    for (const st of closure) if (st.name === e.name) excludedBy.set(st, { name: e.name, reason: e.reason ?? 'excluded' });
  }
  const ignored: IgnoredEdges = new Map();
  for (const { from, to } of options.ignoreDependencies ?? []) {
    if (!ignored.has(from)) ignored.set(from, new Set());
    ignored.get(from)!.add(to);
  }
  // Exclusions remove what only the excluded pulled in, so only the requests anchor what stays (an Essential
  // package a dependency brought in is not a root of its own here).
  const kept = excludedBy.size === 0 && ignored.size === 0 ? new Set(closure) : reach(r, requested, new Set(excludedBy.keys()), false, ignored);
  const dropped = new Set(closure.filter((st) => !kept.has(st) && !excludedBy.has(st)));
  const exclusions: Exclusion[] = [];
  for (const { from, to, reason } of options.ignoreDependencies ?? []) {
    const target = closure.find((st) => st.name === to);
    if (!target || kept.has(target) || excludedBy.has(target) || exclusions.some((x) => x.name === to)) continue;
    if (!closure.some((st) => st.name === from && kept.has(st))) continue;
    excludedBy.set(target, { name: to, reason });
    dropped.delete(target);
  }
  const allExclusions = [...(options.exclude ?? []), ...[...excludedBy.values()].filter((x) => !(options.exclude ?? []).some((e) => e.name === x.name))];
  for (const e of allExclusions) {
    const mine = [...excludedBy].filter(([, x]) => x.name === e.name).map(([st]) => st);
    if (mine.length === 0 || exclusions.some((x) => x.name === e.name)) continue;
    const requiredBy = new Set<string>();
    for (const st of kept) for (const t of edges(r, st)) if (mine.includes(t)) requiredBy.add(r.display(st));
    const also = new Set<string>();
    const queue = [...mine];
    const seen = new Set(queue);
    while (queue.length > 0) {
      for (const t of edges(r, queue.shift()!)) {
        if (seen.has(t) || !dropped.has(t)) continue;
        seen.add(t);
        also.add(r.display(t));
        queue.push(t);
      }
    }
    exclusions.push({
      name: e.name,
      reason: e.reason ?? 'excluded',
      requiredBy: [...requiredBy].sort(),
      alsoDropped: [...also].sort(),
    });
  }

  const parents = bfsParents(r, requested, kept);
  const packages: ResolvedPackage[] = [...kept].map((st) => {
    const p = r.pkg(st);
    const reason: string[] = [];
    for (let s: PkgState | undefined = st; s !== undefined; s = parents.get(s)) reason.unshift(r.display(s));
    return { ...pinnedPackage(p), reason, package: p };
  });
  packages.sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.architecture, b.architecture));
  return { architecture: arch, packages, exclusions };
}

/**
 * A package un-marked because something installed later conflicts with it leaves its dependents broken, and apt's
 * problem resolver (algorithms.cc pkgProblemResolver::ResolveInternal) repairs them: a dependent that is not
 * protected is held back (not installed), which can break its own dependents in turn; a protected one ("try a
 * little harder to fix protected packages") gets another solution of its broken dependency. This repeats those
 * two moves, in package-id order, for packages broken only by unsatisfied dependencies, instead of reproducing the
 * resolver's scoring; conflicts left over stay errors.
 */
function repair(r: Resolver, requested: PkgState[]): void {
  for (let round = 0; round < 20; round++) {
    const broken = [...r.marked].filter((st) => r.brokenByDependencies(st));
    if (broken.length === 0) return;
    broken.sort((a, b) => r.u.mentionRank(a.name) - r.u.mentionRank(b.name));
    for (const st of broken) {
      if (!r.brokenByDependencies(st)) continue;
      if (st.protect) r.markInstall(st, true, requested.includes(st), 0);
      else r.discardInstall(st);
    }
  }
}


/**
 * Dependency edges of a marked package: every marked package satisfying an alternative of a (Pre-)Depends, and
 * with `soft` of a Recommends or Suggests (apt's MarkPackage follows those too).
 */
/** Ignored dependency edges: from-name → to-names. */
type IgnoredEdges = Map<string, Set<string>>;

function edges(r: Resolver, st: PkgState, soft = false, ignored?: IgnoredEdges): PkgState[] {
  const out: PkgState[] = [];
  const groups = soft ? [...r.criticalGroups(st.inst!), ...r.u.relationsOf(st.inst!).soft] : r.criticalGroups(st.inst!);
  const skip = ignored?.get(st.name);
  for (const g of groups) {
    for (const rel of g) {
      for (const t of r.satisfiers(rel, st.arch, 'inst')) if (t !== st && !out.includes(t) && !skip?.has(t.name)) out.push(t);
    }
  }
  return out;
}

function reach(r: Resolver, roots: PkgState[], blocked: Set<PkgState>, soft = false, ignored?: IgnoredEdges): Set<PkgState> {
  const seen = new Set<PkgState>();
  const queue = roots.filter((s) => !blocked.has(s));
  for (const s of queue) seen.add(s);
  while (queue.length > 0) {
    for (const t of edges(r, queue.shift()!, soft, ignored)) {
      if (seen.has(t) || blocked.has(t)) continue;
      seen.add(t);
      queue.push(t);
    }
  }
  return seen;
}

/** Breadth-first parents from the requests, over `within`, for shortest reason paths. */
function bfsParents(r: Resolver, roots: PkgState[], within: Set<PkgState>): Map<PkgState, PkgState> {
  const parents = new Map<PkgState, PkgState>();
  const seen = new Set(roots);
  const queue = [...roots];
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (const t of edges(r, s)) {
      if (seen.has(t) || !within.has(t)) continue;
      seen.add(t);
      parents.set(t, s);
      queue.push(t);
    }
  }
  return parents;
}

/** A dependency path from a request to `target` among the marked packages (the target last). */
function pathFromRequests(r: Resolver, requested: PkgState[], target: PkgState): PkgState[] {
  const parents = bfsParents(r, requested, r.marked);
  const path: PkgState[] = [];
  for (let s: PkgState | undefined = target; s !== undefined; s = parents.get(s)) path.unshift(s);
  return path;
}
