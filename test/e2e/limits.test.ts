/**
 * Resource limits and container statistics with the real docker CLI: memory and
 * CPU limits in the cgroup and in inspect, OOM kills, the pids limit, ulimits,
 * tmpfs mounts, host devices, --init, docker stats and docker top.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import { leftovers, busyboxDaemon } from "./harness.js";
import { OWN, limitsOf, memoryDir, removeParent, sharesOnHost } from "./cgroupfs.js";


/** GET a stats stream and return its first n JSON lines, then hang up. */
function statsLines(sock: string, id: string, n: number): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: sock, path: `/v1.47/containers/${id}/stats?stream=1` }, (res) => {
      let buf = "";
      const out: Record<string, unknown>[] = [];
      res.on("data", (b: Buffer) => {
        buf += b.toString();
        let i;
        while ((i = buf.indexOf("\n")) >= 0 && out.length < n) {
          out.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
          buf = buf.slice(i + 1);
        }
        if (out.length >= n) {
          req.destroy();
          resolve(out);
        }
      });
      res.on("end", () => resolve(out));
      res.on("error", () => resolve(out));
    });
    req.on("error", reject);
    req.setTimeout(15_000, () => req.destroy(new Error("stats stream timed out")));
  });
}

describe("docker CLI against berthd: resource limits and stats", () => {
  const d = busyboxDaemon();

  it("applies --memory to the cgroup and shows it (and the doubled swap) in inspect", async () => {
    const r = await d.docker(["run", "-d", "--name", "mem", "-m", "32m", "busybox", "sleep", "30"]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    const ins = await d.docker(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "mem"]);
    assert.equal(ins.stdout.trim(), `${32 * 1024 * 1024} ${64 * 1024 * 1024}`); // reference: dockerd 20.10
    assert.equal(limitsOf(id).memory, 32 * 1024 * 1024);
    assert.equal(limitsOf(id).memorySwap, 64 * 1024 * 1024);
    const small = await d.docker(["run", "--rm", "-m", "4m", "busybox", "true"]);
    assert.equal(small.code, 125); // reference: dockerd 20.10
    assert.match(small.stderr, /Minimum memory limit allowed is 6MB/);
    const swap = await d.docker(["run", "--rm", "-m", "32m", "--memory-swap", "16m", "busybox", "true"]);
    assert.match(swap.stderr, /Minimum memoryswap limit should be larger than memory limit, see usage/); // reference: dockerd 20.10
    assert.equal((await d.docker(["rm", "-f", "mem"])).code, 0);
  });

  it("reports an OOM-killed container with OOMKilled true and exit code 137", async () => {
    const r = await d.docker(["run", "--name", "oom", "-m", "10m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done"], { timeoutMs: 30_000 });
    assert.equal(r.code, 137, r.stderr); // reference: dockerd 20.10
    const ins = await d.docker(["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"]);
    assert.equal(ins.stdout.trim(), "true 137");
    const ok = await d.docker(["run", "--name", "nooom", "-m", "10m", "busybox", "true"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await d.docker(["inspect", "-f", "{{.State.OOMKilled}}", "nooom"])).stdout.trim(), "false");
    await d.docker(["rm", "oom", "nooom"]);
  });

  it("places the container under --cgroup-parent: limits, stats and OOM detection work there, and its cgroup goes with it", async () => {
    const parent = `berth-test-parent-${process.pid}`;
    try {
      const r = await d.docker(["run", "-d", "--name", "cgp", "--cgroup-parent", parent, "-m", "32m", "busybox", "sleep", "30"]);
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      assert.equal(limitsOf(id, parent).memory, 32 * 1024 * 1024);
      assert.equal((await d.docker(["inspect", "-f", "{{.HostConfig.CgroupParent}}", "cgp"])).stdout.trim(), parent);
      const st = await d.docker(["stats", "--no-stream", "--format", "{{.MemUsage}}", "cgp"]);
      assert.match(st.stdout, /\/ 32MiB/, st.stderr);
      assert.equal((await d.docker(["rm", "-f", "cgp"])).code, 0);
      assert.equal(existsSync(memoryDir(id, parent)), false, "the container's cgroup is removed with it");
      const oom = await d.docker(["run", "--name", "cgpoom", "--cgroup-parent", parent, "-m", "10m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done"], { timeoutMs: 30_000 });
      assert.equal(oom.code, 137, oom.stderr);
      assert.equal((await d.docker(["inspect", "-f", "{{.State.OOMKilled}}", "cgpoom"])).stdout.trim(), "true");
      await d.docker(["rm", "cgpoom"]);
    } finally {
      removeParent(parent);
    }
  });

  it("stops a fork loop at --pids-limit without harming the daemon", async () => {
    const script = `cat ${OWN.pidsMax}; (for i in $(seq 1 30); do sleep 2 & done); echo forks failed: $?; cat ${OWN.pidsCurrent}`;
    const r = await d.docker(["run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c", script], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const [max, failed, current] = r.stdout.trim().split("\n");
    assert.equal(max, "10");
    assert.match(failed ?? "", /^forks failed: [1-9]\d*$/); // reference: dockerd 20.10
    assert.ok(Number(current) <= 10, `pids.current ${current}`);
    assert.match(r.stderr, /can't fork/);
    const ps = await d.docker(["ps"]);
    assert.equal(ps.code, 0, ps.stderr);
  });

  it("maps --cpus 0.5 to a 50000us quota per 100000us period, --cpu-shares, --cpuset-cpus and --device-read-bps", async () => {
    const r = await d.docker(["run", "-d", "--name", "cpu", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--device-read-bps", "/dev/loop0:1mb", "busybox", "sleep", "30"]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.equal(limitsOf(id).cpuQuota, 50000);
    assert.equal(limitsOf(id).cpuPeriod, 100000);
    assert.equal(limitsOf(id).cpuWeight, sharesOnHost(512));
    assert.equal(limitsOf(id).cpusetCpus, "0");
    assert.deepEqual(limitsOf(id).readBps, { "7:0": 1048576 });
    const ins = await d.docker(["inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}}", "cpu"]);
    assert.equal(ins.stdout.trim(), "500000000 512 0");
    const bad = await d.docker(["run", "--rm", "--cpuset-cpus", "7", "busybox", "true"]);
    assert.match(bad.stderr, /Requested CPUs are not available - requested 7, available: 0-1/); // reference: dockerd 20.10
    assert.equal((await d.docker(["rm", "-f", "cpu"])).code, 0);
  });

  it("sets --ulimit nofile=100:200 and core=-1 (unlimited, for exec too) and refuses a hard limit above the daemon's", async () => {
    const r = await d.docker(["run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "100\n200\n");
    const core = await d.docker(["run", "-d", "--name", "core", "--ulimit", "core=-1", "busybox", "sleep", "30"]);
    assert.equal(core.code, 0, core.stderr);
    const ex = await d.docker(["exec", "core", "sh", "-c", "ulimit -c; ulimit -Hc"]);
    assert.equal(ex.stdout, "unlimited\nunlimited\n", ex.stderr);
    await d.docker(["rm", "-f", "core"]);
    const big = await d.docker(["run", "--rm", "--ulimit", "nofile=1024:1048576", "busybox", "true"]);
    assert.notEqual(big.code, 0);
    // reference: dockerd 20.10 fails later, in runc ("error setting rlimit type 7: operation not permitted"); Berth refuses up front.
    assert.match(big.stderr, /hard limit may not exceed the daemon's hard limit/);
  });

  it("mounts --tmpfs with Docker's default options, or the ones given", async () => {
    const r = await d.docker(["run", "--rm", "--tmpfs", "/scratch", "--tmpfs", "/run:rw,size=64m,exec", "busybox", "sh", "-c", "grep -E ' /(scratch|run) ' /proc/mounts"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n").sort();
    assert.match(lines[0] ?? "", /^tmpfs \/run tmpfs rw,nosuid,nodev,relatime,size=65536k/); // reference: dockerd 20.10
    assert.match(lines[1] ?? "", /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime/);
  });

  it("runs docker-init (tini) as PID 1 with --init", async () => {
    const r = await d.docker(["run", "--rm", "--init", "busybox", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\/sbin\/docker-init -- sh -c /); // reference: dockerd 20.10
    const exit = await d.docker(["run", "--rm", "--init", "busybox", "sh", "-c", "exit 5"]);
    assert.equal(exit.code, 5);
  });

  it("makes a host device available with --device, and every one with --privileged", async () => {
    const r = await d.docker(["run", "--rm", "--device", "/dev/loop-control:/dev/xlc", "busybox", "sh", "-c", "ls -l /dev/xlc; exec 3<>/dev/xlc && echo opened"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^crw.* 10,\s+237 .*\/dev\/xlc\nopened\n$/); // reference: dockerd 20.10
    const priv = await d.docker(["run", "--rm", "--privileged", "busybox", "sh", "-c", "exec 3<>/dev/loop-control && echo opened"]);
    assert.equal(priv.stdout, "opened\n", priv.stderr);
    const missing = await d.docker(["run", "--rm", "--device", "/dev/nope", "busybox", "true"]);
    assert.equal(missing.code, 127); // reference: dockerd 20.10
    assert.match(missing.stderr, /error gathering device information while adding custom device "\/dev\/nope": no such file or directory/);
  });

  it("prints a docker stats --no-stream row, streams samples with precpu, and lists processes with docker top", async () => {
    const r = await d.docker(["run", "-d", "--name", "st", "-m", "64m", "busybox", "sleep", "60"]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    const s = await d.docker(["stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}", "st"]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout.trim(), /^st\|[\d.]+[KMG]?i?B \/ 64MiB\|1\|\d+\.\d+%$/); // reference: dockerd 20.10
    const table = await d.docker(["stats", "--no-stream"]);
    assert.match(table.stdout, /CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT/); // reference: dockerd 20.10
    assert.match(table.stdout, new RegExp(`^${id.slice(0, 12)}\\s+st\\s+`, "m"));

    const [a, b] = await statsLines(d.sock, "st", 2);
    assert.ok(a && b, "two samples");
    assert.equal(b["id"], id);
    assert.equal(b["name"], "/st");
    assert.deepEqual(b["precpu_stats"], a["cpu_stats"]);
    assert.equal(b["preread"], a["read"]);
    assert.ok(((b["cpu_stats"] as { system_cpu_usage: number }).system_cpu_usage) > 0);
    assert.equal((b["memory_stats"] as { limit: number }).limit, 64 * 1024 * 1024);

    const top = await d.docker(["top", "st"]);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD/); // reference: dockerd 20.10
    assert.match(top.stdout, /sleep 60/);
    const topArgs = await d.docker(["top", "st", "-o", "pid,comm"]);
    assert.match(topArgs.stdout, /PID\s+COMMAND\n\d+\s+sleep/); // reference: dockerd 20.10

    assert.equal((await d.docker(["stop", "-t", "0", "st"])).code, 0);
    const stopped = await d.docker(["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}", "st"]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(stopped.stdout.trim(), "st 0.00% 0B / 0B"); // reference: dockerd 20.10
    const topStopped = await d.docker(["top", "st"]);
    // reference: dockerd 20.10
    assert.match(topStopped.stderr, /Error response from daemon: Container [0-9a-f]{64} is not running/);
    await d.docker(["rm", "st"]);
  });

  it("reports an OOM kill that happened while berthd was down", async () => {
    const r = await d.docker(["run", "-d", "--name", "oomdown", "-m", "10m", "busybox", "sh", "-c", "sleep 1; tail /dev/zero"]);
    assert.equal(r.code, 0, r.stderr);
    await d.kill9();
    const exitFile = `${d.execRoot}/c/${r.stdout.trim()}/exit`;
    for (let i = 0; i < 100 && !existsSync(exitFile); i++) await new Promise((res) => setTimeout(res, 100));
    await d.start();
    const ins = await d.docker(["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}", "oomdown"]);
    assert.equal(ins.stdout.trim(), "true 137 exited");
    await d.docker(["rm", "oomdown"]);
  });

  it("leaves nothing behind", async () => {
    const ps = await d.docker(["ps", "-aq"]);
    for (const id of ps.stdout.split("\n").filter(Boolean)) await d.docker(["rm", "-f", id]);
    const left = await leftovers(d);
    assert.deepEqual(left, { mounts: [], runtime: [], monitors: [] });
  });
});
