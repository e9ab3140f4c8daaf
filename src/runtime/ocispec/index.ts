/**
 * The one OCI spec builder: a container's config (Docker's HostConfig) and what start-up resolved in,
 * the runtime spec out, pure (host.ts is the only I/O: the host's facts, probed by the caller first).
 * Used by `docker run` (engine/runspec.ts), build RUN steps and `docker exec` / health checks, so
 * their confinement cannot drift apart.
 */
export { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS } from "./constants.js";
export { type HostFacts, type SpecHost, apparmorEnabled, defaultApparmorProfile, hostCapabilities, hostFacts, hostNofile, parseProcLimits, specHost } from "./host.js";
export { type Confinement, type ConfinementHost, type ConfinementInput, confinement, execConfinement } from "./confinement.js";
export { type SpecInput, buildSpec } from "./defaults.js";
export { type SpecHostConfig, type Ulimit, THROTTLE } from "./hostconfig.js";
export { type DeviceRule, devicePermissions, mergeTmpfsOptions, mergeUlimits, parseDeviceCgroupRule, resourcesFor, rlimitsFor, tmpfsMounts, validateTmpfsDestination } from "./resources.js";
export { type SecurityOpts, capabilitiesFor, parseSecurityOpts, seccompProfileFile } from "./security.js";
export { type ContainerSpecInput, type FoundDevice, type NamespaceChoice, type ResolvedHost, INIT_PATH, cgroupsPathOf, containerSpecOf, processEnv } from "./container.js";
export { type ExecProcessInput, execProcess } from "./exec.js";
export { TEST_FACTS_V1, TEST_FACTS_V2, TEST_SPEC_HOST } from "./testhost.js";
