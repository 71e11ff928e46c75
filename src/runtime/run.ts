/**
 * Runs an image's command with runc, as DESIGN.md starts it: `umoci unpack` of the OCI layout into a bundle
 * (process.terminal off), `runc run -b BUNDLE ID </dev/null`, killed at the timeout, deleted afterwards whatever
 * happened. The bundle lives in a temp directory removed at the end; the host's filesystem is never touched.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PithError } from '../errors.ts';
import type { Spec } from '../config/spec.ts';

export interface RunOutcome {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function exec(cmd: string, args: string[], timeoutMs?: number, onTimeout?: () => Promise<void>): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-1_000_000)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-1_000_000)));
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      void (onTimeout ? onTimeout() : Promise.resolve()).finally(() => child.kill('SIGKILL'));
    }, timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new PithError('TOOL_MISSING', `${cmd}: not found on PATH; install the Debian package "${cmd}"`) : e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, stdout, stderr, timedOut });
    });
  });
}

let ids = 0;

/** Runs `args` (default: the image's own entrypoint and cmd) in the image `layout:tag`, with runc. */
export async function runInImage(layout: string, tag: string, args: string[] | undefined, timeoutMs: number): Promise<RunOutcome> {
  const bundle = await mkdtemp(join(tmpdir(), 'pith-run-'));
  const id = `pith-${process.pid}-${++ids}`;
  try {
    const unpack = await exec('umoci', ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', `${layout}:${tag}`, join(bundle, 'b')]);
    if (unpack.exitCode !== 0) throw new PithError('RUN_FAILED', `umoci unpack ${layout}:${tag} failed (exit ${unpack.exitCode}): ${unpack.stderr.trim()}`);
    const configPath = join(bundle, 'b', 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { process: { terminal?: boolean; args?: string[] } };
    config.process.terminal = false;
    if (args) config.process.args = args;
    await writeFile(configPath, JSON.stringify(config));
    return await exec('runc', ['run', '-b', join(bundle, 'b'), id], timeoutMs, async () => {
      await exec('runc', ['kill', id, 'KILL']).catch(() => undefined);
    });
  } finally {
    await exec('runc', ['delete', '-f', id]).catch(() => undefined);
    await rm(bundle, { recursive: true, force: true });
  }
}

export interface SmokeTestResult {
  passed: boolean;
  /** Why it failed, naming what was expected and what was found. */
  reason?: string;
  outcome: RunOutcome;
}

export const DEFAULT_SMOKE_TIMEOUT_S = 60;

/**
 * The spec's `test:`: `command` run in the image; it passes when the exit code is `exit-code` (default 0) and, when
 * `output` is given, standard output contains it. `timeout` is in seconds (default 60).
 */
export async function smokeTest(layout: string, tag: string, test: NonNullable<Spec['test']>): Promise<SmokeTestResult> {
  const timeout = test.timeout ?? DEFAULT_SMOKE_TIMEOUT_S;
  const outcome = await runInImage(layout, tag, test.command, timeout * 1000);
  const expected = test['exit-code'] ?? 0;
  const shown = `${test.command.join(' ')}`;
  let reason: string | undefined;
  if (outcome.timedOut) reason = `test "${shown}" did not finish within ${timeout} s`;
  else if (outcome.exitCode !== expected) reason = `test "${shown}": expected exit code ${expected}, found ${outcome.exitCode}${outcome.stderr.trim() ? ` (stderr: ${outcome.stderr.trim().slice(-500)})` : ''}`;
  else if (test.output !== undefined && !outcome.stdout.includes(test.output)) reason = `test "${shown}": expected the output to contain ${JSON.stringify(test.output)}, found ${JSON.stringify(outcome.stdout.slice(0, 500))}`;
  return { passed: reason === undefined, reason, outcome };
}
