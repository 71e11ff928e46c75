// The public library API. The CLI (src/cli) uses only what is exported here.
export {
  PithError, isPithError, ERROR_CATALOGUE, exitStatusOf, EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DRIFT, EXIT_FINDINGS, EXIT_STATUSES,
  type ErrorCode, type ExitStatus,
} from './errors.ts';
export { PITH_VERSION } from './version.ts';
export { canonicalJson } from './json.ts';
export { parseDeb822, type Deb822Stanza, type Deb822Options } from './debian/deb822.ts';
export { compareVersions, parseVersion, satisfiesVersion, type DebianVersion, type RelationOp } from './debian/version.ts';
export { parseRelations, type Relation } from './debian/relations.ts';
export { loadAptSources, parseSourceLine, parseSourcesList, parseDeb822Sources, type SourceEntry } from './debian/sources.ts';
export { findInSnapshot, snapshotBase, snapshotOf, snapshotUri, type SnapshotPin } from './debian/snapshot.ts';
export { loadKeyring, verifyInRelease, type VerifiedRelease, type ReleaseFile, type Keyring } from './debian/release.ts';
export {
  parsePackagesIndex,
  parseSourceField,
  sourcedPackage,
  pinnedPackage,
  type BinaryPackage,
  type IndexOrigin,
  type MultiArch,
  type PackageId,
  type PackageSource,
  type DebFile,
  type SourcedPackage,
  type PinnedPackage,
} from './debian/packages.ts';
export { openArchive, DEFAULT_KEYRING, type Archive, type ArchiveEvent, type OpenArchiveOptions, type SuiteRelease } from './debian/archive.ts';
export { resolve, PackageUniverse, type Resolution, type ResolvedPackage, type ResolveOptions, type Exclusion } from './debian/resolve.ts';
export { ContentStore, defaultCacheDir, writeFileAtomic } from './cache/store.ts';
export { loadSpec, parseSpec, specSchema, type Spec, type LoadedSpec, type LoadSpecOptions } from './config/spec.ts';
export { initSpec, starterSpec, specNameFor } from './config/init.ts';
export { lock, checkLock, minimalPins, type LockOptions, type LockResult } from './orchestrate/lock.ts';
export { carrySnapshots, openSpecArchive, pinSnapshots, specSnapshot, specSources, type ArchiveAccess } from './orchestrate/archive.ts';
export {
  resolveLock,
  lockDrift,
  readLock,
  writeLock,
  loadLockFor,
  lockChanges,
  lockPathFor,
  lockToRead,
  type PackageChange,
  lockedPackage,
  hostArchitecture,
  type LockFile,
  type LockedPackage,
  type ResolveLockOptions,
  type LockCheck,
  type Drift,
} from './lock/lock.ts';
export { FsTree, normalisePath } from './fs/tree.ts';
export type { FsEntry } from './fs/entry.ts';
export { readDeb, type Deb } from './debian/deb.ts';
export { build, type BuildOptions, type BuildResult, type AttachedSboms } from './orchestrate/build.ts';
export { buildImage, buildIndex, type Image, type ImageIndex, type Layer } from './oci/image.ts';
export { parseDestination, formatDestination, registryLocation, registryReference, writeImage, type Destination } from './transports/transports.ts';
export { readElf, isElf, debianArchitecture, MULTIARCH_TRIPLETS, type ElfInfo } from './libraries/elf.ts';
export { ContentsIndex, parseContents, isLibraryPath } from './debian/contents.ts';
export {
  verifyLibraries,
  planLibraries,
  specElfNeeds,
  needsChanges,
  defaultLibraryDirs,
  type ElfNeeds,
  type LibrariesMode,
  type LibraryClosure,
  type LibraryProvision,
  type LockedLibraries,
} from './libraries/closure.ts';
export { copyImage, locateImage, readImage, type CopyOptions, type CopyResult } from './transports/transports.ts';
export { parseReference, formatReference, type Reference } from './oci/reference.ts';
export { pushImage, type PushSummary } from './registry/push.ts';
export { readRemote } from './registry/pull.ts';
export { login, logout, type LoginResult } from './registry/login.ts';
export { attachArtifact, listReferrers, artifactManifest, fallbackTag, type Artifact, type AttachResult, type Referrers, type ReferrerDescriptor } from './registry/referrers.ts';
export type { RegistryOptions } from './registry/client.ts';
export { sbomFor, sbomDocument, attachSboms, SBOM_FORMATS, type SbomDocument, type SbomOptions, type AttachedSbom } from './sbom/sbom.ts';
export { parseSbomFormats, SBOM_FORMAT_NAMES, type SbomFormat } from './sbom/formats.ts';
export { imageInventory, debPurl, type ImageInventory, type InventoryPackage, type SpecFile } from './sbom/inventory.ts';
export { spdxDocument, spdxJson, SPDX_MEDIA_TYPE, type SpdxDocument } from './sbom/spdx.ts';
export { cyclonedxBom, cyclonedxJson, CYCLONEDX_MEDIA_TYPE } from './sbom/cyclonedx.ts';
export { declaredLicense, dep5ToSpdx, type DeclaredLicense } from './sbom/copyright.ts';
export { inspect, inspectImage, type Inspection, type InspectedPlatform, type InspectedFile } from './inspect/inspect.ts';
export { diff, diffImages, type ImageDiff, type PlatformDiff } from './inspect/diff.ts';
export { readRootfs, Rootfs, type ImageFile, type LayerContents, type RootfsOptions } from './oci/rootfs.ts';
export { readPackages, readOsRelease, type InstalledPackage, type OsRelease } from './assemble/installed.ts';
export { loadRegistriesConf, parseRegistriesConf, findRegistry, pullEndpoints, primaryEndpoint, registryApiHost, DOCKER_HUB_API_HOST, type RegistriesConf, type RegistryEntry, type Endpoint } from './registry/registries-conf.ts';
export { runContainer, containerName, stopContainer, listContainers, containerStatus, containerLog, copyContainerLog, defaultStateDir, type ContainerOptions, type ContainerRecord, type ContainerStatus, type RunResult, type RuntimeName } from './runtime/run.ts';
export { runtimeSpec, memoryLimit, capability, type RunOptions, type RuntimeSpec } from './runtime/config.ts';
export { unpackImage, type UnpackedImage } from './runtime/unpack.ts';
export { resolveTarget, debugReport, debugContainer, imageVulnerabilities, debugExec, formatReport, type Target, type DebugReport, type DebugOptions, type Vulnerability } from './runtime/debug.ts';
export { parseOsv, parseTracker, type Advisory, type AffectedRange, type FeedParse } from './advisories/feeds.ts';
export { loadAdvisories, readZip, type AdvisorySet, type LoadAdvisoriesOptions } from './advisories/load.ts';
export { AdvisoryIndex, affects } from './advisories/match.ts';
export { debianRelease, osRelease, type DebianRelease } from './advisories/release.ts';
export { parseChangelog, entriesBetween, type ChangelogEntry } from './debian/changelog.ts';
export { check, checkImage, lockRelease, type CheckOptions, type FleetCheck, type ImageCheck, type PackageUpdate, type Finding } from './orchestrate/check.ts';
export { findSpecs } from './orchestrate/fleet.ts';
export { resolvePackages, type ResolvePackagesOptions } from './orchestrate/resolve.ts';
export { where, type WhereHit } from './orchestrate/where.ts';
export { update, updateImage, type UpdateOptions, type ImageUpdate } from './orchestrate/update.ts';
export { DEFAULT_JOB_IMAGE, fleetMembers, githubMatrix, k8sJob, plan, shardOf, shardSpecs, type FleetMember, type JobOptions, type Plan } from './orchestrate/plan.ts';
export { parseShard, type Shard } from './orchestrate/shard.ts';
export { smokeTest, type SmokeTestResult } from './orchestrate/smoke.ts';
export { rollout, parseImagePin, pinsFromResults, unifiedDiff, deployedImages, type DeployedImage, type ImagePin, type RolloutEdit, type RolloutOptions, type RolloutResult } from './orchestrate/rollout.ts';

