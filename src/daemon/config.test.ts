import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { suiteTempDir } from "../util/testfixtures.js";
import { type FlagValues, DEFAULTS, KEYS, UNSUPPORTED_KEYS, changedKeys, goValue, loadSettings, normalizeMirror } from "./config.js";

const dir = suiteTempDir("/tmp/berth-config-test-");
let n = 0;
function file(text: string): string {
  const f = path.join(dir, `c${n++}.json`);
  writeFileSync(f, text);
  return f;
}

/** Flags as commander gives them: every default present, `cli` those the user typed. */
function flags(cli: Record<string, unknown> = {}): FlagValues {
  return { values: { dataRoot: DEFAULTS.dataRoot, execRoot: DEFAULTS.execRoot, debug: false, logLevel: "info", defaultRuntime: "runc", group: "berth", ...cli }, fromCli: (f) => f in cli };
}

async function rejects(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.equal(e.message, message);
    return true;
  });
}

test("daemon.json keys become settings; keys absent from the file keep the flags' values", async () => {
  const f = file(JSON.stringify({
    "data-root": "/srv/berth", labels: ["env=prod"], "insecure-registries": ["reg.local:5000"], "registry-mirrors": ["https://mirror.example"],
    "max-concurrent-downloads": 6, "log-driver": "local", "log-opts": { "max-size": "10m" }, runtimes: { fast: { path: "/usr/bin/crun", runtimeArgs: [] } },
    "default-runtime": "fast", proxies: { "http-proxy": "http://proxy:3128", "no-proxy": "localhost" }, "live-restore": true,
  }));
  const { settings: s, fileKeys } = await loadSettings(flags({ bip: "10.9.0.1/24" }), f, true);
  assert.equal(s.dataRoot, "/srv/berth");
  assert.equal(s.execRoot, "/run/berth");
  assert.equal(s.bip, "10.9.0.1/24");
  assert.deepEqual(s.label, ["env=prod"]);
  assert.deepEqual(s.insecureRegistry, ["reg.local:5000"]);
  assert.deepEqual(s.registryMirror, ["https://mirror.example/"]);
  assert.equal(s.maxConcurrentDownloads, 6);
  assert.equal(s.maxConcurrentUploads, 5);
  assert.equal(s.logDriver, "local");
  assert.deepEqual(s.logOpt, { "max-size": "10m" });
  assert.deepEqual(s.runtimes, { fast: { path: "/usr/bin/crun" } });
  assert.equal(s.defaultRuntime, "fast");
  assert.deepEqual(s.proxies, { httpProxy: "http://proxy:3128", noProxy: "localhost" });
  assert.ok(fileKeys.includes("labels"));
});

test("unknown keys are refused, sorted, in dockerd's words", async () => {
  const f = file('{"foo": 1, "bar": 2, "debug": true}');
  await rejects(loadSettings(flags(), f, true), `unable to configure the Docker daemon with file ${f}: the following directives don't match any configuration option: bar, foo`);
});

test("dockerd keys berthd does not support are refused by name, not silently ignored", async () => {
  const f = file('{"iptables": false, "mtu": 1400}');
  await rejects(loadSettings(flags(), f, true), `unable to configure the Docker daemon with file ${f}: the following directives are dockerd's but not supported by berthd: iptables, mtu (see docs/operations.md)`);
});

test("a key given both as a flag and in the file is refused with both values in Go's %v", async () => {
  const f = file('{"debug": true, "labels": ["a=b", "c=d"], "data-root": "/x"}');
  await rejects(
    loadSettings(flags({ debug: true, label: ["x=y"], dataRoot: "/d" }), f, true),
    `unable to configure the Docker daemon with file ${f}: the following directives are specified both as a flag and in the configuration file: data-root: (from flag: /d, from file: /x), debug: (from flag: true, from file: true), labels: (from flag: [x=y], from file: [a=b c=d])`,
  );
});

test("a flag left at its default does not conflict with the file", async () => {
  const f = file('{"debug": true, "log-level": "warn"}');
  const { settings } = await loadSettings(flags(), f, true);
  assert.equal(settings.debug, true);
  assert.equal(settings.logLevel, "warn");
});

