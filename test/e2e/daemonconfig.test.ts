/**
 * daemon.json: berthd --config-file with dockerd's keys, dockerd's errors for a
 * missing named file, unknown keys and flag/file conflicts, --validate, and the
 * SIGHUP reload of the reloadable keys (docker info shows them; running
 * containers are untouched; an invalid file keeps the old configuration).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import path from "node:path";
import { BERTHD, Daemon, run, until, withDaemon } from "./harness.js";

interface Info {
  Labels: string[];
  Debug: boolean;
  RegistryConfig: { IndexConfigs: Record<string, { Mirrors: string[]; Secure: boolean }>; Mirrors: string[] };
}

async function info(d: Daemon): Promise<Info> {
  const r = await d.docker(["info", "--format", "{{json .}}"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Info;
}

/** Lines of the daemon's log that contain s, counted (a reload is done when its count grows). */
async function count(d: Daemon, s: string): Promise<number> {
  return (await d.log()).split("\n").filter((l) => l.includes(s)).length;
}

async function hup(d: Daemon, until_: string): Promise<void> {
  const before_ = await count(d, until_);
  d.proc?.kill("SIGHUP");
  assert.ok(await until(async () => (await count(d, until_)) > before_, 15_000), `no "${until_}" after SIGHUP: ${await d.log()}`);
}

describe("berthd --config-file", () => {
  const d = withDaemon({
    debug: false,
    prepare: () => fs.writeFile(conf, JSON.stringify({ labels: ["env=test"], "insecure-registries": ["reg.example:5000"], "log-level": "info" })),
    args: () => ["--config-file", conf],
  });
  const conf = path.join(d.dir, "daemon.json");
  let ctr = "";
  let pid = "";

  it("docker info shows the file's labels, insecure registries and debug", async () => {
    const i = await info(d);
    assert.deepEqual(i.Labels, ["env=test"]);
    assert.equal(i.Debug, false);
    assert.equal(i.RegistryConfig.IndexConfigs["reg.example:5000"]?.Secure, false);
    assert.deepEqual(i.RegistryConfig.Mirrors, []);
  });

  it("SIGHUP applies new labels, insecure registries, mirrors and debug, and the container keeps running", async () => {
    const r = await d.docker(["run", "-d", "busybox", "sleep", "300"]);
    assert.equal(r.code, 0, r.stderr);
    ctr = r.stdout.trim();
    pid = (await d.docker(["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", ctr])).stdout.trim();
    await fs.writeFile(conf, JSON.stringify({ labels: ["env=prod", "zone=b"], debug: true, "insecure-registries": ["other.example:5000"], "registry-mirrors": ["https://mirror.example"], "max-concurrent-downloads": 2 }));
    await hup(d, "Reloaded configuration");
    const i = await info(d);
    assert.deepEqual(i.Labels, ["env=prod", "zone=b"]);
    assert.equal(i.Debug, true);
    assert.deepEqual(i.RegistryConfig.Mirrors, ["https://mirror.example/"]);
    assert.deepEqual(i.RegistryConfig.IndexConfigs["docker.io"]?.Mirrors, ["https://mirror.example/"]);
    assert.equal(i.RegistryConfig.IndexConfigs["other.example:5000"]?.Secure, false);
    assert.equal(i.RegistryConfig.IndexConfigs["reg.example:5000"], undefined);
    const log = await d.log();
    assert.match(log, /Got signal to reload configuration, reloading from: .*daemon\.json/);
    assert.match(log, /configuration changes applied: debug, insecure-registries, registry-mirrors, labels, max-concurrent-downloads/);
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", ctr])).stdout.trim(), pid);
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Running}}", ctr])).stdout.trim(), "true");
  });

  it("SIGHUP adds a runtime from \"runtimes\" and makes it the default for new containers", async () => {
    await fs.writeFile(conf, JSON.stringify({ labels: ["env=prod", "zone=b"], runtimes: { "site-runc": { path: "/usr/sbin/runc" } }, "default-runtime": "site-runc", "log-level": "warn" }));
    await hup(d, "Reloaded configuration");
    const r = await d.docker(["info", "--format", "{{.DefaultRuntime}} {{json .Runtimes}}"]);
    assert.match(r.stdout, /^site-runc \{.*"site-runc":\{"path":"\/usr\/sbin\/runc"\}/);
    const c = await d.docker(["run", "--name", "on-site-runc", "busybox", "echo", "ran"]);
    assert.equal(c.stdout, "ran\n", c.stderr);
    assert.equal((await d.docker(["inspect", "-f", "{{.HostConfig.Runtime}}", "on-site-runc"])).stdout.trim(), "site-runc");
    await d.docker(["rm", "on-site-runc"]);
    // log-level warn: the docker calls above left no info lines after the reload's own.
    const tail = (await d.log()).split("Reloaded configuration").pop() ?? "";
    assert.doesNotMatch(tail.split("\n").slice(2).join("\n"), /level=info/);
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", ctr])).stdout.trim(), pid);
  });

  it("an invalid file on SIGHUP is logged and the running configuration stays", async () => {
    await fs.writeFile(conf, JSON.stringify({ labels: ["env=bad"], bogus: 1 }));
    await hup(d, "don't match any configuration option");
    assert.match(await d.log(), new RegExp(`level=error msg="unable to configure the Docker daemon with file ${conf}: the following directives don't match any configuration option: bogus"`));
    assert.deepEqual((await info(d)).Labels, ["env=prod", "zone=b"]);
    // A runtime that is not there: nothing of that file applies either.
    await fs.writeFile(conf, JSON.stringify({ labels: ["env=other"], runtimes: { ghost: { path: "/nonexistent/runc" } }, "default-runtime": "ghost" }));
    await hup(d, "OCI runtime /nonexistent/runc (ghost) not found");
    const r = await d.docker(["info", "--format", "{{json .Labels}} {{.DefaultRuntime}}"]);
    assert.equal(r.stdout.trim(), '["env=prod","zone=b"] site-runc');
  });

  it("a key the file may not change while running is reported as needing a restart, the rest applies", async () => {
    // (log-level is warn since the test above: the reload's info lines are not logged, its warning is)
    await fs.writeFile(conf, JSON.stringify({ labels: ["env=prod"], bip: "10.99.0.1/24" }));
    await hup(d, "not reloadable, applied at the next start: bip");
    const i = await info(d);
    assert.deepEqual(i.Labels, ["env=prod"]);
    assert.equal(i.Debug, false);
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", ctr])).stdout.trim(), pid);
  });
});

