/**
 * Hosts for unit tests, so that tests of the spec builder and of HostConfig validation need no
 * probing of the machine (and no root): a cgroup v1 host with 2 CPUs, its cgroup v2 twin, and a
 * SpecHost with every cgroup feature. Not used by the daemon.
 */
import { ALL_CAPABILITIES } from "./constants.js";
import type { HostFacts, SpecHost } from "./host.js";

export const TEST_FACTS_V1: HostFacts = {
  version: 1,
  cpus: "0-1",
  mems: "0",
  swapLimit: true,
  memoryReservation: true,
  swappiness: true,
  oomKillDisable: true,
  pidsLimit: true,
  cpuCfs: true,
  cpuShares: true,
  cpuset: true,
  blkioWeight: false,
  blkioWeightDevice: false,
  blkioThrottle: true,
  ncpu: 2,
  rlimits: { nofile: { soft: 20000, hard: 20000 }, core: { soft: 0, hard: -1 }, nproc: { soft: 1000, hard: 1000 } },
  sysResource: false,
};

export const TEST_FACTS_V2: HostFacts = { ...TEST_FACTS_V1, version: 2, swappiness: false, oomKillDisable: false, blkioWeight: true };

export const TEST_SPEC_HOST: SpecHost = {
  ...TEST_FACTS_V1,
  blkioWeight: true,
  blkioWeightDevice: true,
  capabilities: ALL_CAPABILITIES.slice(0, 38),
  apparmor: false,
  nofile: { type: "RLIMIT_NOFILE", soft: 1024, hard: 20000 },
  seccomp: { arch: "amd64", kernel: [6, 1, 0] },
};
