/**
 * The spec's `test:` — a smoke test of an image before it replaces the old one. It runs exactly as `pith run` runs
 * the image (the same secure defaults: the image's user, read-only root, no capabilities, no network), with the
 * output captured and the container killed at the timeout.
 */
import type { Spec } from '../config/spec.ts';
import { runContainer, type RunResult } from '../runtime/run.ts';

export interface SmokeTestResult {
  passed: boolean;
  /** Why it failed, naming what was expected and what was found. */
  reason?: string;
  outcome: { exitCode: number; stdout: string; stderr: string; timedOut: boolean };
}

export const DEFAULT_SMOKE_TIMEOUT_S = 60;

/**
 * Runs `test.command` (the whole argv, replacing the image's entrypoint and cmd) in `image` (any transport); it
 * passes when the exit code is `exit-code` (default 0) and, when `output` is given, standard output contains it.
 * `timeout` is in seconds (default 60).
 */
export async function smokeTest(image: string, test: NonNullable<Spec['test']>, options: { cacheDir?: string; stateDir?: string } = {}): Promise<SmokeTestResult> {
  const timeout = test.timeout ?? DEFAULT_SMOKE_TIMEOUT_S;
  const [entrypoint, ...args] = test.command;
  const run: RunResult = await runContainer(image, { entrypoint, args, capture: { timeoutMs: timeout * 1000 }, cacheDir: options.cacheDir, stateDir: options.stateDir });
  const outcome = { exitCode: run.exitCode, stdout: run.stdout ?? '', stderr: run.stderr ?? '', timedOut: run.timedOut ?? false };
  const expected = test['exit-code'] ?? 0;
  const shown = test.command.join(' ');
  let reason: string | undefined;
  if (outcome.timedOut) reason = `test "${shown}" did not finish within ${timeout} s`;
  else if (outcome.exitCode !== expected) reason = `test "${shown}": expected exit code ${expected}, found ${outcome.exitCode}${outcome.stderr.trim() ? ` (stderr: ${outcome.stderr.trim().slice(-500)})` : ''}`;
  else if (test.output !== undefined && !outcome.stdout.includes(test.output)) reason = `test "${shown}": expected the output to contain ${JSON.stringify(test.output)}, found ${JSON.stringify(outcome.stdout.slice(0, 500))}`;
  return { passed: reason === undefined, reason, outcome };
}
