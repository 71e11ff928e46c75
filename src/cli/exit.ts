import { ERROR_CATALOGUE, EXIT_STATUSES, type ErrorCode } from '../errors.ts';

// The statuses live in the error catalogue (src/errors.ts), the one place that maps a code to its status.
export { EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DRIFT, EXIT_FINDINGS } from '../errors.ts';

const WIDTH = 116;

/** Greedy word wrap: `first` starts the first line, `indent` the others. */
function wrap(text: string, first: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const prefix = line === '' ? (lines.length === 0 ? first : indent) : `${line} `;
    if (line !== '' && prefix.length + word.length > WIDTH) {
      lines.push(line);
      line = indent + word;
    } else {
      line = prefix + word;
    }
  }
  return [...lines, line];
}

const codesExiting = (status: number) => (Object.keys(ERROR_CATALOGUE) as ErrorCode[]).filter((c) => ERROR_CATALOGUE[c].exit === status).sort();

/** `pith --help`'s exit statuses, from the catalogue: the codes that exit other than 1 are named so scripts can rely on them. */
export const EXIT_HELP = [
  '',
  'Exit status:',
  ...EXIT_STATUSES.flatMap(([status, meaning]) => {
    const codes = status > 1 ? codesExiting(status) : [];
    return wrap(codes.length > 0 ? `${meaning}; codes: ${codes.join(', ')}` : meaning, `  ${status}  `, '     ');
  }),
  '  pith run (in the foreground) and pith debug --exec exit with the container\'s or the tool\'s own status',
  ...wrap('An error prints "pith: CODE: message" on stderr; with --json it also prints {"error": {"code", "message", "exit", "details"}} on stdout. Every code is listed in the README (Error codes).', '', ''),
].join('\n');