// Trust: keys, signatures, attestations, verification.
export { generateKeyPair, loadSigningKey, writeKeyPair, loadVerificationKey, verificationKeyOf, type KeyPair, type SigningKey, type VerificationKey } from './trust/keys.ts';
export { IN_TOTO_PAYLOAD_TYPE, keyFingerprint, openEnvelope, pae, signEnvelope, type DsseEnvelope, type DsseSignature } from './trust/dsse.ts';
export { bundleAnnotations, COSIGN_SIGN_PREDICATE_TYPE, cosignIdentity, cosignSignStatement, signatureTag, signImage, simpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE, verifyImageSignatures, type ImageSignature, type ImageVerification, type RejectedSignature, type SignImageOptions, type SignImageResult, type VerifiedSignature } from './trust/cosign.ts';
export { openSigner, openVerifier, sign, verify, type Signer, type SignOptions, type SignReport, type Verifier, type VerifyOptions, type VerifyReport } from './trust/trust.ts';
export { ATOMIC_SIGNATURE_TYPE, lookasideSignatureUrl, simpleSignImage, simpleSigningDocument, verifySimpleSignatures, type SimpleSignature, type SimpleSignOptions, type SimpleVerification } from './trust/simplesigning.ts';
export { attachKeylessSignature, KEYLESS_ENV, loadTrustedRoot, signKeyless, verifyKeyless, verifyKeylessImage, type KeylessImageVerification, type KeylessPolicy, type KeylessSignOptions, type KeylessVerification, type TrustedRootMaterial } from './trust/keyless.ts';
export {
  attestationTag, attestImage, CYCLONEDX_PREDICATE_TYPE, DEFAULT_BUILDER_ID, DSSE_ENVELOPE_MEDIA_TYPE, LOCK_MEDIA_TYPE, PITH_BUILD_TYPE, provenanceLockDifferences, provenanceStatement, resolvedDependencies,
  SBOM_PREDICATE_TYPES, sbomStatement, SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE, verifyAttestations,
  type AttachedAttestation, type AttestationReport, type AttestOptions, type AttestReport, type ProvenanceInputs, type RejectedAttestation, type ResourceDescriptor, type SlsaProvenance, type Statement,
  type VerifiedAttestation, type VerifyAttestationsOptions,
} from './trust/attest.ts';

// Serve: pith-serve.yaml, and what its sources hold (specs, registries, deployment manifests) and the advisories affecting it.
export { DEFAULT_INTERVAL_MS, durationMs, loadServeConfig, parseServeConfig, SERVE_CONFIG_FILE, serveConfigSchema, type RegistrySource, type ServeConfig } from './serve/config.ts';
export { readSources, type ReadSourcesOptions, type SourcesConfig } from './serve/sources.ts';
export { findingsFor, loadFleetAdvisories, type FleetAdvisories, type LoadFleetAdvisoriesOptions } from './serve/findings.ts';
export { refreshFleet, type Refresh, type RefreshOptions } from './serve/refresh.ts';
// The fleet service (pith serve): what its sources hold, and the store that keeps it over time.
export type { Deployment, FleetFinding, FleetImage, FleetPackage, FleetSnapshot, ImageOrigin, SourceError } from './serve/model.ts';
export {
  FleetStore, openStore, originKey, originReference, originSource,
  type CveHit, type DeploymentView, type FindingView, type FleetSummary, type ImageDetail, type ImageSummary, type OriginState, type OriginView,
  type PackageHit, type PatchEvent, type RecordResult, type RefreshRecord, type SourceStatus,
} from './serve/store.ts';
