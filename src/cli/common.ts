import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseShard } from '../orchestrate/shard.ts';
import type { ArchiveEvent, AttachedSboms, KeylessPolicy, Shard } from '../index.ts';
import { parseSourceLine, type SourceEntry } from '../debian/sources.ts';
import { snapshotBase } from '../debian/snapshot.ts';
import { PithError } from '../errors.ts';
import { parseSbomFormats, type SbomFormat } from '../sbom/formats.ts';
import { progressReporter } from './progress.ts';

export interface ArchiveFlags {
  source?: string[];
  snapshot?: string;
  cache?: string;
  offline?: boolean;
  json?: boolean;
}

/*
 * Every option value is parsed here, while commander reads the command line: a bad value then fails before any
 * work starts, as a usage error (exit 2) that names the option, what it expects and what it was given. Commander
 * reports an InvalidArgumentError thrown from an argParser; one thrown later (from an action) it would not print.
 */

/** For options given more than once: every value, in order. */
export const repeatable = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export interface IntegerRange {
  /** Default 1. */
  min?: number;
  max?: number;
  /** What one unit is, for the message: "seconds". */
  unit?: string;
}

/** A whole number in decimal digits within the range; anything else is `fail`ed with what was expected and found. */
function wholeNumber(text: string, what: string, range: IntegerRange, fail: (message: string) => Error): number {
  const min = range.min ?? 1;
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (Number.isSafeInteger(value) && value >= min && (range.max === undefined || value <= range.max)) return value;
  const bounds = range.max === undefined ? (min === 0 ? 'a whole number' : `a whole number from ${min} up`) : `a whole number from ${min} to ${range.max}`;
  throw fail(`expected ${bounds}${range.unit ? ` of ${range.unit}` : ''} for ${what}, found ${JSON.stringify(text)}`);
}

/** An argParser for a numeric option: `--parallel <n>` with `integer('--parallel', { max: 64 })`. */
export const integer = (option: string, range: IntegerRange = {}) => (text: string): number =>
  wholeNumber(text, option, range, (message) => new InvalidArgumentError(message));

/** An argParser for a duration option given in whole seconds (0 allowed: "at once"). */
export const seconds = (option: string, range: Omit<IntegerRange, 'unit'> = {}) => integer(option, { min: 0, ...range, unit: 'seconds' });

/**
 * An argParser that hands the value to the library's own `check` (which throws a PithError), so the CLI refuses
 * what the library would refuse, before any work, with the same words.
 */
export const checkedBy = (check: (text: string) => unknown) => (text: string): string => {
  try {
    check(text);
  } catch (e) {
    if (e instanceof PithError) throw new InvalidArgumentError(e.message);
    throw e;
  }
  return text;
};

export const sourceOption = () =>
  new Option('--source <line>', "an archive source as a one-line apt entry, e.g. 'deb [signed-by=KEYRING] URI SUITE COMPONENT…'; repeatable; replaces the spec's and the machine's sources")
    .argParser(repeatable);

export const cacheOption = () => new Option('--cache <dir>', 'cache directory (default $XDG_CACHE_HOME/pith or ~/.cache/pith)');
export const offlineOption = () => new Option('--offline', 'use only the cache; fail naming what is missing');
/** `--sign KEYFILE` on the commands that push: sign what they push (see pith sign). */
export const signOption = () => new Option('--sign <keyfile>', 'sign what is pushed with this private key, as pith sign does: ECDSA (cosign\'s .sig tag and a Sigstore bundle referrer), or OpenPGP with --lookaside (containers/image simple signing); build and update also attest the build (SLSA provenance, SBOMs; --no-attest to skip)');
/** `--lookaside DIR|URL`: where an OpenPGP key's simple signatures are written or read (containers-registries.d(5)). */
export const lookasideOption = (what: string) => new Option('--lookaside <dir|url>', `with an OpenPGP key: the lookaside the simple signatures are ${what} (a directory or file:// URL${what === 'written to' ? '' : ', or an http(s):// URL'}), laid out as containers-registries.d(5) says`);
/** `--sign-keyless` beside `--sign`: sign what is pushed keylessly, with the settings `pith sign --keyless` reads from the environment. */
export const signKeylessOption = () => new Option('--sign-keyless', 'sign what is pushed keylessly, as pith sign --keyless does (SIGSTORE_ID_TOKEN or the CI\'s token; PITH_FULCIO_URL, PITH_REKOR_URL)');
/** The signer of `--sign KEYFILE` or `--sign-keyless`, if any; both is a usage error. */
export function signerFlag(flags: { sign?: string; signKeyless?: boolean }): string | { keyless: Record<string, never> } | undefined {
  if (flags.sign !== undefined && flags.signKeyless) throw new PithError('USAGE', 'give --sign KEYFILE or --sign-keyless, not both');
  return flags.signKeyless ? { keyless: {} } : flags.sign;
}
/** The keyless identity options of every command that verifies (pith verify, run --verify, rollout --verify). */
export const keylessVerifyOptions = () => [
  new Option('--certificate-identity <identity>', 'keyless: the signer the Fulcio certificate must name (an email or URI, exact)'),
  new Option('--certificate-identity-regexp <pattern>', 'keyless: a pattern the certificate\'s identity must match, instead of --certificate-identity'),
  new Option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer the certificate must name (exact)'),
  new Option('--trusted-root <file>', 'keyless: the Sigstore trusted root (trusted_root.json) whose Fulcio and Rekor keys count (default $PITH_TRUSTED_ROOT)'),
];
export interface KeylessVerifyFlags {
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
}
/**
 * Who must have signed: the public key given with `keyOption`, or the keyless identity and issuer; undefined when
 * neither is given and none is `required`. Half a keyless identity, or a key and an identity, are usage errors.
 */
