/**
 * Differences Berth keeps on purpose (or not yet fixed), each with its reason.
 * Scenario files may also export their own `allowlist` next to their scenarios.
 */
import type { AllowEntry } from "./scenario.js";

export const allowlist: AllowEntry[] = [
  {
    scenario: "*",
    where: "body.GraphDriver.Data*",
    why: "by nature: each engine's own snapshot layout (dockerd: overlay2/<cache id>/{diff,work,merged} and an -init layer; Berth: image/snapshots/<container id>/{upper,work,merged})",
  },
  {
    scenario: "system/ping",
    where: "headers.swarm",
    why: "moby 22+ (API 1.42) answers /_ping with a Swarm header; Berth serves API 1.47 and says \"inactive\", which 1.41 clients ignore",
  },
  {
    scenario: "system/ping",
    where: "headers.builder-version",
    why: "Berth serves only the legacy builder: \"Builder-Version: 1\" keeps a docker CLI 23+ from choosing BuildKit (it does when the header is absent, as with dockerd 20.10)",
  },
  {
    scenario: "system/version",
    where: "body.ApiVersion",
    why: "each daemon reports its own maximum API version (dockerd 20.10: 1.41, Berth: 1.47), whatever the request's path version",
  },
  {
    scenario: "system/version",
    where: "body.MinAPIVersion",
    why: "Berth supports API 1.24 and later (what the docker CLI 1.12+ and current SDKs send); dockerd 20.10 still accepts 1.12",
  },
  {
    scenario: "system/version",
    where: "body.Components.length",
    why: "Berth has no containerd or docker-init: its components are the engine and the OCI runtime",
  },
  {
    scenario: "*",
    where: "body.HostConfig.CgroupnsMode",
    why: "a safer default: Berth gives every container a private cgroup namespace, on cgroup v1 hosts too; dockerd keeps the host's there (docs/security.md)",
  },
  {
    scenario: "system/info",
    where: "body.SecurityOptions*",
    why: "with a private cgroup namespace by default on every host (see CgroupnsMode), Berth lists name=cgroupns on cgroup v1 too, as dockerd does where that is its default",
  },
];