describe("berthd configuration errors (dockerd's wording, exit 1 before anything starts)", () => {
  let dir = "";
  before(async () => {
    dir = await fs.mkdtemp("/tmp/berth-conf-");
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const berthd = (args: string[]) => run(process.execPath, [BERTHD, "--data-root", path.join(dir, "data"), "--exec-root", path.join(dir, "x"), "-H", `unix://${path.join(dir, "s.sock")}`, ...args]);

  it("a named config file that does not exist", async () => {
    const f = path.join(dir, "absent.json");
    const r = await berthd(["--config-file", f]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `berthd: unable to configure the Docker daemon with file ${f}: open ${f}: no such file or directory\n`);
  });

  it("a key given as a flag and in the file", async () => {
    const f = path.join(dir, "c.json");
    await fs.writeFile(f, '{"debug": true, "labels": ["a=b"]}');
    const r = await berthd(["--config-file", f, "--debug", "--label", "x=y"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `berthd: unable to configure the Docker daemon with file ${f}: the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: true), labels: (from flag: [x=y], from file: [a=b])\n`);
    await assert.rejects(fs.stat(path.join(dir, "data")), "nothing was created");
  });

  it("--validate says configuration OK for a good file and exits 0 without starting", async () => {
    const f = path.join(dir, "ok.json");
    await fs.writeFile(f, '{"labels": ["a=b"], "registry-mirrors": ["https://m.example"]}');
    const r = await berthd(["--config-file", f, "--validate"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "configuration OK\n");
    await assert.rejects(fs.stat(path.join(dir, "data")));
  });

  it("--validate refuses an unknown key with exit 1", async () => {
    const f = path.join(dir, "bad.json");
    await fs.writeFile(f, '{"foo": 1, "bar": 2}');
    const r = await berthd(["--config-file", f, "--validate"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `berthd: unable to configure the Docker daemon with file ${f}: the following directives don't match any configuration option: bar, foo\n`);
  });
});