export function verifierFlag(key: string | undefined, keyOption: string, flags: KeylessVerifyFlags, where: string, required: boolean): string | { keyless: KeylessPolicy } | undefined {
  if (flags.certificateIdentity !== undefined && flags.certificateIdentityRegexp !== undefined) throw new PithError('USAGE', `${where}: give --certificate-identity or --certificate-identity-regexp, not both`);
  const identity = flags.certificateIdentity ?? (flags.certificateIdentityRegexp === undefined ? undefined : new RegExp(flags.certificateIdentityRegexp));
  if (identity === undefined && flags.certificateOidcIssuer === undefined && flags.trustedRoot === undefined) {
    if (key === undefined && required) throw new PithError('USAGE', `${where}: expected ${keyOption} FILE (a public key) or --certificate-identity with --certificate-oidc-issuer, found neither`);
    return key;
  }
  if (key !== undefined) throw new PithError('USAGE', `${where}: give ${keyOption} FILE or a keyless identity (--certificate-identity, --certificate-oidc-issuer), not both`);
  if (identity === undefined || flags.certificateOidcIssuer === undefined) {
    throw new PithError('USAGE', `${where}: keyless verification needs both --certificate-identity (or --certificate-identity-regexp) and --certificate-oidc-issuer, found only ${identity === undefined ? '--certificate-oidc-issuer' : 'the identity'}`);
  }
  return { keyless: { certificateIdentity: identity, certificateOidcIssuer: flags.certificateOidcIssuer, ...(flags.trustedRoot !== undefined ? { trustedRoot: flags.trustedRoot } : {}) } };
}
/** `--no-attest` and `--builder-id` beside `--sign` on the commands that build: the attestations signed with the image. */
export const noAttestOption = () => new Option('--no-attest', 'with --sign: sign the image alone, without the SLSA provenance and SBOM attestations');
export const builderIdOption = () => new Option('--builder-id <uri>', 'with --sign: the builder the provenance names (default urn:pith:builder:local), e.g. the CI workflow\'s URI');
/** One line per signed manifest, and per attestation. */
export function signatureLines(reports: ReadonlyArray<{ reference: string; format: string; digests: readonly string[]; attestations?: { attestations: ReadonlyArray<{ subject: string; predicateType: string }> } }> | undefined): string[] {
  return (reports ?? []).flatMap((r) => {
    const repository = r.reference.replace(/@sha256:[0-9a-f]+$/, '').replace(/(\/[^/:]+):[\w][\w.-]*$/, '$1');
    return [
      ...r.digests.map((d) => `signed ${d} in ${repository} (${r.format})`),
      ...(r.attestations?.attestations ?? []).map((a) => `attested ${a.subject} in ${repository} (${a.predicateType})`),
    ];
  });
}
export const jsonOption = () => new Option('--json', 'print machine-readable JSON on stdout');
/** `--cache-from`/`--cache-to`: the registry build cache; repeatable; `$PITH_CACHE_FROM`/`$PITH_CACHE_TO` (comma-separated) when not given. */
export const cacheFromOption = () => new Option('--cache-from <repository>', 'a registry repository (docker://REG/REPO) whose build cache is used: whole builds and compressed layers; repeatable (default $PITH_CACHE_FROM)').argParser(repeatable);
export const cacheToOption = () => new Option('--cache-to <repository>', 'a registry repository every build and compressed layer is published to, for other machines; repeatable (default $PITH_CACHE_TO)').argParser(repeatable);

export function registryCacheFlags(flags: { cacheFrom?: string[]; cacheTo?: string[] }, env: NodeJS.ProcessEnv = process.env): { cacheFrom?: string[]; cacheTo?: string[] } {
  const list = (v: string | undefined) => (v ? v.split(',').map((x) => x.trim()).filter((x) => x !== '') : undefined);
  return { cacheFrom: flags.cacheFrom ?? list(env.PITH_CACHE_FROM), cacheTo: flags.cacheTo ?? list(env.PITH_CACHE_TO) };
}