test("values of the wrong JSON type are refused as Go's decoder words it", async () => {
  const cases: [string, string][] = [
    ['{"debug": "yes"}', "json: cannot unmarshal string into Go struct field Config.debug of type bool"],
    ['{"labels": "a=b"}', "json: cannot unmarshal string into Go struct field Config.labels of type []string"],
    ['{"labels": [1]}', "json: cannot unmarshal number into Go struct field Config.labels of type string"],
    ['{"max-concurrent-downloads": 1.5}', "json: cannot unmarshal number into Go struct field Config.max-concurrent-downloads of type int"],
    ['{"log-opts": {"max-size": 10}}', "json: cannot unmarshal number into Go struct field Config.log-opts of type string"],
    ["[]", "json: cannot unmarshal array into Go value of type map[string]interface {}"],
    ["", "EOF"],
  ];
  for (const [text, msg] of cases) {
    const f = file(text);
    await rejects(loadSettings(flags(), f, true), `unable to configure the Docker daemon with file ${f}: ${msg}`);
  }
});

test("invalid values are refused after merging, with dockerd's validation messages", async () => {
  const cases: [string, string][] = [
    ['{"labels": ["novalue"]}', "bad attribute format: novalue"],
    ['{"max-concurrent-downloads": -1}', "invalid max concurrent downloads: -1"],
    ['{"max-concurrent-uploads": 0}', "invalid max concurrent uploads: 0"],
    ['{"default-runtime": "nope"}', "specified default runtime 'nope' does not exist"],
    ['{"runtimes": {"runc": {"path": "/x"}}}', "runtime name 'runc' is reserved"],
    ['{"registry-mirrors": ["mirror.example"]}', 'invalid mirror: unsupported scheme "" in "mirror.example"'],
    ['{"registry-mirrors": ["https://mirror.example/v2/x"]}', 'invalid mirror: path, query, or fragment at end of the URI "https://mirror.example/v2/x"'],
    ['{"log-level": "loud"}', "unable to parse logging level: loud"],
    ['{"features": {"buildkit": true, "containerd-snapshotter": true}}', "feature containerd-snapshotter is not supported by berthd"],
    ['{"live-restore": false}', "live-restore cannot be turned off: berthd's containers always outlive the daemon (each has its own monitor)"],
  ];
  for (const [text, msg] of cases) {
    const f = file(text);
    await rejects(loadSettings(flags(), f, true), `unable to configure the Docker daemon with file ${f}: configuration validation from file failed: ${msg}`);
  }
});

test("a missing file is an error only when it was named", async () => {
  const missing = path.join(dir, "absent.json");
  await rejects(loadSettings(flags(), missing, true), `unable to configure the Docker daemon with file ${missing}: open ${missing}: no such file or directory`);
  const { settings } = await loadSettings(flags({ debug: true }), missing, false);
  assert.equal(settings.debug, true);
});

test("flag values are validated too, without the file's wording", async () => {
  await rejects(loadSettings(flags({ label: ["bad"] }), undefined, false), "bad attribute format: bad");
});

test("mirrors are kept as dockerd shows them, with a trailing slash", () => {
  assert.equal(normalizeMirror("https://mirror.example"), "https://mirror.example/");
  assert.equal(normalizeMirror("http://10.0.0.1:5000/"), "http://10.0.0.1:5000/");
  assert.throws(() => normalizeMirror("ftp://m"), /unsupported scheme "ftp"/);
  assert.throws(() => normalizeMirror("https://m/?q"), /path, query, or fragment/);
});

test("Go's %v of flag and file values", () => {
  assert.equal(goValue(["a", "b"]), "[a b]");
  assert.equal(goValue({ b: "2", a: "1" }), "map[a:1 b:2]");
  assert.equal(goValue(false), "false");
});

test("every key is known once, and none is both supported and listed as unsupported", () => {
  const keys = KEYS.map((k) => k.key);
  assert.equal(new Set(keys).size, keys.length);
  for (const k of keys) assert.ok(!UNSUPPORTED_KEYS.includes(k), k);
});

test("changedKeys separates reloadable changes from those needing a restart", () => {
  const a = structuredClone(DEFAULTS);
  const b = { ...structuredClone(DEFAULTS), label: ["x=y"], debug: true, bip: "10.1.0.1/24" };
  assert.deepEqual(changedKeys(a, b, true), ["debug", "labels"]);
  assert.deepEqual(changedKeys(a, b, false), ["bip"]);
});

