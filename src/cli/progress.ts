import cliProgress from 'cli-progress';
import type { ArchiveEvent } from '../index.ts';

/**
 * Download progress for a terminal: bars on stderr only when it is a TTY and JSON output was not asked for.
 * Warnings always reach stderr.
 */
export function progressReporter(enabled: boolean): { onEvent: (e: ArchiveEvent) => void; stop: () => void } {
  const multibar = enabled
    ? new cliProgress.MultiBar(
        { stream: process.stderr, clearOnComplete: true, hideCursor: true, format: ' {bar} {percentage}% | {name}', barsize: 30 },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    onEvent(e) {
      if (e.kind === 'warning') {
        if (multibar) multibar.log(`warning: ${e.message}\n`);
        else process.stderr.write(`warning: ${e.message}\n`);
        return;
      }
      if (!multibar) return;
      if (e.kind === 'fetch-start') bars.set(e.url, multibar.create(e.size ?? 1, 0, { name: e.label }));
      else if (e.kind === 'fetch-progress') {
        const bar = bars.get(e.url);
        if (bar) {
          if (e.size) bar.setTotal(e.size);
          bar.update(e.received);
        }
      } else if (e.kind === 'fetch-done') {
        const bar = bars.get(e.url);
        if (bar) {
          bar.update(bar.getTotal());
          multibar.remove(bar);
          bars.delete(e.url);
        }
      }
    },
    stop() {
      multibar?.stop();
    },
  };
}
