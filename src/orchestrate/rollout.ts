/**
 * `pith rollout`: pins a new image digest (`repo:tag@sha256:…`) wherever an image is deployed — Kubernetes
 * workloads, docker compose files, Helm values (`image.repository` + `image.tag`/`image.digest`), Kustomize
 * `images:` and Dockerfile `FROM` lines. The yaml package's Document API finds the nodes; the new text is spliced
 * into the original at the nodes' source ranges, so comments, quoting and formatting stay exactly as they were.
 * Dry run by default (a unified diff); `write` replaces each changed file atomically.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node, type Pair, type Scalar, type YAMLMap } from 'yaml';
import { writeFileAtomic } from '../cache/store.ts';
import { PithError } from '../errors.ts';
import { registryReference } from '../transports/transports.ts';
import { DEFAULT_DOMAIN, parseReference, tryParseReference, type Reference } from '../oci/reference.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { openVerifier, verify, type Verifier } from '../trust/trust.ts';

export interface ImagePin {
  /** The image as manifests name it (any tag or digest is ignored when matching). */
  name: string;
  /** The reference to pin: `repo:tag@sha256:…`. */
  ref: string;
}

/** `NAME=REF@sha256:…`, as `--image` takes it. */
export function parseImagePin(text: string): ImagePin {
  const eq = text.indexOf('=');
  const pin = { name: eq < 0 ? '' : text.slice(0, eq), ref: registryReference(eq < 0 ? text : text.slice(eq + 1), '--image') };
  if (!pin.name) pin.name = pin.ref.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  const ref = parseReference(pin.ref, '--image');
  if (!ref.digest) throw new PithError('ROLLOUT_BAD_IMAGE', `--image ${text}: expected NAME=REF@sha256:<digest>, found no digest`);
  parseReference(pin.name, '--image NAME');
  return pin;
}

export interface RolloutEdit {
  file: string;
  /** What was rewritten: `Deployment/web containers[0]`, `services.api`, `FROM line 3`, … */
  where: string;
  from: string;
  to: string;
  /** The pinned reference this edit is for. */
  image: string;
}

export interface RolloutResult {
  edits: RolloutEdit[];
  /** Per changed file: a unified diff of the change. */
  diffs: Array<{ file: string; diff: string }>;
  /** Files that could not be read as what their name says (reported, not rewritten). */
  errors: Array<{ file: string; message: string }>;
  written: string[];
}

const sameRepository = (a: Reference, b: Reference) => a.domain === b.domain && a.path === b.path;

/** A template expression or anything else that is not a reference is not ours to touch. */
const tryParse = tryParseReference;

interface Splice {
  start: number;
  end: number;
  text: string;
  edit: Omit<RolloutEdit, 'file'>;
}

/** The scalar's new source text in its original quoting style. */
function scalarText(node: Scalar, value: string): string {
  if (node.type === 'QUOTE_DOUBLE') return JSON.stringify(value);
  if (node.type === 'QUOTE_SINGLE') return `'${value.replace(/'/g, "''")}'`;
  return value;
}

function spliceScalar(node: unknown, value: string, where: string, image: string): Splice | undefined {
  if (!isScalar(node) || typeof node.value !== 'string' || !node.range || node.value === value) return undefined;
  return { start: node.range[0], end: node.range[1], text: scalarText(node, value), edit: { where, from: node.value, to: value, image } };
}

const WORKLOADS: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

function pinnedImage(current: string, pin: { want: Reference; ref: string }): string | undefined {
  const ref = tryParse(current);
  return ref && sameRepository(ref, pin.want) ? pin.ref : undefined;
}

const get = (m: unknown, key: string): unknown => (isMap(m) ? m.get(key, true) : undefined);
const stringOf = (node: unknown): string | undefined => (isScalar(node) && typeof node.value === 'string' ? node.value : undefined);

/**
 * A place in a deployment document that names an image: what `rollout` rewrites and what `deployedImages` lists,
 * found by one reading of the document.
 */
