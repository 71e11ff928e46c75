// The source tree is the pipeline: each folder of src/ is a stage, and a module imports only from stages below its
// own (src/README.md draws the same map). This test reads every import in src/ and fails on one that points up or
// across, on a folder no stage owns, and on a CLI import of anything the public API (src/index.ts) does not export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Bottom first. A stage imports only from lower rows; stages in one row are independent of each other. */
export const STAGES: readonly (readonly string[])[] = [
  ['errors.ts', 'json.ts', 'order.ts', 'version.ts'],
  ['net', 'cache', 'fs'],
  ['config', 'debian', 'oci'],
  ['libraries', 'maintscript', 'registry', 'advisories'],
  ['transports', 'lock'],
  ['fetch'],
  ['assemble'],
  ['sbom'],
  ['inspect', 'runtime', 'trust'],
  ['orchestrate'],
  ['serve'],
  ['index.ts'],
  ['cli'],
];

const rank = new Map(STAGES.flatMap((row, i) => row.map((stage) => [stage, i] as const)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

/** The stage of a file under src/: its top folder, or its own name for a file at the top. */
function stageOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

interface Import {
  line: number;
  /** Absolute path of the imported module. */
  target: string;
  /** The names imported (`type` ones included); empty for `import * as`, side-effect and dynamic imports. */
  names: string[];
  /** `export … from`: a re-export. */
  reexport: boolean;
  /** `import(…)`: loaded when the code runs, not when the module loads. */
  dynamic: boolean;
}

/** Static, re-export, side-effect and dynamic imports of relative modules, read from the text. */
export function importsOf(file: string, text = readFileSync(file, 'utf8')): Import[] {
  const out: Import[] = [];
  const re = /\b(import|export)\s*(type\s+)?(?:\{([^}]*)\}\s*from\s*|\*\s*(?:as\s+\w+\s+)?from\s*|[\w$]+\s+from\s*)?['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[4] ?? m[5]!;
    const line = text.slice(0, m.index).split('\n').length;
    const names = (m[3] ?? '')
      .split(',')
      .map((n) => n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim())
      .filter((n) => n !== '');
    out.push({ line, target: resolve(dirname(file), spec), names, reexport: m[1] === 'export', dynamic: m[5] !== undefined });
  }
  return out;
}

const files = sourceFiles(SRC);

test('every folder and top-level module of src/ is a stage', () => {
  const unplaced = [...new Set(files.map(stageOf))].filter((s) => !rank.has(s));
  assert.deepEqual(unplaced, [], `place these in STAGES (test/stages.test.ts) and in src/README.md's map`);
});

test('a module imports only from stages below its own', () => {
  const wrong: string[] = [];
  for (const file of files) {
    const from = stageOf(file);
    for (const imp of importsOf(file)) {
      const to = stageOf(imp.target);
      if (to === from) continue;
      if ((rank.get(to) ?? Infinity) >= (rank.get(from) ?? -Infinity)) {
        wrong.push(`src/${relative(SRC, file)}:${imp.line} imports src/${relative(SRC, imp.target)} (${from} may import only from stages below it)`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test('the CLI uses only what the public API exports', () => {
  // The CLI loads each command's modules lazily, so it may import a stage module directly, but only one that
  // src/index.ts re-exports, and only names that src/index.ts exports.
  const index = join(SRC, 'index.ts');
  const exported = new Map<string, Set<string>>();
  for (const imp of importsOf(index)) {
    if (!imp.reexport) continue;
    const names = exported.get(imp.target) ?? new Set<string>();
    for (const n of imp.names) names.add(n);
    exported.set(imp.target, names);
  }
  const publicNames = new Set([...exported.values()].flatMap((s) => [...s]));
  const wrong: string[] = [];
  for (const file of files.filter((f) => stageOf(f) === 'cli')) {
    for (const imp of importsOf(file)) {
      const to = stageOf(imp.target);
      if (to === 'cli') continue;
      const where = `src/${relative(SRC, file)}:${imp.line}`;
      if (imp.target === index) continue;
      const names = exported.get(imp.target);
      if (!names) {
        wrong.push(`${where} imports src/${relative(SRC, imp.target)}, which src/index.ts does not re-export`);
        continue;
      }
      for (const n of imp.names) if (!names.has(n) && !publicNames.has(n)) wrong.push(`${where} imports ${n}, which src/index.ts does not export`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('src/README.md names every stage', () => {
  const map = readFileSync(join(SRC, 'README.md'), 'utf8');
  const missing = STAGES.flat().filter((s) => !map.includes(s.endsWith('.ts') ? s : `${s}/`));
  assert.deepEqual(missing, []);
});

/** The modules loading `start` evaluates: static imports, followed; type-only imports vanish at compile time. */
function eagerImports(start: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const imp of importsOf(file, text)) {
      const statement = text.split('\n')[imp.line - 1] ?? '';
      if (!imp.dynamic && !/^\s*(import|export) type\b/.test(statement)) visit(imp.target);
    }
  };
  visit(start);
  return seen;
}

test('the CLI loads a command\'s modules only when that command runs', () => {
  // `pith --version` and every command pay for what cli/main.ts loads up front: it must not reach the library.
  const eager = [...eagerImports(join(SRC, 'cli', 'main.ts'))].map((f) => `src/${relative(SRC, f)}`).sort();
  assert.deepEqual(eager, ['src/cli/exit.ts', 'src/cli/main.ts', 'src/errors.ts', 'src/version.ts']);
});

test('each command loads only the stages it uses, never the whole library through index.ts', () => {
  // Evaluating index.ts evaluates every module it re-exports (the SBOM stack, openpgp, the resolver…), which once
  // doubled `pith push`'s start-up because a shared option helper imported one name from it.
  const offenders = readdirSync(join(SRC, 'cli')).filter((f) => f.endsWith('.ts'))
    .filter((f) => eagerImports(join(SRC, 'cli', f)).has(join(SRC, 'index.ts')));
  assert.deepEqual(offenders, []);
});

test("the README's architecture section shows the same rows", () => {
  const readme = readFileSync(join(SRC, '..', 'README.md'), 'utf8');
  const at = readme.indexOf('\n## Architecture\n');
  assert.notEqual(at, -1, 'README.md has no "## Architecture" section');
  const section = readme.slice(at + 1, readme.indexOf('\n## ', at + 1));
  const rows = section.split('\n').filter((l) => /^\| \d+ \|/.test(l));
  // Each row's cell names its stages as code spans (`fs/`, `index.ts`), possibly with words between them.
  const named = rows.map((r) => [...r.split('|')[2]!.matchAll(/`([a-z.]+\/?)`/g)].map((m) => m[1]!.replace(/\/$/, '')).filter((n) => rank.has(n)));
  assert.deepEqual(named, STAGES.map((row) => [...row]));
});

test('the import reader sees every form of import', () => {
  const file = join(SRC, 'cli', 'x.ts');
  const text = [
    "import { a, type B, c as d } from '../oci/image.ts';",
    "import type { E } from './e.ts';",
    "import * as f from '../fs/tree.ts';",
    "import '../registry/pull.ts';",
    "export { g } from '../sbom/sbom.ts';",
    "const h = await import('../runtime/run.ts');",
    "import { readFileSync } from 'node:fs';",
  ].join('\n');
  const found = importsOf(file, text).map((i) => [i.line, relative(SRC, i.target), i.names.join(','), i.reexport, i.dynamic]);
  assert.deepEqual(found, [
    [1, 'oci/image.ts', 'a,B,c', false, false],
    [2, 'cli/e.ts', 'E', false, false],
    [3, 'fs/tree.ts', '', false, false],
    [4, 'registry/pull.ts', '', false, false],
    [5, 'sbom/sbom.ts', 'g', true, false],
    [6, 'runtime/run.ts', '', false, true],
  ]);
});
