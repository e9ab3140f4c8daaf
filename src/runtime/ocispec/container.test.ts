import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { OciSpec } from "../spec.js";
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from "./constants.js";
import { type ContainerSpecInput, INIT_PATH, containerSpecOf } from "./container.js";
import type { SpecHostConfig } from "./hostconfig.js";
import { TEST_SPEC_HOST } from "./testhost.js";

const MB = 1024 * 1024;
const ID = "a".repeat(64);
const HOST = TEST_SPEC_HOST;
const NULL_DEV = { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 };

function input(hc: SpecHostConfig, more: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    id: ID,
    args: ["sh", "-c", "true"],
    config: { Hostname: "h1", Env: ["PATH=/bin"], WorkingDir: "", Tty: false },
    hostConfig: hc,
    rootfs: "/r",
    user: { uid: 0, gid: 0, home: "/root" },
    etcFiles: { hostname: "/s/hostname", hosts: "/s/hosts", resolvConf: "/s/resolv.conf" },
    host: HOST,
    ...more,
  };
}

const spec = (hc: SpecHostConfig, more?: Partial<ContainerSpecInput>): OciSpec => containerSpecOf(input(hc, more));
const mount = (s: OciSpec, dest: string) => s.mounts.find((m) => m.destination === dest);
const caps = (s: OciSpec) => s.process.capabilities?.effective;

interface Row {
  field: keyof SpecHostConfig;
  hc: SpecHostConfig;
  more?: Partial<ContainerSpecInput>;
  /** The spec fragment the field decides. */
  pick: (s: OciSpec) => unknown;
  want: unknown;
}

