import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ociJson } from "../runtime/index.js";
import type { ContainerRecord, HostConfig } from "./types.js";
import {
  type HostFacts,
  INIT_PATH,
  adaptHostConfig,
  devicesFromPath,
  findInitBinary,
  isStaticElf,
  mergeUlimits,
  mergeTmpfsOptions,
  parseDeviceCgroupRule,
  parseProcLimits,
  parseUintList,
  resourcesFor,
  specExtras,
  tmpfsMounts,
  ulimitsToRlimits,
} from "./hostconfig.js";

const V1: HostFacts = {
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
const V2: HostFacts = { ...V1, version: 2, swappiness: false, oomKillDisable: false, blkioWeight: true };
const MB = 1024 * 1024;

const errMsg = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "(no error)";
};

function rec(hc: HostConfig): ContainerRecord {
  return { Id: "c".repeat(64), Name: "/t", HostConfig: hc } as unknown as ContainerRecord;
}

describe("HostConfig validation (Docker's create-time rules)", () => {
  it("rejects memory below 6MB and bad swap/reservation combinations with Docker's messages", () => {
    assert.equal(errMsg(() => adaptHostConfig({ Memory: 4 * MB }, V1)), "Minimum memory limit allowed is 6MB");
    assert.equal(errMsg(() => adaptHostConfig({ Memory: 64 * MB, MemorySwap: 32 * MB }, V1)), "Minimum memoryswap limit should be larger than memory limit, see usage");
    assert.equal(errMsg(() => adaptHostConfig({ MemorySwap: 64 * MB }, V1)), "You should always set the Memory limit when using Memoryswap limit, see usage");
    assert.equal(errMsg(() => adaptHostConfig({ MemoryReservation: MB }, V1)), "Minimum memory reservation allowed is 6MB");
    assert.equal(errMsg(() => adaptHostConfig({ Memory: 10 * MB, MemoryReservation: 20 * MB }, V1)), "Minimum memory limit can not be less than memory reservation limit, see usage");
    assert.equal(errMsg(() => adaptHostConfig({ MemorySwappiness: 101 }, V1)), "Invalid value: 101, valid memory swappiness range is 0-100");
  });

  it("defaults MemorySwap to twice the memory, keeps -1 (unlimited), and drops PidsLimit <= 0", () => {
    const a: HostConfig = { Memory: 10 * MB };
    assert.deepEqual(adaptHostConfig(a, V1), []);
    assert.equal(a.MemorySwap, 20 * MB);
    const b: HostConfig = { Memory: 10 * MB, MemorySwap: -1, PidsLimit: -1 };
    adaptHostConfig(b, V1);
    assert.equal(b.MemorySwap, -1);
    assert.equal(b.PidsLimit, null);
  });

  it("validates CPU options against the host", () => {
    assert.equal(errMsg(() => adaptHostConfig({ NanoCpus: 3e9 }, V1)), "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    assert.equal(errMsg(() => adaptHostConfig({ NanoCpus: 5e8, CpuPeriod: 50000 }, V1)), "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    assert.equal(errMsg(() => adaptHostConfig({ NanoCpus: 5e8, CpuQuota: 50000 }, V1)), "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    assert.equal(errMsg(() => adaptHostConfig({ CpuPeriod: 500 }, V1)), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    assert.equal(errMsg(() => adaptHostConfig({ CpuQuota: 999 }, V1)), "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    assert.equal(errMsg(() => adaptHostConfig({ CpusetCpus: "0-3" }, V1)), "Requested CPUs are not available - requested 0-3, available: 0-1");
    assert.equal(errMsg(() => adaptHostConfig({ CpusetCpus: "1-0" }, V1)), "Invalid value 1-0 for cpuset cpus: invalid format: 1-0");
    assert.equal(errMsg(() => adaptHostConfig({ CpusetMems: "1" }, V1)), "Requested memory nodes are not available - requested 1, available: 0");
    assert.deepEqual(adaptHostConfig({ CpusetCpus: "0,1", CpusetMems: "0" }, V1), []);
  });

  it("warns and discards what the kernel does not support", () => {
    const hc: HostConfig = { BlkioWeight: 300 };
    assert.deepEqual(adaptHostConfig(hc, V1), ["Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."]);
    assert.equal(hc.BlkioWeight, 0);
    assert.equal(errMsg(() => adaptHostConfig({ BlkioWeight: 5 }, V2)), "Range of blkio weight is from 10 to 1000");
    const oom: HostConfig = { OomKillDisable: true, Memory: 10 * MB };
    assert.deepEqual(adaptHostConfig(oom, V2), ["Your kernel does not support OomKillDisable. OomKillDisable discarded."]);
    assert.equal(oom.OomKillDisable, null);
    assert.deepEqual(adaptHostConfig({ OomKillDisable: true }, V1), [
      "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.",
    ]);
  });

  it("checks ulimits: known names, soft <= hard, never above the daemon's hard limit without CAP_SYS_RESOURCE", () => {
    assert.equal(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "bogus", Soft: 1, Hard: 1 }] }, V1)), "invalid ulimit type: bogus");
    assert.equal(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "nofile", Soft: 300, Hard: 200 }] }, V1)), "ulimit soft limit must be less than or equal to hard limit: 300 > 200");
    assert.match(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "nofile", Soft: 1024, Hard: 30000 }] }, V1)), /nofile=1024:30000: the hard limit may not exceed the daemon's hard limit 20000/);
    assert.match(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "nproc", Soft: -1, Hard: -1 }] }, V1)), /hard limit 1000/);
    assert.deepEqual(adaptHostConfig({ Ulimits: [{ Name: "nofile", Soft: 30000, Hard: 30000 }] }, { ...V1, sysResource: true }), []);
  });

  it("checks tmpfs destinations and options, device modes and device cgroup rules", () => {
    assert.equal(errMsg(() => adaptHostConfig({ Tmpfs: { "/": "" } }, V1)), "invalid specification: destination can't be '/'");
    assert.equal(errMsg(() => adaptHostConfig({ Tmpfs: { run: "" } }, V1)), "invalid mount path: 'run' mount path must be absolute");
    assert.equal(errMsg(() => adaptHostConfig({ Tmpfs: { "/run": "bogus" } }, V1)), 'Invalid tmpfs option ["bogus"]');
    assert.equal(errMsg(() => adaptHostConfig({ Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwx" }] }, V1)), "invalid device mode: rwx");
    assert.equal(errMsg(() => adaptHostConfig({ DeviceCgroupRules: ["c 1:3"] }, V1)), "invalid device cgroup rule format: 'c 1:3'");
  });
});

describe("HostConfig → OCI resources", () => {
  it("maps memory, swap, reservation, swappiness and the OOM killer switch", () => {
    const hc: HostConfig = { Memory: 64 * MB, MemoryReservation: 32 * MB, MemorySwappiness: 10, OomKillDisable: true };
    adaptHostConfig(hc, V1);
    assert.deepEqual(resourcesFor(hc, V1), {
      memory: { limit: 64 * MB, reservation: 32 * MB, swap: 128 * MB, swappiness: 10, disableOOMKiller: true },
    });
    assert.deepEqual(resourcesFor({ Memory: 64 * MB, MemorySwap: -1 }, V1), { memory: { limit: 64 * MB } });
  });

  it("maps --cpus to a 100ms period and a quota, and passes shares, period, quota and cpusets", () => {
    assert.deepEqual(resourcesFor({ NanoCpus: 5e8 }, V1), { cpu: { period: 100000, quota: 50000 } });
    assert.deepEqual(resourcesFor({ NanoCpus: 1.5e9 }, V1), { cpu: { period: 100000, quota: 150000 } });
    assert.deepEqual(resourcesFor({ CpuShares: 512, CpuPeriod: 20000, CpuQuota: 10000, CpusetCpus: "1", CpusetMems: "0" }, V1), {
      cpu: { shares: 512, period: 20000, quota: 10000, cpus: "1", mems: "0" },
    });
  });

  it("maps the pids limit and the blkio weight (when supported), nothing for an empty config", () => {
    assert.deepEqual(resourcesFor({ PidsLimit: 10 }, V1), { pids: { limit: 10 } });
    assert.deepEqual(resourcesFor({ BlkioWeight: 300 }, V2), { blockIO: { weight: 300 } });
    assert.deepEqual(resourcesFor({}, V1), {});
  });

  it("turns ulimits into rlimits on top of the default open-files limit", () => {
    const base = [{ type: "RLIMIT_NOFILE", soft: 20000, hard: 20000 }];
    assert.deepEqual(ulimitsToRlimits([{ Name: "nofile", Soft: 100, Hard: 200 }], V1, base), [{ type: "RLIMIT_NOFILE", soft: 100, hard: 200 }]);
    assert.deepEqual(ulimitsToRlimits([{ Name: "core", Soft: -1, Hard: -1 }], V1, base), [
      base[0],
      { type: "RLIMIT_CORE", soft: -1, hard: -1 },
    ]);
  });

  it("writes an unlimited rlimit as RLIM_INFINITY in the runtime's JSON", () => {
    const rl = ulimitsToRlimits([{ Name: "core", Soft: -1, Hard: -1 }], V1, []);
    const json = ociJson({ user: { uid: 0, gid: 0 }, args: ["sh"], env: [], cwd: "/", rlimits: rl });
    assert.match(json, /"rlimits":\[\{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615\}\]/);
    // read back by JSON.parse (exec does), the value is 2^64: still written exactly
    assert.equal(ociJson(JSON.parse(json) as Parameters<typeof ociJson>[0]), json);
  });

  it("mounts tmpfs with Docker's default options, later options overriding earlier ones", () => {
    assert.deepEqual(tmpfsMounts({ "/scratch": "" }), [
      { destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "rprivate"] },
    ]);
    assert.deepEqual(tmpfsMounts({ "/run": "rw,size=64m" })[0]?.options, ["noexec", "nosuid", "nodev", "rprivate", "rw", "size=64m"]);
    assert.deepEqual(tmpfsMounts({ "/run": "exec,size=1m,size=2m,mode=1777" })[0]?.options, ["nosuid", "nodev", "rprivate", "exec", "size=2m", "mode=1777"]);
    assert.deepEqual(mergeTmpfsOptions(["defaults", "ro", "rw", "shared", "rprivate"]), ["rw", "rprivate"]);
    assert.deepEqual(tmpfsMounts({ "/a/b": "", "/a": "" }).map((m) => m.destination), ["/a", "/a/b"]);
  });

  it("parses device cgroup rules with wildcards", () => {
    assert.deepEqual(parseDeviceCgroupRule("c 1:3 mr"), { allow: true, type: "c", major: 1, minor: 3, access: "mr" });
    assert.deepEqual(parseDeviceCgroupRule("b *:* rwm"), { allow: true, type: "b", access: "rwm" });
  });

  it("reads the host's rlimits and cpuset lists", () => {
    const limits = parseProcLimits(
      "Limit                     Soft Limit           Hard Limit           Units\nMax core file size        0                    unlimited            bytes\nMax open files            1024                 20000                files\n",
    );
    assert.deepEqual(limits, { core: { soft: 0, hard: -1 }, nofile: { soft: 1024, hard: 20000 } });
    assert.deepEqual([...parseUintList("0-2,5")], [0, 1, 2, 5]);
    assert.throws(() => parseUintList("0,,1"), /invalid format: 0,,1/);
    assert.throws(() => parseUintList("9000", 8192), /value of out range, maximum is 8192/);
  });
});

describe("host devices and the init binary", () => {
  it("stats a host device node for its type, major and minor, under the container path", async () => {
    const [d] = await devicesFromPath("/dev/null", "/dev/mynull", "rw");
    assert.deepEqual(d?.device && { ...d.device, fileMode: undefined, uid: undefined, gid: undefined }, {
      path: "/dev/mynull", type: "c", major: 1, minor: 3, fileMode: undefined, uid: undefined, gid: undefined,
    });
    assert.deepEqual(d?.rule, { allow: true, type: "c", major: 1, minor: 3, access: "rw" });
    await assert.rejects(devicesFromPath("/dev/does-not-exist", "/dev/x", "rwm"), {
      message: 'error gathering device information while adding custom device "/dev/does-not-exist": no such file or directory',
    });
    await assert.rejects(devicesFromPath("/etc/hostname", "/x", "rwm"), /not a device node/);
  });

  it("puts the deny-all rule before the device's allow rule and creates the node", async () => {
    const x = await specExtras(rec({ Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/n2", CgroupPermissions: "rwm" }], DeviceCgroupRules: ["c 10:229 rw"] }), V1);
    assert.deepEqual(x.resources?.["devices"], [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 10, minor: 229, access: "rw" },
    ]);
    assert.equal(x.devices?.[0]?.path, "/dev/n2");
  });

  it("gives a privileged container every host device and allows them all", async () => {
    const x = await specExtras(rec({ Privileged: true, Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/null2", CgroupPermissions: "r" }] }), V1);
    assert.deepEqual(x.resources?.["devices"], [{ allow: true, access: "rwm" }]);
    const paths = (x.devices ?? []).map((d) => d.path);
    assert.ok(paths.includes("/dev/null") && paths.includes("/dev/null2"), paths.join(" "));
    assert.ok(!paths.includes("/dev/console") && !paths.some((p) => p.startsWith("/dev/pts/")));
  });

  it("recognizes static ELF binaries and runs the init as PID 1 with --init", async () => {
    assert.equal(isStaticElf(readFileSync(process.execPath).subarray(0, 4096)), false); // node is dynamically linked
    assert.equal(isStaticElf(Buffer.from("#!/bin/sh\n")), false);
    let init: string | undefined;
    try {
      init = await findInitBinary();
    } catch {
      init = undefined;
    }
    if (init === undefined) return; // no tini on this host
    assert.equal(isStaticElf(readFileSync(init).subarray(0, 4096)), true);
    const x = await specExtras(rec({ Init: true }), V1);
    assert.deepEqual(x.argsPrefix, [INIT_PATH, "--"]);
    assert.deepEqual(x.bindFiles, { [INIT_PATH]: init });
  });

  it("maps per-device blkio throttles to the device's major and minor", async () => {
    const x = await specExtras(rec({ BlkioDeviceReadBps: [{ Path: "/dev/null", Rate: 1048576 }], BlkioDeviceWriteIOps: [{ Path: "/dev/zero", Rate: 100 }] }), V1);
    assert.deepEqual(x.resources?.["blockIO"], {
      throttleReadBpsDevice: [{ major: 1, minor: 3, rate: 1048576 }],
      throttleWriteIOPSDevice: [{ major: 1, minor: 5, rate: 100 }],
    });
    await assert.rejects(specExtras(rec({ BlkioDeviceReadBps: [{ Path: "/dev/nope", Rate: 1 }] }), V1), { message: "stat /dev/nope: no such file or directory" });
    const hc: HostConfig = { BlkioDeviceReadBps: [{ Path: "/dev/null", Rate: 1 }] };
    assert.deepEqual(adaptHostConfig(hc, { ...V1, blkioThrottle: false }), [
      "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.",
    ]);
    assert.deepEqual(hc.BlkioDeviceReadBps, []);
  });

  it("asks nothing of the runtime for an empty HostConfig", async () => {
    assert.deepEqual(await specExtras(rec({}), V1), {});
  });
});

it("default ulimits are added for the names a container does not set, after its own (dockerd's mergeUlimits)", () => {
  const dflt = [{ Name: "nofile", Soft: 1234, Hard: 2345 }, { Name: "core", Soft: 0, Hard: 0 }];
  assert.deepEqual(mergeUlimits(null, dflt), dflt);
  assert.deepEqual(mergeUlimits([{ Name: "nofile", Soft: 1, Hard: 2 }, { Name: "nproc", Soft: 5, Hard: 6 }], dflt), [
    { Name: "nofile", Soft: 1, Hard: 2 },
    { Name: "nproc", Soft: 5, Hard: 6 },
    { Name: "core", Soft: 0, Hard: 0 },
  ]);
});
