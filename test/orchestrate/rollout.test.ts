import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { deployedImages, isPithError, parseImagePin, rollout } from 'pith';
import { pithCli } from '../fixtures/exec.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-rollout-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const NEW = `127.0.0.1:5000/fleet/hello:2@${DIGEST}`;

/** A deployment tree as teams keep them: before, and exactly as it must read after the rollout. */
const TREE: Record<string, [string, string]> = {
  'k8s/app.yaml': [
    `# the web tier
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: "127.0.0.1:5000/fleet/hello:1"   # keep this comment
      containers:
        - name: web
          image: 127.0.0.1:5000/fleet/hello@sha256:${'00'.repeat(32)}
        - name: sidecar
          image: 127.0.0.1:5000/fleet/other:1
`,
    `# the web tier
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: "${NEW}"   # keep this comment
      containers:
        - name: web
          image: ${NEW}
        - name: sidecar
          image: 127.0.0.1:5000/fleet/other:1
`,
  ],
  'k8s/cron.yml': [
    `kind: CronJob\nmetadata:\n  name: nightly\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - image: '127.0.0.1:5000/fleet/hello:1'\n`,
    `kind: CronJob\nmetadata:\n  name: nightly\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - image: '${NEW}'\n`,
  ],
  'compose.yaml': [
    `services:\n  api:\n    image: 127.0.0.1:5000/fleet/hello:1  # api\n  db:\n    image: postgres:16\n`,
    `services:\n  api:\n    image: ${NEW}  # api\n  db:\n    image: postgres:16\n`,
  ],
  'chart/values.yaml': [
    `replicas: 2\nimage:\n  repository: 127.0.0.1:5000/fleet/hello\n  tag: "1"\n  digest: ""\nworker:\n  image:\n    registry: 127.0.0.1:5000\n    repository: fleet/hello\n    tag: "1"\n`,
    `replicas: 2\nimage:\n  repository: 127.0.0.1:5000/fleet/hello\n  tag: "2"\n  digest: "${DIGEST}"\nworker:\n  image:\n    registry: 127.0.0.1:5000\n    repository: fleet/hello\n    tag: "2@${DIGEST}"\n`,
  ],
  'overlay/kustomization.yaml': [
    `resources:\n  - ../k8s\nimages:\n  - name: 127.0.0.1:5000/fleet/hello\n    newTag: "1"\n`,
    `resources:\n  - ../k8s\nimages:\n  - name: 127.0.0.1:5000/fleet/hello\n    newTag: "2"\n    digest: ${DIGEST}\n`,
  ],
  'Dockerfile': [
    `FROM --platform=linux/amd64 127.0.0.1:5000/fleet/hello:1 AS base\nRUN true\nFROM scratch\n`,
    `FROM --platform=linux/amd64 ${NEW} AS base\nRUN true\nFROM scratch\n`,
  ],
};

function writeTree(root: string): void {
  for (const [path, [before]] of Object.entries(TREE)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), before);
  }
  writeFileSync(join(root, 'k8s', 'broken.yaml'), 'kind: Deployment\nspec: [unclosed\n  image: 127.0.0.1:5000/fleet/hello:1\n');
}

