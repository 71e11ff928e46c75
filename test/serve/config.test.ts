import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isPithError } from '../../src/errors.ts';
import { DEFAULT_INTERVAL_MS, durationMs, loadServeConfig } from '../../src/serve/config.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-serve-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes `text` as a config in its own directory and loads it. */
function load(name: string, text: string) {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'pith-serve.yaml');
  writeFileSync(file, text);
  return { file, config: () => loadServeConfig(file) };
}

/** The PithError a load throws, for its code and message. */
function failure(text: string, name: string) {
  const { file, config } = load(name, text);
  try {
    config();
  } catch (e) {
    if (isPithError(e)) return { file, code: e.code, message: e.message };
    throw e;
  }
  assert.fail('expected the config to be refused');
}

describe('pith-serve.yaml', () => {
  it('reads every key; paths are relative to the config file, URLs and postgres:// URLs stay as written', () => {
    const { file, config } = load('full', [
      'specs: [fleet, ../shared/specs]',
      'registries:',
      '  - registry: 127.0.0.1:5000',
      '  - registry: registry.example:443',
      '    repositories: [team/web, base]',
      '    insecure: true',
      'manifests: [deploy]',
      'interval: 1h30m',
      'advisories: [feeds/osv.zip, https://security-tracker.example/tracker.json]',
      "sources: ['deb [signed-by=/usr/share/keyrings/k.gpg] http://127.0.0.1:8000/debian bookworm main']",
      'listen: 0.0.0.0:8080',
      'database: postgres://pith@db/pith',
      '',
    ].join('\n'));
    const c = config();
    const dir = join(scratch, 'full');
    assert.equal(c.file, file);
    assert.deepEqual(c.specs, [join(dir, 'fleet'), join(scratch, 'shared', 'specs')]);
    assert.deepEqual(c.registries, [
      { registry: '127.0.0.1:5000', insecure: false },
      { registry: 'registry.example:443', repositories: ['team/web', 'base'], insecure: true },
    ]);
    assert.deepEqual(c.manifests, [join(dir, 'deploy')]);
    assert.equal(c.intervalMs, 90 * 60_000);
    assert.deepEqual(c.advisories, [join(dir, 'feeds', 'osv.zip'), 'https://security-tracker.example/tracker.json']);
    assert.deepEqual(c.sources?.map((s) => [s.uri, s.suites, s.components, s.signedBy]), [['http://127.0.0.1:8000/debian', ['bookworm'], ['main'], '/usr/share/keyrings/k.gpg']]);
    assert.equal(c.listen, '0.0.0.0:8080');
    assert.equal(c.database, 'postgres://pith@db/pith');
    assert.equal(c.at(['registries', 1, 'repositories']), `${file}:5:19`, 'the place of a value, for errors found later');
  });

  it('defaults: a 10 minute interval, no sources (the machine\'s apt sources), a database directory next to the config', () => {
    const c = load('defaults', 'specs: [.]\ndatabase: state/db\n').config();
    assert.equal(c.intervalMs, DEFAULT_INTERVAL_MS);
    assert.equal(DEFAULT_INTERVAL_MS, 600_000);
    assert.deepEqual([c.registries, c.manifests, c.advisories, c.sources, c.listen], [[], [], [], undefined, undefined]);
    assert.equal(c.database, join(scratch, 'defaults', 'state', 'db'));
  });

  it('an empty file is a config with nothing to inventory yet', () => {
    const c = load('empty', '# nothing yet\n').config();
    assert.deepEqual([c.specs, c.registries, c.manifests], [[], [], []]);
  });

  it('durations are whole hours, minutes and seconds', () => {
    assert.deepEqual(['90s', '10m', '1h', '1h30m', '2m5s'].map(durationMs), [90_000, 600_000, 3_600_000, 5_400_000, 125_000]);
    assert.throws(() => durationMs('10 minutes'), (e) => isPithError(e, 'SERVE_CONFIG_INVALID'));
  });

  it('not YAML: SERVE_CONFIG_SYNTAX at the line and column of the unclosed bracket', () => {
    const f = failure('specs: [fleet\nmanifests: [deploy]\n', 'syntax');
    assert.equal(f.code, 'SERVE_CONFIG_SYNTAX');
    assert.match(f.message, new RegExp(`^${f.file}:1:8: invalid YAML`));
  });

  it('an unknown key names its line and the key it was probably meant to be', () => {
    const f = failure('specs: [fleet]\nregistires:\n  - registry: 127.0.0.1:5000\n', 'typo');
    assert.equal(f.code, 'SERVE_CONFIG_INVALID');
    assert.equal(f.message, `${f.file}:2:1: unknown key "registires" in (top level); did you mean "registries"?`);
    const nested = failure('registries:\n  - registry: 127.0.0.1:5000\n    repositores: [a]\n', 'typo-nested');
    assert.equal(nested.message, `${nested.file}:3:5: unknown key "repositores" in registries.0; did you mean "repositories"?`);
  });

  it('values of the wrong form: each at its own line, saying what was expected and found', () => {
    const f = failure([
      'registries:',
      '  - registry: 127.0.0.1:5000',
      '  - registry: "https://registry.example"',
      '    insecure: yes please',
      'interval: 10 minutes',
      'listen: localhost',
      '',
    ].join('\n'), 'values');
    assert.equal(f.code, 'SERVE_CONFIG_INVALID');
    const lines = f.message.split('\n');
    assert.equal(lines.length, 4, f.message);
    assert.match(lines[0]!, new RegExp(`^${f.file}:3:15: registries.1.registry: expected a registry HOST\\[:PORT\\]`));
    assert.match(lines[1]!, new RegExp(`^${f.file}:4:15: registries.1.insecure: expected boolean, found "yes please"`));
    assert.match(lines[2]!, new RegExp(`^${f.file}:5:11: interval: expected a duration such as 90s, 10m, 1h or 1h30m, found "10 minutes"`));
    assert.match(lines[3]!, new RegExp(`^${f.file}:6:9: listen: expected HOST:PORT`));
  });

  it('a registry entry without its registry: the missing key, at the entry', () => {
    const f = failure('registries:\n  - repositories: [team/web]\n', 'missing');
    assert.equal(f.message, `${f.file}:2:5: missing required key "registries.0.registry"`);
  });

  it('an archive source that is not an apt line is refused with the place it was written', () => {
    const f = failure("sources: ['http://127.0.0.1:8000/debian bookworm main']\n", 'source');
    assert.equal(f.code, 'SOURCES_MALFORMED');
    assert.match(f.message, new RegExp(`^${f.file}:1:11: sources: expected type "deb"`));
  });

  it('a missing file: SERVE_CONFIG_NOT_FOUND naming it', () => {
    assert.throws(() => loadServeConfig(join(scratch, 'nowhere', 'pith-serve.yaml')), (e) => isPithError(e, 'SERVE_CONFIG_NOT_FOUND') && /nowhere\/pith-serve\.yaml: cannot read the pith serve config \(ENOENT\)/.test(e.message));
  });
});