export type ImageSite =
  /** A Kubernetes container's `image:`, or a compose service's. */
  | { kind: 'image'; node: Scalar; value: string; where: string; workload: string; container?: string }
  /** A Kustomize `images:` entry (`name`, and the `newName`, `newTag`, `digest` it overrides with). */
  | { kind: 'kustomize'; item: YAMLMap; name: string; where: string }
  /** A Helm values map: `repository` (after an optional `registry`) with a `tag` and/or a `digest`. */
  | { kind: 'helm'; map: YAMLMap; repository: string; where: string };

/** Every place a YAML document names an image: Kubernetes workloads, compose services, Kustomize images, Helm values. */
export function imageSites(file: string, doc: Document.Parsed): ImageSite[] {
  const out: ImageSite[] = [];
  const root = doc.contents;
  if (!isMap(root)) return out;
  const imageAt = (node: unknown, where: string, workload: string, container?: string) => {
    const value = stringOf(node);
    if (value !== undefined) out.push({ kind: 'image', node: node as Scalar, value, where, workload, ...(container !== undefined ? { container } : {}) });
  };
  // Kubernetes workloads (and a List of them is not followed: one object per document, as kubectl writes them).
  const kind = get(root, 'kind');
  const path = isScalar(kind) && typeof kind.value === 'string' ? WORKLOADS[kind.value] : undefined;
  if (path) {
    let pod: unknown = root;
    for (const k of path) pod = get(pod, k);
    const name = get(get(root, 'metadata'), 'name');
    const label = `${(kind as Scalar).value}/${isScalar(name) ? String(name.value) : '?'}`;
    for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
      const seq = get(pod, list);
      if (!isSeq(seq)) continue;
      seq.items.forEach((c, i) => imageAt(get(c, 'image'), `${label} ${list}[${i}]`, label, stringOf(get(c, 'name'))));
    }
    return out;
  }
  // docker compose: services.<name>.image
  const services = get(root, 'services');
  if (isMap(services)) {
    for (const pair of services.items as Pair[]) {
      const service = String(isScalar(pair.key) ? pair.key.value : pair.key);
      imageAt(get(pair.value, 'image'), `services.${service}.image`, `service ${service}`);
    }
  }
  // Kustomize: images: [{name, newName, newTag, digest}]
  const images = get(root, 'images');
  if (isSeq(images) && (/^kustomization\.ya?ml$/i.test(basename(file)) || get(root, 'resources') !== undefined)) {
    images.items.forEach((item, i) => {
      const name = stringOf(get(item, 'name'));
      if (isMap(item) && name !== undefined) out.push({ kind: 'kustomize', item, name, where: `images[${i}] ${name}` });
    });
  }
  // Helm values: any map with repository + tag/digest (and an optional registry), e.g. image.repository/image.tag.
  const walk = (node: unknown, where: string) => {
    if (isSeq(node)) node.items.forEach((n, i) => walk(n, `${where}[${i}]`));
    if (!isMap(node)) return;
    const repo = stringOf(get(node, 'repository'));
    if (repo !== undefined && (get(node, 'tag') !== undefined || get(node, 'digest') !== undefined)) {
      const registry = stringOf(get(node, 'registry'));
      out.push({ kind: 'helm', map: node, repository: registry ? `${registry}/${repo}` : repo, where });
    }
    for (const pair of node.items as Pair[]) if (pair.value && typeof pair.value === 'object') walk(pair.value, `${where ? `${where}.` : ''}${String(isScalar(pair.key) ? pair.key.value : pair.key)}`);
  };
  if (!services && !isSeq(images)) walk(root, '');
  return out;
}