/**
 * `--shard I/N` (from 1, as Jest and Playwright count) and `--shard-from-zero I/N` (for engines that count from 0,
 * such as Kubernetes' JOB_COMPLETION_INDEX): a deterministic share of the fleet's specs.
 */
export function addShardOptions(command: Command): Command {
  return command
    .addOption(new Option('--shard <I/N>', 'only shard I of N of the fleet\'s specs (I from 1): N workers split a fleet with no coordinator').argParser(checkedBy((t) => parseShard(t, '--shard'))).conflicts('shardFromZero'))
    .addOption(new Option('--shard-from-zero <I/N>', 'as --shard, I counted from 0 (Kubernetes: $(JOB_COMPLETION_INDEX)/N)').argParser(checkedBy((t) => parseShard(t, '--shard-from-zero', { fromZero: true }))));
}

export function shardFlag(flags: { shard?: string; shardFromZero?: string }): Shard | undefined {
  if (flags.shard !== undefined) return parseShard(flags.shard);
  if (flags.shardFromZero !== undefined) return parseShard(flags.shardFromZero, '--shard-from-zero', { fromZero: true });
  return undefined;
}

export const snapshotOption = () =>
  new Option('--snapshot <url>', 'base URL of a snapshot service (…/archive/<archive>/<timestamp>/): where locked versions the archive dropped are fetched from (default: the spec\'s archive: snapshot:)').argParser(checkedBy((text) => snapshotBase(text, '--snapshot')));

/** The options of every command that reads the archive: --source, --cache, --offline and --json. */
export function addArchiveOptions(command: Command): Command {
  return command.addOption(sourceOption()).addOption(cacheOption()).addOption(offlineOption()).addOption(jsonOption());
}

export const advisoriesOption = (description: string) => new Option('--advisories <src>', `${description}; repeatable`).argParser(repeatable);

export const sbomOption = (description: string) =>
  new Option('--sbom <formats>', description).argParser((text: string): SbomFormat[] => {
    try {
      return parseSbomFormats(text, '--sbom');
    } catch (e) {
      if (e instanceof PithError) throw new InvalidArgumentError(e.message);
      throw e;
    }
  });

/** What `--sbom` did, one line each: the SBOMs attached, and the outputs that cannot hold them. */
export function sbomLines(sboms: AttachedSboms | undefined): string[] {
  return [
    ...(sboms?.attached ?? []).map((a) => `attached the ${a.format} SBOM of ${a.platform} to ${a.destination} (${a.digest})`),
    ...(sboms?.skipped ?? []).map((out) => `no SBOM stored in ${out}: only oci: layouts and registries hold artifacts (pith sbom ${out} makes one)`),
  ];
}

export function sourcesFromFlags(flags: ArchiveFlags): SourceEntry[] | undefined {
  if (!flags.source || flags.source.length === 0) return undefined;
  const onWarning = (message: string) => process.stderr.write(`warning: ${message}\n`);
  return flags.source.map((line, i) => parseSourceLine(line, `--source #${i + 1}`, { onWarning }));
}

export function wantsProgress(flags: ArchiveFlags): boolean {
  return Boolean(process.stderr.isTTY) && !flags.json;
}

/** Runs `work` with download progress on a terminal (not with --json); the bars are gone before anything prints. */
export async function withProgress<T>(flags: ArchiveFlags, work: (onEvent: (e: ArchiveEvent) => void) => Promise<T>): Promise<T> {
  const progress = progressReporter(wantsProgress(flags));
  try {
    return await work(progress.onEvent);
  } finally {
    progress.stop();
  }
}

/** The archive options as the library takes them. */
export function archiveOptions(flags: ArchiveFlags, onEvent: (e: ArchiveEvent) => void) {
  return { sources: sourcesFromFlags(flags), snapshot: flags.snapshot, cacheDir: flags.cache, offline: flags.offline, onEvent };
}

/**
 * SOURCE_DATE_EPOCH, when set (reproducible-builds.org: a malformed value is an error, not a silent fallback to
 * the lock's date).
 */
export function sourceDateEpochFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return undefined;
  return wholeNumber(text, 'SOURCE_DATE_EPOCH', { min: 0, unit: 'seconds since 1970' }, (message) => new PithError('USAGE', message));
}

/** How every command names an image it reads (transports/transports.ts `locateImage`), in its help. */
export const IMAGE_ARGUMENT = 'an OCI layout directory[:TAG] or image archive[:TAG] that exists, a registry reference, or oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], docker://REF';
/** How push and pull name a registry (transports/transports.ts `registryReference`). */
export const REGISTRY_ARGUMENT = 'registry/repository[:tag|@digest], with or without docker://';

export const platformOption = () => new Option('--platform <os/arch[/variant]>', 'only this platform of an image index, e.g. linux/arm64');

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e5 ? 3 : 1)} MB`;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n').join('');
}