it('a dry run shows a diff and writes nothing; --write pins the digest everywhere, keeping comments and formatting', async () => {
  const root = join(scratch, 'tree');
  writeTree(root);
  const pin = parseImagePin(`127.0.0.1:5000/fleet/hello=${NEW}`);
  const dry = await rollout([pin], [root]);
  for (const [path, [before]] of Object.entries(TREE)) assert.equal(readFileSync(join(root, path), 'utf8'), before, `${path} untouched by a dry run`);
  assert.equal(dry.diffs.length, Object.keys(TREE).length);
  const compose = dry.diffs.find((d) => d.file.endsWith('compose.yaml'))!.diff;
  assert.match(compose, /^-    image: 127\.0\.0\.1:5000\/fleet\/hello:1  # api$/m);
  assert.match(compose, new RegExp(`^\\+    image: ${NEW.replace(/[.]/g, '\\.')}  # api$`, 'm'));
  assert.deepEqual(dry.errors.map((e) => e.file), [join(root, 'k8s', 'broken.yaml')], 'a manifest that is not YAML is reported');
  assert.deepEqual(dry.edits.filter((e) => e.file.endsWith('app.yaml')).map((e) => e.where), ['Deployment/web initContainers[0]', 'Deployment/web containers[0]']);

  const done = await rollout([pin], [root], { write: true });
  assert.equal(done.written.length, Object.keys(TREE).length);
  for (const [path, [, expected]] of Object.entries(TREE)) {
    const text = readFileSync(join(root, path), 'utf8');
    assert.equal(text, expected, path);
    if (path.endsWith('.yaml') || path.endsWith('.yml')) for (const doc of parseAllDocuments(text) as unknown as Array<{ errors: unknown[] }>) assert.deepEqual(doc.errors, []);
  }
  assert.match(readFileSync(join(root, 'k8s', 'broken.yaml'), 'utf8'), /hello:1/, 'not rewritten');
  const again = await rollout([pin], [root]);
  assert.deepEqual(again.edits, [], 'a second rollout has nothing to do');
});

it('deployedImages lists what each workload runs, read as rollout reads it (Dockerfiles build, they run nothing)', () => {
  const root = join(scratch, 'deployed');
  writeTree(root);
  const { images, errors } = deployedImages([root]);
  const at = (path: string) => join(root, path);
  assert.deepEqual(errors.map((e) => e.file), [at('k8s/broken.yaml')]);
  assert.deepEqual(images, [
    { file: at('chart/values.yaml'), workload: 'values image', reference: '127.0.0.1:5000/fleet/hello:1' },
    { file: at('chart/values.yaml'), workload: 'values worker.image', reference: '127.0.0.1:5000/fleet/hello:1' },
    { file: at('compose.yaml'), workload: 'service api', reference: '127.0.0.1:5000/fleet/hello:1' },
    { file: at('compose.yaml'), workload: 'service db', reference: 'postgres:16' },
    { file: at('k8s/app.yaml'), workload: 'Deployment/web', container: 'migrate', reference: '127.0.0.1:5000/fleet/hello:1' },
    { file: at('k8s/app.yaml'), workload: 'Deployment/web', container: 'web', reference: `127.0.0.1:5000/fleet/hello@sha256:${'00'.repeat(32)}`, digest: `sha256:${'00'.repeat(32)}` },
    { file: at('k8s/app.yaml'), workload: 'Deployment/web', container: 'sidecar', reference: '127.0.0.1:5000/fleet/other:1' },
    { file: at('k8s/cron.yml'), workload: 'CronJob/nightly', reference: '127.0.0.1:5000/fleet/hello:1' },
    { file: at('overlay/kustomization.yaml'), workload: 'kustomization images[0]', reference: '127.0.0.1:5000/fleet/hello:1' },
  ]);
  // After a rollout every one of them pins the new digest, Helm's and Kustomize's split fields joined.
  writeFileSync(at('compose.yaml'), TREE['compose.yaml']![1]);
  writeFileSync(at('chart/values.yaml'), TREE['chart/values.yaml']![1]);
  writeFileSync(at('overlay/kustomization.yaml'), TREE['overlay/kustomization.yaml']![1]);
  const pinned = deployedImages([at('compose.yaml'), at('chart'), at('overlay')]).images;
  assert.deepEqual(pinned.map((d) => [d.workload, d.reference, d.digest]), [
    ['service api', NEW, DIGEST],
    ['service db', 'postgres:16', undefined],
    ['values image', `127.0.0.1:5000/fleet/hello:2@${DIGEST}`, DIGEST],
    ['values worker.image', `127.0.0.1:5000/fleet/hello:2@${DIGEST}`, DIGEST],
    ['kustomization images[0]', `127.0.0.1:5000/fleet/hello:2@${DIGEST}`, DIGEST],
  ]);
});

it('--image must carry a digest', () => {
  assert.throws(() => parseImagePin('hello=127.0.0.1:5000/fleet/hello:2'), (e: unknown) => isPithError(e, 'ROLLOUT_BAD_IMAGE'));
  assert.deepEqual(parseImagePin(NEW), { name: '127.0.0.1:5000/fleet/hello', ref: NEW });
  // The one reference syntax of push and pull: docker:// may be written, and is not pinned into manifests.
  assert.deepEqual(parseImagePin(`docker://${NEW}`), { name: '127.0.0.1:5000/fleet/hello', ref: NEW });
  assert.throws(() => parseImagePin(`hello=oci:out`), (e: unknown) => isPithError(e, 'OCI_BAD_REFERENCE') && /in --image, found the oci: location "oci:out"/.test(e.message));
});

it('the CLI prints the diff on a dry run, rewrites with --write, and refuses a reference without a digest', async () => {
  const pith = (args: string[]) => pithCli(args);
  const root = join(scratch, 'cli');
  writeTree(root);
  const dry = await pith(['rollout', '--image', `127.0.0.1:5000/fleet/hello=${NEW}`, root]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^--- .*compose\.yaml$/m);
  assert.match(dry.stdout, /10 reference\(s\) in 6 file\(s\) would be rewritten/);
  assert.match(dry.stderr, /broken\.yaml: not YAML.*\(not rewritten\)/);
  const written = await pith(['rollout', '--image', `127.0.0.1:5000/fleet/hello=${NEW}`, root, '--write']);
  assert.equal(written.code, 0, written.stderr);
  assert.equal(readFileSync(join(root, 'Dockerfile'), 'utf8'), TREE.Dockerfile![1]);
  const bad = await pith(['rollout', '--image', 'hello=127.0.0.1:5000/fleet/hello:2', root]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /expected NAME=REF@sha256:<digest>, found no digest/);
});
