/** HEALTHCHECK from flags: starting → healthy, failing probes → unhealthy, shown in inspect and ps. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { until, busyboxDaemon } from "./harness.js";


describe("docker CLI against berthd: health checks", () => {
  const d = busyboxDaemon();

  const status = async (c: string) => (await d.docker(["inspect", "-f", "{{.State.Health.Status}}", c])).stdout.trim();

  it("reports healthy when the probe succeeds, and shows it in ps", async () => {
    const r = await d.docker(["run", "-d", "--name", "fine", "--health-cmd", "test -f /tmp/ready", "--health-interval", "200ms", "--health-retries", "2", "busybox", "sh", "-c", "touch /tmp/ready; sleep 60"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await status("fine"), "starting");
    assert.ok(await until(async () => (await status("fine")) === "healthy", 10_000), "became healthy");
    const ps = await d.docker(["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert.match(ps.stdout, /^fine Up .* \(healthy\)$/m); // reference: dockerd 20.10
    const log = await d.docker(["inspect", "-f", "{{(index .State.Health.Log 0).ExitCode}}", "fine"]);
    assert.equal(log.stdout.trim(), "0");
    await d.docker(["rm", "-f", "fine"]);
  });

  it("turns unhealthy after the given number of failed probes, keeping the probe's output", async () => {
    await d.docker(["run", "-d", "--name", "sick", "--health-cmd", "echo nope; exit 1", "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "60"]);
    assert.ok(await until(async () => (await status("sick")) === "unhealthy", 10_000), "became unhealthy");
    const streak = await d.docker(["inspect", "-f", "{{.State.Health.FailingStreak}} {{(index .State.Health.Log 0).Output}}", "sick"]);
    assert.match(streak.stdout, /^[2-9]\d* nope/); // reference: dockerd 20.10
    const ev = await d.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "event=health_status", "--format", "{{.Status}}"]);
    // reference: dockerd 20.10 announces what the probes change, never the "starting" a start sets
    assert.deepEqual(ev.stdout.trim().split("\n"), ["health_status: healthy", "health_status: unhealthy"]);
    await d.docker(["rm", "-f", "sick"]);
  });

  it("does not probe when --no-healthcheck is given", async () => {
    await d.docker(["run", "-d", "--name", "none", "--no-healthcheck", "busybox", "sleep", "60"]);
    const r = await d.docker(["inspect", "-f", "{{.State.Health}}", "none"]);
    assert.equal(r.stdout.trim(), "<nil>"); // reference: dockerd 20.10
    await d.docker(["rm", "-f", "none"]);
  });
});
