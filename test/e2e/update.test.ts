/**
 * docker update with the real docker CLI: new limits reach the cgroup of a running
 * (or paused) container at once, show in inspect and stats, survive restarts and
 * apply at the next start of a stopped one; the restart policy changes what happens
 * at the next exit; errors carry Docker's messages and status codes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { until, withDaemon } from "./harness.js";
import { api } from "./term.js";
import { OWN, limitsOf, memoryUsage, sharesOnHost } from "./cgroupfs.js";

const MB = 1024 * 1024;

describe("docker CLI against berthd: docker update", () => {
  const d = withDaemon();
  const inspect = async (format: string, name: string) => (await d.docker(["inspect", "-f", format, name])).stdout.trim();
  const runDetached = async (args: string[]) => {
    const r = await d.docker(["run", "-d", ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  it("changes the memory and pids limits of a running container at once, in the cgroup, inspect and stats", async () => {
    const id = await runDetached(["--name", "live", "-m", "32m", "--pids-limit", "10", "busybox", "sleep", "300"]);
    assert.equal(limitsOf(id).memory, 32 * MB);
    const r = await d.docker(["update", "-m", "48m", "--pids-limit", "20", "--cpus", "0.5", "live"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "live\n");
    assert.equal(limitsOf(id).memory, 48 * MB);
    assert.equal(limitsOf(id).memorySwap, 64 * MB);
    assert.equal(limitsOf(id).pids, 20);
    assert.equal(limitsOf(id).cpuQuota, 50000);
    // the container sees it too (its own cgroup namespace)
    const inside = await d.docker(["exec", "live", "cat", OWN.memory, OWN.pidsMax]);
    assert.equal(inside.stdout, `${48 * MB}\n20\n`, inside.stderr);
    assert.equal(await inspect("{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}", "live"), `${48 * MB} ${64 * MB} 20 500000000`);
    const stats = await d.docker(["stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", "live"], { timeoutMs: 30_000 });
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout.trim(), /\/ 48MiB\|1$/);

    // -1 lifts the pids limit; the swap limit may move with the memory limit
    const up = await d.docker(["update", "--pids-limit", "-1", "-m", "100m", "--memory-swap", "200m", id]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, `${id}\n`);
    assert.equal(limitsOf(id).pids, "max");
    assert.equal(limitsOf(id).memory, 100 * MB);
    assert.equal(limitsOf(id).memorySwap, 200 * MB);
    assert.equal(await inspect("{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "live"), `0 ${100 * MB} ${200 * MB}`);
    // unlimited swap (-1) is applied at once too
    assert.equal((await d.docker(["update", "-m", "120m", "--memory-swap", "-1", "live"])).code, 0);
    assert.equal(limitsOf(id).memory, 120 * MB);
    assert.equal(limitsOf(id).memorySwap, "max");
    await d.docker(["rm", "-f", "live"]);
  });

  it("keeps the new values across restarts of the container", async () => {
    const id = await runDetached(["--name", "keep", "-m", "32m", "busybox", "sleep", "300"]);
    assert.equal((await d.docker(["update", "-m", "40m", "--pids-limit", "15", "--cpu-shares", "512", "keep"])).code, 0);
    assert.equal((await d.docker(["restart", "-t", "0", "keep"])).code, 0);
    assert.equal(limitsOf(id).memory, 40 * MB);
    assert.equal(limitsOf(id).pids, 15);
    assert.equal(limitsOf(id).cpuWeight, sharesOnHost(512));
    assert.equal((await d.docker(["stop", "-t", "0", "keep"])).code, 0);
    assert.equal((await d.docker(["start", "keep"])).code, 0);
    assert.equal(limitsOf(id).memory, 40 * MB);
    assert.equal(limitsOf(id).pids, 15);
    assert.equal(await inspect("{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}}", "keep"), `${40 * MB} 15 512`);
    await d.docker(["rm", "-f", "keep"]);
  });

  it("updates a stopped container: recorded now, applied at its next start", async () => {
    const script = `cat ${OWN.memory} ${OWN.pidsMax}`;
    const first = await d.docker(["run", "--name", "stopped", "-m", "32m", "busybox", "sh", "-c", script]);
    assert.equal(first.stdout, `${32 * MB}\nmax\n`, first.stderr);
    const r = await d.docker(["update", "-m", "64m", "--memory-swap", "128m", "--pids-limit", "30", "stopped"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await inspect("{{.State.Status}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "stopped"), `exited ${64 * MB} 30`);
    const again = await d.docker(["start", "-a", "stopped"]);
    assert.equal(again.stdout, `${64 * MB}\n30\n`, again.stderr);

    // a created, never started container too
    assert.equal((await d.docker(["create", "--name", "fresh", "busybox", "sh", "-c", script])).code, 0);
    assert.equal((await d.docker(["update", "-m", "24m", "--memory-swap", "48m", "--pids-limit", "7", "fresh"])).code, 0);
    const fresh = await d.docker(["start", "-a", "fresh"]);
    assert.equal(fresh.stdout, `${24 * MB}\n7\n`, fresh.stderr);
    await d.docker(["rm", "stopped", "fresh"]);
  });

  it("applies the update to a paused container", async () => {
    const id = await runDetached(["--name", "frozen", "--cpu-shares", "1000", "busybox", "sleep", "300"]);
    assert.equal((await d.docker(["pause", "frozen"])).code, 0);
    const r = await d.docker(["update", "--cpu-shares", "500", "frozen"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(limitsOf(id).cpuWeight, sharesOnHost(500));
    assert.equal(await inspect("{{.State.Status}} {{.HostConfig.CpuShares}}", "frozen"), "paused 500");
    assert.equal((await d.docker(["unpause", "frozen"])).code, 0);
    await d.docker(["rm", "-f", "frozen"]);
  });

  it("gives a running container's exit the new restart policy", async () => {
    // no policy at first: updated to on-failure:2 while it runs, it is restarted twice
    await runDetached(["--name", "flaky", "busybox", "sh", "-c", "sleep 1; exit 3"]);
    const r = await d.docker(["update", "--restart", "on-failure:2", "flaky"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await inspect("{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"), "on-failure 2");
    assert.ok(await until(async () => (await inspect("{{.RestartCount}} {{.State.Status}}", "flaky")) === "2 exited", 20_000), await inspect("{{.RestartCount}} {{.State.Status}}", "flaky"));

    // always, updated to no while it runs: it stays down after it exits
    await runDetached(["--name", "tamed", "--restart", "always", "busybox", "sh", "-c", "sleep 1; exit 0"]);
    assert.equal((await d.docker(["update", "--restart", "no", "tamed"])).code, 0);
    assert.ok(await until(async () => (await inspect("{{.State.Status}}", "tamed")) === "exited", 10_000));
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(await inspect("{{.RestartCount}} {{.State.Status}} {{.HostConfig.RestartPolicy.Name}}", "tamed"), "0 exited no");
    await d.docker(["rm", "-f", "flaky", "tamed"]);
  });

  it("refuses bad values with Docker's messages and leaves the container as it was", async () => {
    await runDetached(["--name", "strict", "-m", "32m", "--memory-swap", "64m", "busybox", "sleep", "300"]);
    const small = await d.docker(["update", "-m", "2m", "strict"]);
    assert.equal(small.code, 1);
    assert.match(small.stderr, /Error response from daemon: Minimum memory limit allowed is 6MB/); // reference: dockerd 20.10
    const over = await d.docker(["update", "-m", "100m", "strict"]);
    assert.equal(over.code, 1);
    // reference: dockerd 20.10
    assert.match(over.stderr, /Error response from daemon: Cannot update container [0-9a-f]{64}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time/);
    const lowSwap = await d.docker(["update", "--memory-swap", "16m", "strict"]);
    assert.equal(lowSwap.code, 1);
    // reference: dockerd 20.10 passes this on to runc, which fails (500, "memory.memsw.limit_in_bytes: invalid argument");
    // Berth refuses it up front with the message docker run gives (see startProblem in src/engine/update.ts).
    assert.match(lowSwap.stderr, /Minimum memoryswap limit should be larger than memory limit, see usage/);
    assert.equal(await inspect("{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "strict"), `${32 * MB} ${64 * MB}`);
    const missing = await d.docker(["update", "-m", "32m", "nosuch"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error response from daemon: No such container: nosuch/); // reference: dockerd 20.10
    const noFlags = await d.docker(["update", "strict"]);
    assert.equal(noFlags.code, 1); // reference: dockerd 20.10
    assert.match(noFlags.stderr, /you must provide one or more flags when using this command/);

    await runDetached(["--name", "auto", "--rm", "busybox", "sleep", "300"]);
    const ar = await d.docker(["update", "--restart", "always", "auto"]);
    assert.equal(ar.code, 1);
    assert.match(ar.stderr, /Restart policy cannot be updated because AutoRemove is enabled for the container/); // reference: dockerd 20.10
    assert.equal(await inspect("{{.HostConfig.RestartPolicy.Name}}", "auto"), "no");
    // several containers: the ones that work are updated and named, the failures reported
    const mixed = await d.docker(["update", "--cpu-shares", "256", "strict", "nosuch", "auto"]);
    assert.equal(mixed.code, 1);
    assert.equal(mixed.stdout, "strict\nauto\n"); // reference: dockerd 20.10
    assert.match(mixed.stderr, /No such container: nosuch/);
    await d.docker(["rm", "-f", "strict", "auto"]);
  });

  it("puts the old values back when the kernel refuses the new ones", { skip: readFileSync("/proc/swaps", "utf8").trim().split("\n").length > 1 ? "the host has swap: shared memory could be swapped out" : false }, async () => {
    // 30 MiB of shared memory cannot be reclaimed without swap: a 8 MiB limit is refused by the kernel
    const id = await runDetached(["--name", "full", "-m", "64m", "busybox", "sh", "-c", "dd if=/dev/zero of=/dev/shm/x bs=1M count=30 2>/dev/null; sleep 300"]);
    assert.ok(await until(async () => memoryUsage(id) > 30 * MB, 10_000));
    const r = await d.docker(["update", "-m", "8m", "--memory-swap", "16m", "full"]);
    assert.equal(r.code, 1);
    // reference: dockerd 20.10 puts containerd's wrapper in between ("runc did not terminate successfully: exit status 1: ",
    // then ": unknown"); Berth passes runc's own message on.
    assert.match(r.stderr, new RegExp(`^Error response from daemon: Cannot update container ${id}: unable to set memory limit to ${8 * MB} \\(current usage: \\d+, peak usage: \\d+\\)`));
    assert.equal(await inspect("{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "full"), `${64 * MB} ${128 * MB}`);
    assert.equal(limitsOf(id).memory, 64 * MB);
    await d.docker(["rm", "-f", "full"]);
  });

  it("answers the Engine API like dockerd: 200 with warnings, 400, 404 and 409, on versioned and unversioned paths", async () => {
    await runDetached(["--name", "raw", "-m", "32m", "busybox", "sleep", "300"]);
    const ok = await api(d.sock, "POST", "/v1.47/containers/raw/update", { Memory: 40 * MB, RestartPolicy: { Name: "unless-stopped" } });
    assert.deepEqual(ok, { status: 200, body: { Warnings: null } }); // dockerd 20.10: null when there are none (conformance containers/update)
    const plain = await api(d.sock, "POST", "/containers/raw/update", { CpuShares: 300 });
    assert.deepEqual(plain, { status: 200, body: { Warnings: null } }); // dockerd 20.10: null when there are none (conformance containers/update)
    assert.equal(await inspect("{{.HostConfig.Memory}} {{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}}", "raw"), `${40 * MB} 300 unless-stopped`);
    // reference: dockerd 20.10 (404, 400, 409 and their messages below)
    assert.deepEqual(await api(d.sock, "POST", "/v1.47/containers/nosuch/update", { Memory: 40 * MB }), { status: 404, body: { message: "No such container: nosuch" } });
    assert.deepEqual(await api(d.sock, "POST", "/v1.47/containers/raw/update", { Memory: MB }), { status: 400, body: { message: "Minimum memory limit allowed is 6MB" } });
    // reference: dockerd 20.10 says "invalid restart policy 'sometimes'"; Berth keeps moby 25+'s wording.
    assert.deepEqual(await api(d.sock, "POST", "/containers/raw/update", { RestartPolicy: { Name: "sometimes" } }), {
      status: 400,
      body: { message: "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'" },
    });
    const conflict = await api(d.sock, "POST", "/v1.47/containers/raw/update", { Memory: 200 * MB });
    assert.equal(conflict.status, 409);
    assert.match((conflict.body as { message: string }).message, /Memory limit should be smaller than already set memoryswap limit/);
    await runDetached(["--name", "raw-rm", "--rm", "busybox", "sleep", "300"]);
    const ar = await api(d.sock, "POST", "/v1.47/containers/raw-rm/update", { RestartPolicy: { Name: "always" } });
    assert.equal(ar.status, 409);
    assert.match((ar.body as { message: string }).message, /^Cannot update container [0-9a-f]{64}: Restart policy cannot be updated because AutoRemove is enabled for the container$/);
    // an update event is announced
    const ev = await d.docker(["events", "--since", "0", "--until", String(Math.ceil(Date.now() / 1000) + 1), "--filter", "event=update", "--filter", "container=raw", "--format", "{{.Action}}"], { timeoutMs: 15_000 });
    assert.equal(ev.stdout.trim().split("\n")[0], "update", ev.stderr);
    await d.docker(["rm", "-f", "raw", "raw-rm"]);
  });

  it("berth update has docker's flags and prints the names", async () => {
    const id = await runDetached(["--name", "own", "-m", "32m", "busybox", "sleep", "300"]);
    const r = await d.berth(["update", "-m", "50m", "--memory-swap", "100m", "--pids-limit", "12", "--cpuset-cpus", "0", "own"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "own\n");
    assert.equal(limitsOf(id).memory, 50 * MB);
    assert.equal(limitsOf(id).pids, 12);
    assert.equal(limitsOf(id).cpusetCpus, "0");
    const grouped = await d.berth(["container", "update", "--restart", "on-failure:4", "own"]);
    assert.equal(grouped.code, 0, grouped.stderr);
    assert.equal(await inspect("{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "own"), "on-failure:4");
    const bad = await d.berth(["update", "-m", "2m", "own"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Error response from daemon: Minimum memory limit allowed is 6MB/);
    const none = await d.berth(["update", "own"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /you must provide one or more flags when using this command/);
    await d.docker(["rm", "-f", "own"]);
  });
});
