/** Exit statuses, documented in `pith --help`. */
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_DRIFT = 3;
/** `pith check --fail-on`: what it names was found (a CI gate). */
export const EXIT_FINDINGS = 4;

export const EXIT_HELP = `
Exit status:
  0  success
  1  error (the message names what was expected, what was found, and where)
  2  usage error (unknown command or option, missing argument)
  3  pith lock --check found drift (spec changed, locked versions gone, or newer candidates)
  4  pith check --fail-on: security — a security update or an advisory's fix is available;
     any — any newer package, affecting advisory, or lock problem
  pith run (in the foreground) and pith debug --exec exit with the container's or the tool's own status`;
