import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FlagValueError, StatusError } from "./context.js";
import { buildHealthcheck, parseDevice, parseMount, parseTmpfs, parseUlimit, validateDns, validatePull } from "./runflags.js";
import { buildCreateRequest, effectiveCaps } from "./runopts.js";

const ctx = { lookupEnv: () => undefined, readFile: () => "" };

describe("--mount", () => {
  it("reads volume, bind and tmpfs mounts with their options", () => {
    assert.deepEqual(parseMount("type=volume,src=v,dst=/data,volume-nocopy,volume-label=a=b,volume-driver=local,volume-opt=o=1"), {
      Type: "volume",
      Source: "v",
      Target: "/data",
      VolumeOptions: { NoCopy: true, Labels: { a: "b" }, DriverConfig: { Name: "local", Options: { o: "1" } } },
    });
    assert.deepEqual(parseMount("dst=/anon,volume-nocopy"), { Type: "volume", Target: "/anon", VolumeOptions: { NoCopy: true, DriverConfig: {} } });
    assert.throws(() => parseUlimit("nproc=bogus"), /strconv.ParseInt: parsing "bogus": invalid syntax/);
    assert.deepEqual(parseMount("type=bind,source=/tmp,target=/h,readonly,bind-propagation=rshared"), { Type: "bind", Source: "/tmp", Target: "/h", ReadOnly: true, BindOptions: { Propagation: "rshared" } });
    assert.deepEqual(parseMount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770"), { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1770 } });
    assert.deepEqual(parseMount("dst=/x"), { Type: "volume", Target: "/x" });
  });
  it("rejects a field without a value, an unknown key and a bad size as docker's flag errors", () => {
    assert.throws(() => parseMount("bogus"), (e) => e instanceof FlagValueError && e.message === `invalid argument "bogus" for "--mount" flag: invalid field 'bogus' must be a key=value pair`);
    assert.throws(() => parseMount("type=bind,colour=red"), /unexpected key 'colour' in 'colour=red'/);
    assert.throws(() => parseMount("type=tmpfs,tmpfs-size=huge"), /invalid value for tmpfs-size: huge/);
  });
});

describe("--tmpfs, --ulimit, --device, --dns, --pull", () => {
  it("maps tmpfs paths to their options", () => {
    assert.deepEqual(parseTmpfs(["/run:size=1m,noexec", "/t"]), { "/run": "size=1m,noexec", "/t": "" });
  });
  it("reads soft[:hard] ulimits and rejects bad ones", () => {
    assert.deepEqual(parseUlimit("nofile=100:200"), { Name: "nofile", Hard: 200, Soft: 100 });
    assert.deepEqual(parseUlimit("nproc=50"), { Name: "nproc", Hard: 50, Soft: 50 });
    assert.throws(() => parseUlimit("bogus"), /invalid argument "bogus" for "--ulimit" flag: invalid ulimit argument: bogus/);
    assert.throws(() => parseUlimit("bogus=1"), /invalid ulimit type: bogus/);
    assert.throws(() => parseUlimit("nofile=200:100"), /soft limit must be less than or equal to hard limit/);
  });
  it("reads device mappings as docker's parseDevice does", () => {
    assert.deepEqual(parseDevice("/dev/null"), { PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm" });
    assert.deepEqual(parseDevice("/dev/null:r"), { PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "r" });
    assert.deepEqual(parseDevice("/dev/null:/dev/x:rw"), { PathOnHost: "/dev/null", PathInContainer: "/dev/x", CgroupPermissions: "rw" });
    assert.throws(() => parseDevice("/a:/b:rw:x"), /invalid device specification/);
    assert.throws(() => parseDevice("/a:/b:q"), /invalid device mode: q/);
  });
  it("accepts IP addresses for --dns and the three pull policies", () => {
    assert.equal(validateDns("1.1.1.1"), "1.1.1.1");
    assert.equal(validateDns("2001:db8::1"), "2001:db8::1");
    assert.throws(() => validateDns("example.com"), /IP address is not correctly formatted: example.com/);
    assert.equal(validatePull("never"), "never");
    assert.throws(() => validatePull("bogus"), (e) => e instanceof StatusError && e.status === 125 && /must be one of "always", "missing" or "never"/.test(e.message));
  });
});

describe("health flags", () => {
  it("builds a CMD-SHELL probe with durations in nanoseconds", () => {
    assert.deepEqual(buildHealthcheck({ healthCmd: "true", healthInterval: "5s", healthRetries: "2", healthTimeout: "1m30s" }), {
      Test: ["CMD-SHELL", "true"],
      Interval: 5e9,
      Timeout: 90e9,
      StartPeriod: 0,
      StartInterval: 0,
      Retries: 2,
    });
    assert.equal(buildHealthcheck({}), undefined);
  });
  it("--no-healthcheck gives NONE and conflicts with the other health flags", () => {
    assert.deepEqual(buildHealthcheck({ healthcheck: false }), { Test: ["NONE"] });
    assert.throws(() => buildHealthcheck({ healthcheck: false, healthCmd: "true" }), /--no-healthcheck conflicts with --health-\* options/);
    assert.throws(() => buildHealthcheck({ healthInterval: "bogus" }), /invalid argument "bogus" for "--health-interval" flag: time: invalid duration "bogus"/);
  });
});

describe("capabilities, exposed ranges and endpoints in the create body", () => {
  it("normalises capabilities as docker's EffectiveCapAddCapDrop", () => {
    assert.deepEqual(effectiveCaps(["net_admin", "CAP_CHOWN", "net_admin"], ["mknod", "chown"]), { CapAdd: ["CAP_NET_ADMIN", "CAP_CHOWN"], CapDrop: ["CAP_MKNOD"] });
    assert.deepEqual(effectiveCaps(["all", "chown"], undefined), { CapAdd: ["ALL", "CAP_CHOWN"], CapDrop: null });
  });
  it("expands --expose ranges and puts --ip/--network-alias on the chosen network", () => {
    const { body } = buildCreateRequest("busybox", [], { expose: ["91-93/udp", "80"], network: "n1", ip: "10.0.0.5", networkAlias: ["web"] }, ctx);
    assert.deepEqual(body.ExposedPorts, { "91/udp": {}, "92/udp": {}, "93/udp": {}, "80/tcp": {} });
    assert.deepEqual(body["NetworkingConfig"], { EndpointsConfig: { n1: { IPAMConfig: { IPv4Address: "10.0.0.5" }, Aliases: ["web"] } } });
  });
  it("carries mounts, tmpfs, ulimits, devices, links, volumes-from and memory flags", () => {
    const { body } = buildCreateRequest(
      "busybox",
      [],
      { mount: ["dst=/m"], tmpfs: ["/t"], ulimit: ["nofile=1:2"], device: ["/dev/null"], link: ["a:b"], volumesFrom: ["c:ro"], memorySwappiness: "10", memoryReservation: "1m", oomKillDisable: true, cgroupns: "private" },
      ctx,
    );
    const hc = body.HostConfig;
    assert.deepEqual(hc["Mounts"], [{ Type: "volume", Target: "/m" }]);
    assert.deepEqual(hc["Tmpfs"], { "/t": "" });
    assert.deepEqual(hc["Ulimits"], [{ Name: "nofile", Soft: 1, Hard: 2 }]);
    assert.deepEqual(hc["Devices"], [{ PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm" }]);
    assert.deepEqual(hc["Links"], ["a:b"]);
    assert.deepEqual(hc["VolumesFrom"], ["c:ro"]);
    assert.equal(hc["MemorySwappiness"], 10);
    assert.equal(hc["MemoryReservation"], 1048576);
    assert.equal(hc["OomKillDisable"], true);
    assert.equal(hc["CgroupnsMode"], "private");
  });
});