/** Every HostConfig field the builder reads, and the fragment of the spec it produces. */
const TABLE: Row[] = [
  { field: "Privileged", hc: { Privileged: true }, pick: (s) => [caps(s), s.linux.seccomp, s.linux.maskedPaths, s.linux.resources?.["devices"], mount(s, "/sys")?.options?.at(-1)], want: [HOST.capabilities, undefined, undefined, [{ allow: true, access: "rwm" }], "rw"] },
  { field: "ReadonlyRootfs", hc: { ReadonlyRootfs: true }, pick: (s) => s.root, want: { path: "/r", readonly: true } },
  { field: "CapAdd", hc: { CapAdd: ["net_admin", "CAP_SYS_TIME"] }, pick: caps, want: [...DEFAULT_CAPABILITIES, "CAP_NET_ADMIN", "CAP_SYS_TIME"] },
  { field: "CapDrop", hc: { CapDrop: ["chown", "KILL"] }, pick: caps, want: DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_CHOWN" && c !== "CAP_KILL") },
  {
    field: "SecurityOpt",
    hc: { SecurityOpt: ["no-new-privileges", "systempaths=unconfined", "seccomp=unconfined", "label=disable"] },
    pick: (s) => [s.process.noNewPrivileges, s.linux.maskedPaths, s.linux.readonlyPaths, s.linux.seccomp],
    want: [true, [], [], undefined],
  },
  { field: "ShmSize", hc: { ShmSize: MB }, pick: (s) => mount(s, "/dev/shm")?.options, want: ["nosuid", "noexec", "nodev", "mode=1777", `size=${MB}`] },
  {
    field: "Init",
    hc: { Init: true },
    more: { resolved: { initBinary: "/usr/bin/tini-static" } },
    pick: (s) => [s.process.args, mount(s, INIT_PATH)],
    want: [[INIT_PATH, "--", "sh", "-c", "true"], { destination: INIT_PATH, type: "bind", source: "/usr/bin/tini-static", options: ["rbind", "ro", "rprivate"] }],
  },
  { field: "Memory", hc: { Memory: 64 * MB }, pick: (s) => s.linux.resources?.["memory"], want: { limit: 64 * MB } },
  { field: "MemorySwap", hc: { Memory: 64 * MB, MemorySwap: 128 * MB }, pick: (s) => s.linux.resources?.["memory"], want: { limit: 64 * MB, swap: 128 * MB } },
  { field: "MemoryReservation", hc: { MemoryReservation: 32 * MB }, pick: (s) => s.linux.resources?.["memory"], want: { reservation: 32 * MB } },
  { field: "MemorySwappiness", hc: { MemorySwappiness: 10 }, pick: (s) => s.linux.resources?.["memory"], want: { swappiness: 10 } },
  { field: "OomKillDisable", hc: { OomKillDisable: true }, pick: (s) => s.linux.resources?.["memory"], want: { disableOOMKiller: true } },
  { field: "NanoCpus", hc: { NanoCpus: 1.5e9 }, pick: (s) => s.linux.resources?.["cpu"], want: { period: 100000, quota: 150000 } },
  { field: "CpuShares", hc: { CpuShares: 512 }, pick: (s) => s.linux.resources?.["cpu"], want: { shares: 512 } },
  { field: "CpuPeriod", hc: { CpuPeriod: 20000 }, pick: (s) => s.linux.resources?.["cpu"], want: { period: 20000 } },
  { field: "CpuQuota", hc: { CpuQuota: 10000 }, pick: (s) => s.linux.resources?.["cpu"], want: { quota: 10000 } },
  { field: "CpusetCpus", hc: { CpusetCpus: "0-1" }, pick: (s) => s.linux.resources?.["cpu"], want: { cpus: "0-1" } },
  { field: "CpusetMems", hc: { CpusetMems: "0" }, pick: (s) => s.linux.resources?.["cpu"], want: { mems: "0" } },
  { field: "PidsLimit", hc: { PidsLimit: 10 }, pick: (s) => s.linux.resources?.["pids"], want: { limit: 10 } },
  { field: "BlkioWeight", hc: { BlkioWeight: 300 }, pick: (s) => s.linux.resources?.["blockIO"], want: { weight: 300 } },
  {
    field: "BlkioWeightDevice",
    hc: { BlkioWeightDevice: [{ Path: "/dev/sda", Weight: 200 }] },
    more: { resolved: { blockDevices: { "/dev/sda": { major: 8, minor: 0 } } } },
    pick: (s) => s.linux.resources?.["blockIO"],
    want: { weightDevice: [{ major: 8, minor: 0, weight: 200 }] },
  },
  ...(
    [
      ["BlkioDeviceReadBps", "throttleReadBpsDevice"],
      ["BlkioDeviceWriteBps", "throttleWriteBpsDevice"],
      ["BlkioDeviceReadIOps", "throttleReadIOPSDevice"],
      ["BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"],
    ] as const
  ).map(([field, oci]): Row => ({
    field,
    hc: { [field]: [{ Path: "/dev/sda", Rate: 1000 }] },
    more: { resolved: { blockDevices: { "/dev/sda": { major: 8, minor: 0 } } } },
    pick: (s) => s.linux.resources?.["blockIO"],
    want: { [oci]: [{ major: 8, minor: 0, rate: 1000 }] },
  })),
  {
    field: "Ulimits",
    hc: { Ulimits: [{ Name: "core", Soft: -1, Hard: -1 }, { Name: "nofile", Soft: 100, Hard: 200 }] },
    pick: (s) => s.process.rlimits,
    want: [{ type: "RLIMIT_NOFILE", soft: 100, hard: 200 }, { type: "RLIMIT_CORE", soft: -1, hard: -1 }],
  },
  { field: "Tmpfs", hc: { Tmpfs: { "/run": "size=1m" } }, pick: (s) => mount(s, "/run"), want: { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "rprivate", "size=1m"] } },
  {
    field: "Devices",
    hc: { Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/n2", CgroupPermissions: "rw" }] },
    more: { resolved: { devices: [{ device: { ...NULL_DEV, path: "/dev/n2" }, rule: { allow: true, type: "c", major: 1, minor: 3, access: "rw" }, hostPath: "/dev/null" }] } },
    pick: (s) => [s.linux.devices, s.linux.resources?.["devices"]],
    want: [[{ ...NULL_DEV, path: "/dev/n2" }], [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rw" }]],
  },
  { field: "DeviceCgroupRules", hc: { DeviceCgroupRules: ["c 10:* rwm"] }, pick: (s) => s.linux.resources?.["devices"], want: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 10, access: "rwm" }] },
  { field: "CgroupnsMode", hc: { CgroupnsMode: "host" }, pick: (s) => s.linux.namespaces.map((n) => n.type), want: ["pid", "network", "ipc", "uts", "mount"] },
  { field: "CgroupParent", hc: { CgroupParent: "my/parent/" }, pick: (s) => s.linux.cgroupsPath, want: `/my/parent/${ID}` },
  { field: "Sysctls", hc: { Sysctls: { "net.ipv4.ip_forward": "1" } }, pick: (s) => s.linux.sysctl, want: { "net.ipv4.ip_forward": "1" } },
  { field: "OomScoreAdj", hc: { OomScoreAdj: 500 }, pick: (s) => s.process.oomScoreAdj, want: 500 },
  { field: "MaskedPaths", hc: { MaskedPaths: ["/proc/x"] }, pick: (s) => [s.linux.maskedPaths, s.linux.readonlyPaths], want: [["/proc/x"], READONLY_PATHS] },
  { field: "ReadonlyPaths", hc: { ReadonlyPaths: ["/proc/y"] }, pick: (s) => [s.linux.maskedPaths, s.linux.readonlyPaths], want: [MASKED_PATHS, ["/proc/y"]] },
  {
    field: "ConsoleSize",
    hc: { ConsoleSize: [24, 80] },
    more: { config: { Hostname: "h1", Env: [], WorkingDir: "", Tty: true } },
    pick: (s) => s.process.consoleSize,
    want: { height: 24, width: 80 },
  },
];

/** The fields of SpecHostConfig: a field the builder reads but the table misses fails the build (the type below). */
const FIELDS = [
  "Privileged", "ReadonlyRootfs", "CapAdd", "CapDrop", "SecurityOpt", "ShmSize", "Init", "Memory", "MemorySwap",
  "MemoryReservation", "MemorySwappiness", "OomKillDisable", "NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota",
  "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
  "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "Ulimits", "Tmpfs", "Devices",
  "DeviceCgroupRules", "CgroupnsMode", "CgroupParent", "Sysctls", "OomScoreAdj", "MaskedPaths", "ReadonlyPaths",
  "ConsoleSize",
] as const satisfies readonly (keyof SpecHostConfig)[];
const everyField: Exclude<keyof SpecHostConfig, (typeof FIELDS)[number]> extends never ? true : false = true;

describe("the OCI spec builder: HostConfig field → spec fragment", () => {
  it("has a row for every HostConfig field it reads", () => {
    assert.equal(everyField, true);
    assert.deepEqual([...new Set(TABLE.map((r) => r.field))].sort(), [...FIELDS].sort());
  });

  for (const row of TABLE) {
    it(`${row.field}: ${JSON.stringify(row.hc)}`, () => {
      assert.deepEqual(row.pick(spec(row.hc, row.more)), row.want);
      // without the field the fragment is Docker's default, not the row's
      assert.notDeepEqual(row.pick(spec({}, { ...row.more, resolved: {} })), row.want);
    });
  }
});

describe("the OCI spec builder: a container with Docker's defaults", () => {
  it("builds docker run's spec for an empty HostConfig", () => {
    const s = spec({});
    assert.deepEqual(s.process.args, ["sh", "-c", "true"]);
    assert.deepEqual(s.process.env, ["HOSTNAME=h1", "PATH=/bin", "HOME=/root"]);
    assert.equal(s.process.cwd, "/");
    assert.equal(s.process.terminal, false);
    assert.deepEqual(caps(s), DEFAULT_CAPABILITIES);
    assert.equal(s.process.noNewPrivileges, false);
    assert.equal(s.process.apparmorProfile, undefined);
    assert.deepEqual(s.process.rlimits, [HOST.nofile]);
    assert.equal(s.process.oomScoreAdj, 0);
    assert.equal(s.hostname, "h1");
    assert.deepEqual(s.root, { path: "/r", readonly: false });
    assert.equal(s.linux.cgroupsPath, `/berth/${ID}`);
    assert.deepEqual(s.linux.namespaces, ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type })));
    assert.deepEqual(s.linux.resources, { devices: [{ allow: false, access: "rwm" }] });
    assert.equal(s.linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
    assert.deepEqual(s.linux.maskedPaths, MASKED_PATHS);
    assert.deepEqual(s.linux.readonlyPaths, READONLY_PATHS);
    assert.deepEqual(mount(s, "/dev/shm")?.options, ["nosuid", "noexec", "nodev", "mode=1777", `size=${64 * MB}`]);
    assert.deepEqual(
      s.mounts.filter((m) => m.destination.startsWith("/etc/")).map((m) => [m.destination, m.source]),
      [["/etc/resolv.conf", "/s/resolv.conf"], ["/etc/hostname", "/s/hostname"], ["/etc/hosts", "/s/hosts"]],
    );
  });

  it("adds the network's variables unless set, TERM for a TTY, and keeps the container's HOME and HOSTNAME", () => {
    const s = spec({}, { config: { Hostname: "h1", Env: ["HOME=/home/x", "A_PORT=mine"], WorkingDir: "/w", Tty: true }, net: { env: ["A_PORT=link", "B_PORT=link"] } });
    assert.deepEqual(s.process.env, ["HOSTNAME=h1", "HOME=/home/x", "A_PORT=mine", "B_PORT=link", "TERM=xterm"]);
    assert.equal(s.process.cwd, "/w");
  });

  it("joins and shares the namespaces start-up resolved, with /dev/shm from the IPC plan and user namespace mappings", () => {
    const idMappings = { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] };
    const s = spec({}, {
      net: { joinNamespaces: { network: "/run/netns/x" } },
      namespaces: { hostNamespaces: ["uts"], joinNamespaces: { ipc: "/proc/9/ns/ipc" }, shm: { bind: "/s/shm" } },
      idMappings,
    });
    assert.deepEqual(s.linux.namespaces, [{ type: "pid" }, { type: "network", path: "/run/netns/x" }, { type: "ipc", path: "/proc/9/ns/ipc" }, { type: "mount" }, { type: "cgroup" }, { type: "user" }]);
    assert.equal(s.hostname, undefined, "the host's UTS namespace keeps the host's name");
    assert.deepEqual(mount(s, "/dev/shm"), { destination: "/dev/shm", type: "bind", source: "/s/shm", options: ["rbind", "rprivate"] });
    assert.deepEqual(s.linux.uidMappings, idMappings.uidMappings);
    assert.equal(mount(s, "/sys/fs/cgroup")?.options?.at(-1), "rw", "a read-only cgroup remount fails in a user namespace");
    assert.equal(spec({}, { namespaces: { shm: "none" } }).mounts.some((m) => m.destination === "/dev/shm"), false);
  });

  it("bind-mounts a renamed device in a user namespace instead of creating its node", () => {
    const idMappings = { uidMappings: [], gidMappings: [] };
    const resolved = { devices: [{ device: { ...NULL_DEV, path: "/dev/n2" }, rule: { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, hostPath: "/dev/null" }] };
    const s = spec({ Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/n2" }] }, { idMappings, resolved });
    assert.equal(s.linux.devices, undefined);
    assert.deepEqual(mount(s, "/dev/n2"), { destination: "/dev/n2", type: "bind", source: "/dev/null", options: ["bind", "rprivate"] });
  });

  it("orders mounts parent first: tmpfs, volumes and the init binary nest as asked", () => {
    const s = spec({ Tmpfs: { "/a": "" } }, { mounts: [{ destination: "/a/b", type: "bind", source: "/v" }, { destination: "/c", type: "bind", source: "/w" }] });
    const dests = s.mounts.map((m) => m.destination);
    assert.ok(dests.indexOf("/a") < dests.indexOf("/a/b"), dests.join(" "));
  });

  it("lets rlimits given (build RUN steps: the daemon's defaults) replace the HostConfig's", () => {
    const rl = [{ type: "RLIMIT_NPROC", soft: 5, hard: 5 }];
    assert.deepEqual(spec({ Ulimits: [{ Name: "core", Soft: 0, Hard: 0 }] }, { rlimits: rl }).process.rlimits, rl);
  });
});

describe("the OCI spec builder: security options and errors", () => {
  const PROFILE = JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] });

  it("takes a seccomp profile given as content, or the file's text read before", () => {
    assert.deepEqual(spec({ SecurityOpt: [`seccomp=${PROFILE}`] }).linux.seccomp, { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] });
    assert.equal(spec({ SecurityOpt: ["seccomp=/p.json"] }, { resolved: { seccompProfile: PROFILE } }).linux.seccomp?.defaultAction, "SCMP_ACT_ALLOW");
    assert.throws(() => spec({ SecurityOpt: ["seccomp=/p.json"] }), { message: "opening seccomp profile (/p.json) failed" });
    assert.equal(spec({ SecurityOpt: ["seccomp=builtin"] }).linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
    assert.equal(spec({ Privileged: true, SecurityOpt: ["seccomp=/p.json"] }).linux.seccomp, undefined);
  });

  it("grants every host capability for --cap-add ALL and none after --cap-drop ALL", () => {
    assert.deepEqual(caps(spec({ CapAdd: ["ALL"] })), HOST.capabilities);
    assert.deepEqual(caps(spec({ CapDrop: ["ALL"], CapAdd: ["KILL"] })), ["CAP_KILL"]);
  });

  it("refuses what dockerd refuses, with its messages", () => {
    assert.throws(() => spec({ CapAdd: ["BOGUS"] }), { message: 'unknown capability: "CAP_BOGUS"' });
    assert.throws(() => spec({ SecurityOpt: ["nonsense"] }), { message: 'invalid --security-opt 1: "nonsense"' });
    assert.throws(() => spec({ SecurityOpt: ["no-new-privileges=maybe"] }), { message: 'invalid --security-opt 2: "no-new-privileges=maybe"' });
    assert.throws(() => spec({ Ulimits: [{ Name: "nofile", Soft: 1, Hard: 99999 }] }), /the hard limit may not exceed the daemon's hard limit 20000/);
    assert.throws(() => spec({ Tmpfs: { "/": "" } }), { message: "invalid specification: destination can't be '/'" });
    assert.throws(() => spec({ DeviceCgroupRules: ["x"] }), { message: "invalid device cgroup rule format: 'x'" });
  });
});
