/**
 * scripts/install.sh into a staging directory (DESTDIR): the tree, wrappers,
 * units and default configuration land where they should; the installed tree
 * alone (its runtime node_modules, its monitor) runs a daemon that runs a
 * container; an upgrade (stop berthd, install again, start) keeps the edited
 * configuration, leaves no staging leftovers, and the container keeps running.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Daemon, run, until } from "./harness.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const SCRIPT = path.join(REPO, "scripts/install.sh");

describe("scripts/install.sh", () => {
  let dest = "";
  const d = new Daemon();
  let survivorPid = "";
  const startInstalled = async () => {
    const config = path.join(dest, "etc/berth/daemon.json");
    const log = createWriteStream(path.join(d.dir, "berthd.log"), { flags: "a" });
    const p = spawn(process.execPath, [path.join(dest, "usr/local/lib/berth/dist/src/daemon/main.js"), "-H", `unix://${d.sock}`, "--data-root", d.dataRoot, "--exec-root", d.execRoot, "--config-file", config], { stdio: ["ignore", "ignore", "pipe"] });
    p.stderr?.pipe(log);
    d.proc = p;
    assert.ok(await until(() => d.ping(), 20_000), await d.log());
  };
  const install = () => run("bash", [SCRIPT], { env: { ...process.env, DESTDIR: dest }, timeoutMs: 180_000 });

  before(async () => {
    dest = await fs.mkdtemp("/tmp/berth-install-");
  });
  after(async () => {
    await d.destroy();
    await fs.rm(dest, { recursive: true, force: true });
  });

  it("stages the tree, wrappers, units and a default daemon.json, and nothing on the host", async () => {
    const r = await install();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /installed a default \/etc\/berth\/daemon\.json/);
    assert.match(r.stdout, /staged in .* \(no group, no systemctl\)/);
    for (const f of ["usr/local/lib/berth/dist/src/daemon/main.js", "usr/local/lib/berth/dist/berth-monitor", "usr/local/lib/berth/node_modules/commander/package.json", "usr/local/share/doc/berth/operations.md"]) {
      assert.ok(existsSync(path.join(dest, f)), f);
    }
    assert.ok(!existsSync(path.join(dest, "usr/local/lib/berth/node_modules/typescript")), "development dependencies are pruned");
    assert.ok(!existsSync(path.join(dest, "usr/local/lib/berth/dist/src/daemon/config.test.js")), "no tests");
    const wrapper = await fs.readFile(path.join(dest, "usr/local/bin/berthd"), "utf8");
    assert.match(wrapper, /^exec \/\S+\/node \/usr\/local\/lib\/berth\/dist\/src\/daemon\/main\.js "\$@"$/m);
    assert.equal((await fs.stat(path.join(dest, "usr/local/bin/berthd"))).mode & 0o777, 0o755);
    const service = await fs.readFile(path.join(dest, "etc/systemd/system/berthd.service"), "utf8");
    for (const line of ["Type=notify", "ExecStart=/usr/local/bin/berthd -H fd:// $BERTHD_OPTS", "ExecReload=/bin/kill -s HUP $MAINPID", "KillMode=process", "Delegate=yes", "TasksMax=infinity", "LimitNOFILE=1048576", "Requires=berthd.socket"]) {
      assert.ok(service.split("\n").includes(line), line);
    }
    const socket = await fs.readFile(path.join(dest, "etc/systemd/system/berthd.socket"), "utf8");
    for (const line of ["ListenStream=/run/berth/berth.sock", "SocketMode=0660", "SocketGroup=berth"]) assert.ok(socket.split("\n").includes(line), line);
    const conf = path.join(dest, "etc/berth/daemon.json");
    const ok = await run(process.execPath, [path.join(dest, "usr/local/lib/berth/dist/src/daemon/main.js"), "--config-file", conf, "--validate"]);
    assert.equal(ok.stderr, "configuration OK\n");
  });

  it("the installed tree runs a daemon that runs a container", async () => {
    await fs.writeFile(path.join(dest, "etc/berth/daemon.json"), '{"labels": ["site=edited"]}\n');
    await startInstalled();
    await d.loadBusybox();
    const r = await d.docker(["run", "--rm", "busybox", "echo", "installed"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "installed\n");
    assert.deepEqual((JSON.parse((await d.docker(["info", "--format", "{{json .Labels}}"])).stdout) as string[]), ["site=edited"]);
    const c = await d.docker(["run", "-d", "--name", "survivor", "busybox", "sleep", "300"]);
    assert.equal(c.code, 0, c.stderr);
    survivorPid = (await d.docker(["inspect", "-f", "{{.State.Pid}}", "survivor"])).stdout.trim();
  });

  it("upgrade: a second run replaces the tree, keeps the edited daemon.json, leaves no staging directories; the container outlives the daemon", async () => {
    const conf = path.join(dest, "etc/berth/daemon.json");
    await d.stop(); // the upgrade: stop berthd, install, start the new one; containers keep running
    await fs.writeFile(path.join(dest, "usr/local/lib/berth/stale-file"), "x");
    const r = await install();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /kept the existing \/etc\/berth\/daemon\.json/);
    assert.equal(await fs.readFile(conf, "utf8"), '{"labels": ["site=edited"]}\n');
    assert.ok(!existsSync(path.join(dest, "usr/local/lib/berth/stale-file")), "the tree is replaced, not merged");
    assert.deepEqual((await fs.readdir(path.join(dest, "usr/local/lib"))).sort(), ["berth"]);
    await startInstalled();
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "survivor"])).stdout.trim(), `true ${survivorPid}`);
    const e = await d.docker(["exec", "survivor", "echo", "still here"]);
    assert.equal(e.stdout, "still here\n", e.stderr);
  });

});
