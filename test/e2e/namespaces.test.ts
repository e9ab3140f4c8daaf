/**
 * --pid, --ipc and --uts with the real docker CLI: private by default, shared with
 * the host, or joined from another running container, with dockerd's checks.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import { Daemon, leftovers } from "./harness.js";

describe("docker CLI against berthd: PID, IPC and UTS namespace modes", () => {
  const d = new Daemon();
  const shmFile = `/dev/shm/berth-ns-test-${process.pid}`;

  before(async () => {
    await d.start();
    await d.loadBusybox();
  });

  after(async () => {
    await d.docker(["rm", "-f", "pidsrc", "donor", "private"]);
    await fs.rm(shmFile, { force: true });
    await d.stop();
    const left = await leftovers(d);
    await fs.rm(d.dir, { recursive: true, force: true });
    assert.deepEqual(left, { mounts: [], runtime: [], monitors: [] });
  });

  const nsOf = async (args: string[], ns: string): Promise<string> => {
    const r = await d.docker(["run", "--rm", ...args, "busybox", "readlink", `/proc/self/ns/${ns}`]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  it("keeps PID, IPC and UTS private by default, and shares them with the host when asked", async () => {
    for (const ns of ["pid", "ipc", "uts"]) {
      const host = await fs.readlink(`/proc/self/ns/${ns}`);
      assert.notEqual(await nsOf([], ns), host, `${ns} is private by default`);
      assert.equal(await nsOf([`--${ns}`, "host"], ns), host, `--${ns} host shares the host's`);
    }
    const ps = await d.docker(["run", "--rm", "--pid", "host", "busybox", "sh", "-c", `ls /proc | grep -c '^[0-9]'`]);
    assert.ok(Number(ps.stdout.trim()) > 5, "the host's processes are visible");
    const uts = await d.docker(["run", "--rm", "--uts", "host", "busybox", "hostname"]);
    assert.equal(uts.stdout.trim(), os.hostname());
    await fs.writeFile(shmFile, "from the host");
    const shm = await d.docker(["run", "--rm", "--ipc", "host", "busybox", "cat", shmFile]);
    assert.equal(shm.stdout, "from the host", shm.stderr);
    const modes = await d.docker(["create", "--pid", "host", "--ipc", "host", "--uts", "host", "busybox", "true"]);
    const insp = await d.docker(["inspect", "-f", "{{.HostConfig.PidMode}}|{{.HostConfig.IpcMode}}|{{.HostConfig.UTSMode}}", modes.stdout.trim()]);
    assert.equal(insp.stdout.trim(), "host|host|host"); // reference: dockerd 20.10
    await d.docker(["rm", modes.stdout.trim()]);
    const def = await d.docker(["create", "busybox", "true"]);
    assert.equal((await d.docker(["inspect", "-f", "{{.HostConfig.IpcMode}}", def.stdout.trim()])).stdout.trim(), "private"); // reference: dockerd 20.10
    await d.docker(["rm", def.stdout.trim()]);
  });

  it("shares the host's cgroup namespace with --cgroupns host; systempaths=unconfined drops the masked and read-only /proc paths", async () => {
    const host = await fs.readlink("/proc/self/ns/cgroup");
    // Private by default on cgroup v1 and v2 alike (dockerd keeps the host's on v1: Berth is stricter, docs/security.md).
    assert.notEqual(await nsOf([], "cgroup"), host);
    assert.notEqual(await nsOf(["--cgroupns", "private"], "cgroup"), host);
    assert.equal(await nsOf(["--cgroupns", "host"], "cgroup"), host);
    const count = async (args: string[]): Promise<string> => {
      const r = await d.docker(["run", "--rm", ...args, "busybox", "sh", "-c", "grep -cE ' /proc/(keys|sys) ' /proc/mounts || true"]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.equal(await count([]), "2", "/proc/keys masked and /proc/sys read-only by default");
    assert.equal(await count(["--security-opt", "systempaths=unconfined"]), "0");
  });

  it("joins a running container's PID namespace with --pid container:<name>", async () => {
    assert.equal((await d.docker(["run", "-d", "--name", "pidsrc", "busybox", "sleep", "300"])).code, 0);
    const r = await d.docker(["run", "--rm", "--pid", "container:pidsrc", "busybox", "ps", "-o", "pid,args"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\s*1\s+sleep 300$/m, "pidsrc's process is PID 1 there");
  });

  it("shares IPC and /dev/shm with a shareable donor; a private one or none is refused or bare", async () => {
    assert.equal((await d.docker(["run", "-d", "--name", "donor", "--ipc", "shareable", "busybox", "sh", "-c", "echo shared > /dev/shm/x; sleep 300"])).code, 0);
    const donorIpc = (await d.docker(["exec", "donor", "readlink", "/proc/self/ns/ipc"])).stdout.trim();
    const r = await d.docker(["run", "--rm", "--ipc", "container:donor", "busybox", "sh", "-c", "readlink /proc/self/ns/ipc; cat /dev/shm/x"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [donorIpc, "shared"]);

    assert.equal((await d.docker(["run", "-d", "--name", "private", "busybox", "sleep", "300"])).code, 0);
    const refused = await d.docker(["run", "--rm", "--ipc", "container:private", "busybox", "true"]);
    assert.notEqual(refused.code, 0);
    // reference: dockerd 20.10 says "can't join IPC of container <id>: non-shareable IPC …"; Berth keeps moby 23+'s "container private: …".
    assert.match(refused.stderr, /container private: non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/);

    const none = await d.docker(["run", "--rm", "--ipc", "none", "busybox", "sh", "-c", "grep -c ' /dev/shm ' /proc/mounts || true"]);
    assert.equal(none.stdout.trim(), "0", "no /dev/shm with --ipc none");
  });

  it("sets namespaced kernel parameters (--sysctl) and the OOM score (--oom-score-adj) inside the container only", async () => {
    const hostPort = (await fs.readFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8")).trim();
    const r = await d.docker([
      "run", "--rm", "--sysctl", "net.ipv4.ip_unprivileged_port_start=80", "--sysctl", "kernel.shmmax=1000000", "--oom-score-adj", "500",
      "busybox", "sh", "-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmax /proc/self/oom_score_adj",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["80", "1000000", "500"]);
    assert.equal((await fs.readFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8")).trim(), hostPort, "the host's value is untouched");
    const viaBerth = await d.berth(["run", "--rm", "--sysctl", "net.core.somaxconn=1024", "--oom-score-adj", "-0", "busybox", "cat", "/proc/sys/net/core/somaxconn"]);
    assert.equal(viaBerth.stdout.trim(), "1024", viaBerth.stderr);
    const c = await d.docker(["create", "--sysctl", "net.core.somaxconn=1024", "busybox", "true"]);
    assert.equal((await d.docker(["inspect", "-f", "{{json .HostConfig.Sysctls}}", c.stdout.trim()])).stdout.trim(), '{"net.core.somaxconn":"1024"}'); // reference: dockerd 20.10
    await d.docker(["rm", c.stdout.trim()]);
  });

  it("answers bad modes and a stopped or missing target with dockerd's errors", async () => {
    const post = async (hc: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> => {
      const { request } = await import("node:http");
      return new Promise((resolve, reject) => {
        const req = request({ socketPath: d.sock, method: "POST", path: "/containers/create", headers: { "Content-Type": "application/json" } }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve(`${res.statusCode} ${body.trim()}`));
        });
        req.on("error", reject);
        req.end(JSON.stringify({ Image: "busybox", Cmd: ["true"], ...extra, HostConfig: hc }));
      });
    };
    // reference: dockerd 20.10 accepts bogus modes at create (201) and fails the start; Berth refuses them at create as moby 23+ does.
    assert.equal(await post({ PidMode: "bogus" }), '400 {"message":"invalid PID mode: bogus"}');
    assert.equal(await post({ IpcMode: "bogus" }), '400 {"message":"invalid IPC mode: bogus"}');
    assert.equal(await post({ UTSMode: "bogus" }), '400 {"message":"invalid UTS mode: bogus"}');
    assert.equal(await post({ UTSMode: "host" }, { Hostname: "x" }), '400 {"message":"conflicting options: hostname and the UTS mode"}'); // reference: dockerd 20.10
    // reference: dockerd 20.10 creates it and runc fails the start (sysctl "kernel.panic" is not in a separate kernel
    // namespace); Berth refuses at create (docs/security.md, kernel parameters).
    assert.equal(await post({ Sysctls: { "kernel.panic": "1" } }), `400 {"message":"sysctl 'kernel.panic' is not allowed"}`);
    assert.equal(await post({ OomScoreAdj: 1001 }), '400 {"message":"Invalid value 1001, range for oom score adj is [-1000, 1000]"}'); // reference: dockerd 20.10
    const missing = await d.docker(["run", "--rm", "--pid", "container:no-such-one", "busybox", "true"]);
    assert.equal(missing.code, 125); // reference: dockerd 20.10
    assert.match(missing.stderr, /Error response from daemon: No such container: no-such-one/);
    await d.docker(["stop", "-t", "0", "pidsrc"]);
    const pidsrcId = (await d.docker(["inspect", "-f", "{{.Id}}", "pidsrc"])).stdout.trim();
    const stopped = await d.docker(["run", "--rm", "--pid", "container:pidsrc", "busybox", "true"]);
    assert.equal(stopped.code, 125); // reference: dockerd 20.10
    assert.match(stopped.stderr, new RegExp(`Error response from daemon: container ${pidsrcId} is not running`));
  });
});
