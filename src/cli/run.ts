import { Command, Option } from 'commander';
import { containerName, copyContainerLog, listContainers, runContainer, stopContainer, type ContainerOptions } from '../runtime/run.ts';
import { capability, memoryLimit } from '../runtime/config.ts';
import { formatReference, parseReference } from '../oci/reference.ts';
import { registryReference } from '../transports/transports.ts';
import { verify } from '../trust/trust.ts';
import { cacheOption, checkedBy, formatTable, IMAGE_ARGUMENT, integer, jsonOption, keylessVerifyOptions, lookasideOption, platformOption, repeatable, seconds, verifierFlag, type KeylessVerifyFlags } from './common.ts';
import { insecureOption, registriesConfOption, registryOptions, type RegistryFlags } from './registry.ts';

interface RunFlags extends RegistryFlags {
  name?: string;
  entrypoint?: string;
  env?: string[];
  volume?: string[];
  workdir?: string;
  user?: string;
  memory?: string;
  pidsLimit?: number;
  network: 'none' | 'host';
  detach?: boolean;
  runtime: 'runc' | 'crun';
  writable?: boolean;
  capAdd?: string[];
  cache?: string;
  platform?: string;
}

export function runCommand(): Command {
  const command = new Command('run')
    .description('run an image as a container with secure defaults (read-only root, no capabilities, seccomp, no network); unpacked once per digest')
    .argument('<image>', IMAGE_ARGUMENT)
    .argument('[args...]', "after --: replaces the image's Cmd (its Entrypoint stays)")
    .option('--name <name>', 'container name (default pith-<random>)', checkedBy(containerName))
    .option('--entrypoint <program>', "run this program of the image instead of its Entrypoint (the arguments after -- follow it)")
    .option('-e, --env <K=V>', 'set an environment variable (K alone passes the host value); repeatable', repeatable)
    .option('-v, --volume <HOST:CTR[:ro]>', 'bind-mount a host path; repeatable', repeatable)
    .option('--workdir <dir>', "working directory (default the image's)")
    .option('--user <user[:group]>', "run as this user of the image (default the image's user)")
    .option('--memory <size>', 'memory limit, e.g. 64m (at least 6m)', checkedBy((text) => memoryLimit(text, '--memory')))
    .option('--pids-limit <n>', 'at most this many processes', integer('--pids-limit'))
    .addOption(new Option('--network <mode>', 'none: its own network namespace with only loopback; host: the host network').choices(['none', 'host']).default('none'))
    .option('-d, --detach', 'run in the background; output goes to `pith logs NAME`')
    .addOption(new Option('--runtime <runtime>', 'OCI runtime').choices(['runc', 'crun']).default('runc'))
    .option('--writable', "a writable root filesystem (the writes are the container's own and go with it)")
    .option('--cap-add <cap>', 'give back a capability, e.g. NET_BIND_SERVICE; repeatable', (text: string, previous: string[] | undefined) => repeatable(checkedBy(capability)(text), previous))
    .addOption(cacheOption())
    .addOption(platformOption())
    .addOption(insecureOption())
    .addOption(registriesConfOption())
    .option('--verify <keyfile>', 'run a registry image only if it is signed with this public key (as pith verify checks), or by the keyless identity of --certificate-identity and --certificate-oidc-issuer; the verified digest is what runs');
  for (const option of [...keylessVerifyOptions(), lookasideOption('read from')]) command.addOption(option);
  return command
    .action(async (image: string, args: string[], flags: RunFlags & KeylessVerifyFlags & { verify?: string; lookaside?: string }) => {
      const verifier = verifierFlag(flags.verify, '--verify', flags, 'pith run', false);
      if (verifier !== undefined) {
        const reference = registryReference(image, 'the <image> of pith run --verify (a signature lives in a registry)');
        const verified = await verify(reference, verifier, { ...registryOptions(flags), lookaside: flags.lookaside });
        // What runs is the digest that verified, not whatever the tag names a moment later.
        image = `docker://${formatReference({ ...parseReference(reference), tag: undefined, digest: verified.digest })}`;
      }
      const options: ContainerOptions = {
        args,
        name: flags.name,
        entrypoint: flags.entrypoint,
        env: flags.env,
        volumes: flags.volume,
        workdir: flags.workdir,
        user: flags.user,
        memory: flags.memory,
        pidsLimit: flags.pidsLimit,
        network: flags.network,
        detach: flags.detach,
        runtime: flags.runtime,
        writable: flags.writable,
        capAdd: flags.capAdd,
        cacheDir: flags.cache,
        platform: flags.platform,
        registry: registryOptions(flags),
      };
      const { record, exitCode } = await runContainer(image, options);
      if (flags.detach) process.stdout.write(`${record.name}\n`);
      process.exitCode = exitCode;
    });
}

export function psCommand(): Command {
  return new Command('ps')
    .description('list pith containers (running, and detached ones that have exited)')
    .addOption(jsonOption())
    .action(async (flags: { json?: boolean }) => {
      const all = await listContainers();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        return;
      }
      const rows = [['NAME', 'STATUS', 'PID', 'RUNTIME', 'IMAGE', 'DIGEST'], ...all.map((c) => [c.name, c.status, String(c.pid ?? '-'), c.runtime, c.image, c.digest.slice(0, 19)])];
      process.stdout.write(formatTable(rows));
    });
}

export function stopCommand(): Command {
  return new Command('stop')
    .description('stop a pith container (SIGTERM, then SIGKILL after --time seconds) and remove it')
    .argument('<name>', 'container name')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', seconds('--time'), 10)
    .action(async (name: string, flags: { time: number }) => {
      await stopContainer(name, { timeoutSeconds: flags.time });
      process.stdout.write(`${name}\n`);
    });
}

export function logsCommand(): Command {
  return new Command('logs')
    .description("print a detached container's output")
    .argument('<name>', 'container name')
    .option('-f, --follow', 'keep printing while the container runs')
    .action(async (name: string, flags: { follow?: boolean }) => {
      await copyContainerLog(name, process.stdout, { follow: flags.follow });
    });
}