test("dns, dns-search, dns-opts, default-ulimits and default-address-pools from the file", async () => {
  const f = file(JSON.stringify({
    dns: ["10.213.60.53"], "dns-search": ["corp.example"], "dns-opts": ["ndots:3"],
    "default-ulimits": { nofile: { Name: "nofile", Soft: 1234, Hard: 2345 }, nproc: { hard: 60, soft: 50 } },
    "default-address-pools": [{ base: "10.213.60.0/23", size: 24 }, { Base: "172.31.0.0/16", Size: 26, extra: 1 }],
  }));
  const { settings: s } = await loadSettings(flags(), f, true);
  assert.deepEqual(s.dns, ["10.213.60.53"]);
  assert.deepEqual(s.dnsSearch, ["corp.example"]);
  assert.deepEqual(s.dnsOpt, ["ndots:3"]);
  assert.deepEqual(s.defaultUlimit, { nofile: { Name: "nofile", Soft: 1234, Hard: 2345 }, nproc: { Name: "nproc", Soft: 50, Hard: 60 } });
  assert.deepEqual(s.defaultAddressPool, [{ base: "10.213.60.0/23", size: 24 }, { base: "172.31.0.0/16", size: 26 }]);
});

test("bad dns, default-ulimits and default-address-pools values in the file, in dockerd's words", async () => {
  const bad = async (json: unknown, msg: string) => {
    const f = file(JSON.stringify(json));
    await rejects(loadSettings(flags(), f, true), `unable to configure the Docker daemon with file ${f}: ${msg}`);
  };
  await bad({ dns: ["notanip"] }, "configuration validation from file failed: notanip is not an ip address");
  await bad({ "dns-search": ["-bad-"] }, "configuration validation from file failed: -bad- is not a valid domain");
  await bad({ "default-address-pools": [{ base: "10.213.60.0/23", size: "24" }] }, "json: cannot unmarshal string into Go struct field Config.default-address-pools of type int");
  await bad({ "default-address-pools": [{ base: "10.213.60.0/23", size: 16 }] }, "configuration validation from file failed: invalid pools size: 16");
  await bad({ "default-ulimits": { nofile: { Name: "nofile", Soft: 3000, Hard: 2000 } } }, "configuration validation from file failed: ulimit soft limit must be less than or equal to hard limit: 3000 > 2000");
  await bad({ "default-ulimits": { nofil: { Name: "nofil", Soft: 1, Hard: 2 } } }, "configuration validation from file failed: invalid ulimit type: nofil");
});

test("flag values of the container defaults: --default-ulimit keyed by name, conflicts shown as dockerd shows them", async () => {
  const f = file(JSON.stringify({ "default-ulimits": { nofile: { Name: "nofile", Soft: 1, Hard: 2 } } }));
  const cli = { defaultUlimit: [{ Name: "nofile", Soft: 10, Hard: 20 }] };
  await rejects(loadSettings(flags(cli), f, true), `unable to configure the Docker daemon with file ${f}: the following directives are specified both as a flag and in the configuration file: default-ulimits: (from flag: [nofile=10:20], from file: map[nofile:map[Hard:2 Name:nofile Soft:1]])`);
  const { settings: s } = await loadSettings(flags(cli), undefined, false);
  assert.deepEqual(s.defaultUlimit, { nofile: { Name: "nofile", Soft: 10, Hard: 20 } });
});

describe("registry mirrors", () => {
  it("validates as dockerd does, with its messages", () => {
    assert.equal(normalizeMirror("http://127.0.0.1:5999"), "http://127.0.0.1:5999/");
    assert.equal(normalizeMirror("https://m2.example/"), "https://m2.example/");
    assert.throws(() => normalizeMirror("ftp://x"), { message: 'invalid mirror: unsupported scheme "ftp" in "ftp://x"' });
    assert.throws(() => normalizeMirror("x"), { message: 'invalid mirror: unsupported scheme "" in "x"' });
    assert.throws(() => normalizeMirror("http://x/path"), { message: 'invalid mirror: path, query, or fragment at end of the URI "http://x/path"' });
    assert.throws(() => normalizeMirror("http://u:p@x"), { message: 'invalid mirror: username/password not allowed in URI "http://u:xxxxx@x"' });
  });
});

test("accepts a dockerd-only key set to what berthd does anyway, refuses it set otherwise", async () => {
  const dir = suiteTempDir(path.join("/tmp", "berth-cfg-"));
  const same = path.join(dir, "same.json");
  writeFileSync(same, JSON.stringify({ experimental: false, iptables: true, "ip-forward": true, ipv6: false, "userland-proxy": false, debug: true }));
  assert.equal((await loadSettings(flags(), same, true)).settings.debug, true);
  const other = path.join(dir, "other.json");
  writeFileSync(other, JSON.stringify({ iptables: false, "userland-proxy": true }));
  await assert.rejects(loadSettings(flags(), other, true), { message: `unable to configure the Docker daemon with file ${other}: the following directives are dockerd's but not supported by berthd: iptables, userland-proxy (see docs/operations.md)` });
});