function yamlSplices(file: string, doc: Document.Parsed, pins: Array<{ want: Reference; ref: string; pinned: Reference }>): Splice[] {
  const out: Splice[] = [];
  for (const site of imageSites(file, doc)) {
    if (site.kind === 'image') {
      for (const pin of pins) {
        const to = pinnedImage(site.value, pin);
        const s = to && spliceScalar(site.node, to, site.where, pin.ref);
        if (s) out.push(s);
      }
      continue;
    }
    const ref = tryParse(site.kind === 'kustomize' ? site.name : site.repository);
    const pin = ref && pins.find((p) => sameRepository(ref, p.want));
    if (!pin) continue;
    if (site.kind === 'kustomize') {
      const { item, where } = site;
      const newName = pin.pinned.domain === DEFAULT_DOMAIN ? pin.pinned.path.replace(/^library\//, '') : `${pin.pinned.domain}/${pin.pinned.path}`;
      const setKey = (key: string, value: string) => {
        const node = get(item, key);
        if (node !== undefined) {
          const s = spliceScalar(node, value, `${where} ${key}`, pin.ref);
          if (s) out.push(s);
          return;
        }
        out.push(insertKey(doc, item, key, value, `${where} ${key}`, pin.ref));
      };
      if (get(item, 'newName') !== undefined || newName !== site.name) setKey('newName', newName);
      if (pin.pinned.tag && pin.pinned.tag !== 'latest') setKey('newTag', pin.pinned.tag);
      setKey('digest', pin.pinned.digest!);
      continue;
    }
    const { map: node, where } = site;
    const tag = pin.pinned.tag && pin.pinned.tag !== 'latest' ? pin.pinned.tag : undefined;
    const digestNode = get(node, 'digest');
    if (digestNode !== undefined) {
      const s1 = tag ? spliceScalar(get(node, 'tag'), tag, `${where}.tag`, pin.ref) : undefined;
      const s2 = spliceScalar(digestNode, pin.pinned.digest!, `${where}.digest`, pin.ref);
      for (const s of [s1, s2]) if (s) out.push(s);
    } else {
      // No digest field: the chart joins repository:tag, so the tag carries the digest.
      const s = spliceScalar(get(node, 'tag'), `${tag ?? 'latest'}@${pin.pinned.digest}`, `${where}.tag`, pin.ref);
      if (s) out.push(s);
    }
  }
  return out;
}

/** A `key: value` line added to a block map, after its last entry, at the indentation of its first key. */
function insertKey(doc: Document.Parsed, map: YAMLMap, key: string, value: string, where: string, image: string): Splice {
  const src = (doc as unknown as { __source: string }).__source;
  const first = (map.items[0] as Pair<Node, Node>).key;
  const last = map.items[map.items.length - 1] as Pair<Node, Node>;
  if (map.flow || !first?.range || !last.value?.range) throw new PithError('ROLLOUT_UNSUPPORTED', `${where}: cannot add "${key}" to a flow-style map; write it in block style`);
  const lineStart = src.lastIndexOf('\n', first.range[0] - 1) + 1;
  const indent = ' '.repeat(first.range[0] - lineStart);
  const at = last.value.range[1];
  return { start: at, end: at, text: `\n${indent}${key}: ${value}`, edit: { where, from: '', to: value, image } };
}

function dockerfileSplices(text: string, pins: Array<{ want: Reference; ref: string }>): Splice[] {
  const out: Splice[] = [];
  const re = /^([ \t]*FROM[ \t]+(?:--\S+[ \t]+)*)(\S+)/gim;
  for (const m of text.matchAll(re)) {
    for (const pin of pins) {
      const to = pinnedImage(m[2]!, pin);
      if (to && to !== m[2]) {
        const start = m.index! + m[1]!.length;
        const line = text.slice(0, start).split('\n').length;
        out.push({ start, end: start + m[2]!.length, text: to, edit: { where: `FROM line ${line}`, from: m[2]!, to, image: pin.ref } });
      }
    }
  }
  return out;
}

function filesUnder(paths: string[]): string[] {
  const out: string[] = [];
  const wanted = (name: string) => /\.ya?ml$/i.test(name) || /^(Dockerfile|Containerfile)(\..+)?$|\.Dockerfile$/.test(name);
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && wanted(e.name)) out.push(p);
    }
  };
  for (const p of paths.length ? paths : ['.']) {
    if (statSync(p).isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

const isYamlFile = (file: string) => /\.ya?ml$/i.test(file);

/** The documents of a YAML file (none for an empty one), each knowing its source text; not YAML throws. */
function yamlDocuments(text: string): Document.Parsed[] {
  const docs = parseAllDocuments(text, { keepSourceTokens: false });
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`not YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    (doc as unknown as { __source: string }).__source = text;
  }
  return docs;
}

/** A workload and the image it runs, as a deployment file names it. */
export interface DeployedImage {
  file: string;
  /** `Deployment/web`, `service web` (compose), `values worker.image` (Helm), `kustomization images[0]`. */
  workload: string;
  /** The container's name, for a Kubernetes workload that gives one. */
  container?: string;
  /** As written; a Helm or Kustomize entry's parts joined as `REPOSITORY[:TAG][@DIGEST]`. */
  reference: string;
  /** The manifest digest the reference pins, if it pins one. */
  digest?: string;
}

/**
 * Every image the deployment files under `paths` run (the YAML files `rollout` reads: Kubernetes workloads, compose
 * services, Helm values, Kustomize images; a Dockerfile's FROM builds an image, it runs none). A file that is not
 * YAML is reported in `errors`, and the others are still read.
 */
export function deployedImages(paths: string[]): { images: DeployedImage[]; errors: Array<{ file: string; message: string }> } {
  const images: DeployedImage[] = [];
  const errors: Array<{ file: string; message: string }> = [];
  for (const file of filesUnder(paths).filter(isYamlFile)) {
    try {
      for (const doc of yamlDocuments(readFileSync(file, 'utf8'))) {
        for (const site of imageSites(file, doc)) images.push(deployedImage(file, site));
      }
    } catch (e) {
      errors.push({ file, message: (e as Error).message });
    }
  }
  return { images, errors };
}

function deployedImage(file: string, site: ImageSite): DeployedImage {
  const joined = (name: string, tag: string | undefined, digest: string | undefined) => `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  const [workload, reference, container] =
    site.kind === 'image' ? [site.workload, site.value, site.container]
    : site.kind === 'kustomize' ? [`kustomization ${site.where.split(' ')[0]}`, joined(stringOf(get(site.item, 'newName')) || site.name, stringOf(get(site.item, 'newTag')), stringOf(get(site.item, 'digest'))), undefined]
    : [`values ${site.where || '(top level)'}`, joined(site.repository, scalarString(get(site.map, 'tag')), stringOf(get(site.map, 'digest'))), undefined];
  const digest = tryParse(reference)?.digest;
  return { file, workload, ...(container !== undefined ? { container } : {}), reference, ...(digest ? { digest } : {}) };
}

/** A scalar as written, numbers too: Helm charts often write `tag: 1.10` unquoted, which YAML reads as 1.1. */
function scalarString(node: unknown): string | undefined {
  if (!isScalar(node) || node.value === null || node.value === undefined || node.value === '') return undefined;
  return typeof node.value === 'string' ? node.value : (node.source ?? String(node.value));
}

/**
 * The pins of several `pith update --json` results — one per shard of a fleet — merged for one rollout after the last
 * shard: every pushed `repo:tag@sha256:…`. Each result is `{file, text}`; results that overlap (a spec in two) or
 * disagree (one image pinned to two digests) are refused, naming both files.
 */
export function pinsFromResults(results: ReadonlyArray<{ file: string; text: string }>): ImagePin[] {
  const specOf = new Map<string, string>();
  const pinOf = new Map<string, { ref: string; file: string }>();
  let split: { count: string; file: string } | undefined;
  for (const { file, text } of results) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new PithError('ROLLOUT_RESULTS_INVALID', `${file}: expected the JSON that pith update --json prints, found ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new PithError('ROLLOUT_RESULTS_INVALID', `${file}: expected a JSON array of update results (pith update --json), found ${typeof parsed}`);
    for (const [i, r] of parsed.entries()) {
      const u = r as { spec?: unknown; pushed?: unknown };
      if (typeof u?.spec !== 'string' || !Array.isArray(u.pushed) || !u.pushed.every((x) => typeof x === 'string')) {
        throw new PithError('ROLLOUT_RESULTS_INVALID', `${file}: result ${i}: expected {spec, pushed: [...]} as pith update --json prints it, found ${JSON.stringify(r).slice(0, 120)}`);
      }
      const count = typeof (r as { shard?: unknown }).shard === 'string' ? /\/(\d+)$/.exec((r as { shard: string }).shard)?.[1] : undefined;
      if (count !== undefined && split && split.count !== count) {
        throw new PithError('ROLLOUT_RESULTS_OVERLAP', `${file}: results of a split into ${count} shards, but ${split.file} holds a split into ${split.count}: expected the same --shard N in every job`);
      }
      if (count !== undefined) split ??= { count, file };
      const other = specOf.get(u.spec);
      if (other !== undefined) throw new PithError('ROLLOUT_RESULTS_OVERLAP', `${file}: ${u.spec} was also updated in ${other}: expected disjoint shards (the same --shard N in every job)`);
      specOf.set(u.spec, file);
      for (const ref of u.pushed as string[]) {
        const pin = parseImagePin(ref);
        const seen = pinOf.get(pin.name);
        if (seen && seen.ref !== pin.ref) throw new PithError('ROLLOUT_RESULTS_OVERLAP', `${file}: ${pin.name} is pinned to ${pin.ref}, but ${seen.file} pins it to ${seen.ref}`);
        pinOf.set(pin.name, { ref: pin.ref, file });
      }
    }
  }
  return [...pinOf.entries()].map(([name, { ref }]) => ({ name, ref }));
}

/** Finds and (with `write`) rewrites the references to each pinned image under `paths`. */
export interface RolloutOptions {
  write?: boolean;
  /**
   * `--verify KEYFILE`: every pinned digest must carry a signature that verifies with this key (trust/trust.ts)
   * before any manifest is read or written; the first that does not stops the rollout with its named error.
   */
  verify?: Verifier;
  /** With OpenPGP `verify` keys: the lookaside their simple signatures are read from. */
  lookaside?: string;
  registry?: RegistryOptions;
}

export async function rollout(pins: ImagePin[], paths: string[], options: RolloutOptions = {}): Promise<RolloutResult> {
  if (options.verify !== undefined) {
    const verifier = await openVerifier(options.verify);
    for (const pin of pins) await verify(pin.ref, verifier, { ...options.registry, lookaside: options.lookaside });
  }
  const parsed = pins.map((p) => ({ want: parseReference(p.name), ref: p.ref, pinned: parseReference(p.ref) }));
  const result: RolloutResult = { edits: [], diffs: [], errors: [], written: [] };
  for (const file of filesUnder(paths)) {
    const text = readFileSync(file, 'utf8');
    let splices: Splice[] = [];
    try {
      if (isYamlFile(file)) for (const doc of yamlDocuments(text)) splices.push(...yamlSplices(file, doc, parsed));
      else splices = dockerfileSplices(text, parsed);
    } catch (e) {
      result.errors.push({ file, message: (e as Error).message });
      continue;
    }
    if (splices.length === 0) continue;
    splices.sort((a, b) => b.start - a.start);
    let next = text;
    for (const s of splices) next = next.slice(0, s.start) + s.text + next.slice(s.end);
    result.edits.push(...splices.reverse().map((s) => ({ file, ...s.edit })));
    result.diffs.push({ file, diff: unifiedDiff(file, text, next) });
    if (options.write) {
      await writeFileAtomic(file, next, statSync(file).mode & 0o7777);
      result.written.push(file);
    }
  }
  return result;
}

/** A unified diff (3 lines of context) of two texts, from their longest common subsequence of lines. */
export function unifiedDiff(file: string, a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: Array<{ op: ' ' | '-' | '+'; line: string; ai: number; bi: number }> = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) ops.push({ op: ' ', line: x[i]!, ai: i++, bi: j++ });
    else if (j < m && (i === n || lcs[i]![j + 1]! > lcs[i + 1]![j]!)) ops.push({ op: '+', line: y[j]!, ai: i, bi: j++ });
    else ops.push({ op: '-', line: x[i]!, ai: i++, bi: j });
  }
  const out = [`--- ${file}`, `+++ ${file}`];
  for (let k = 0; k < ops.length; ) {
    if (ops[k]!.op === ' ') {
      k++;
      continue;
    }
    let start = Math.max(0, k - 3);
    let end = k;
    while (end < ops.length) {
      if (ops[end]!.op !== ' ') {
        end++;
        continue;
      }
      let run = end;
      while (run < ops.length && ops[run]!.op === ' ') run++;
      if (run === ops.length || run - end > 6) {
        end = Math.min(run, end + 3);
        break;
      }
      end = run;
    }
    const hunk = ops.slice(start, end);
    const aLen = hunk.filter((o) => o.op !== '+').length;
    const bLen = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${hunk[0]!.ai + 1},${aLen} +${hunk[0]!.bi + 1},${bLen} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
    k = end;
    start = end;
  }
  return out.join('\n') + '\n';
}
