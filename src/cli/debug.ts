import { Command } from 'commander';
import { PithError } from '../errors.ts';
import { debugContainer, debugExec, formatReport, resolveTarget } from '../runtime/debug.ts';
import { advisoriesOption, cacheOption, jsonOption, offlineOption } from './common.ts';

interface DebugFlags {
  json?: boolean;
  showEnv?: boolean;
  exec?: boolean;
  shell?: boolean;
  advisories?: string[];
  cache?: string;
  offline?: boolean;
}

export function debugCommand(): Command {
  return new Command('debug')
    .description("look into a running container from the host: its image's packages, processes, namespaces, cgroup, capabilities, seccomp, rlimits, mounts, sockets and environment; or run a host tool in its namespaces")
    .argument('<target>', 'a pid, a pith container name, a runc/crun container id, or a docker/podman container name or id')
    .argument('[command...]', 'with --exec, after --: the host program to run')
    .addOption(jsonOption())
    .option('--show-env', 'show environment values (redacted by default)')
    .option('--exec', "run the command after -- in the container's network, pid, ipc, uts and cgroup namespaces, with the host's filesystem and $PITH_ROOT=/proc/PID/root")
    .option('--shell', 'like --exec with $SHELL (or /bin/sh)')
    .addOption(advisoriesOption("OSV JSON (file, directory or zip) or Debian Security Tracker JSON (file or URL), matched for the release the image's os-release names: list the image's known vulnerabilities"))
    .addOption(cacheOption())
    .addOption(offlineOption())
    .action(async (target: string, command: string[], flags: DebugFlags) => {
      if (flags.exec && command.length === 0) throw new PithError('DEBUG_NO_COMMAND', 'expected a command after -- with --exec, found none');
      if (!flags.exec && !flags.shell && command.length > 0) {
        throw new PithError('DEBUG_NO_COMMAND', `expected --exec before a command, found ${JSON.stringify(command.join(' '))} without it`);
      }
      const t = await resolveTarget(target);
      if (flags.exec || flags.shell) {
        process.exitCode = await debugExec(t, flags.shell ? [process.env.SHELL || '/bin/sh'] : command);
        return;
      }
      const report = await debugContainer(t, {
        showEnv: flags.showEnv,
        advisories: flags.advisories,
        cacheDir: flags.cache,
        offline: flags.offline,
        onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    });
}
