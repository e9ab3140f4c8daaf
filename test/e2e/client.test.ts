/**
 * berth/client against two engines: the same calls run against a private
 * berthd and a private reference dockerd 20.10 (version negotiation, container
 * lifecycle with demultiplexed logs, exec with stdin over the hijack, a pull
 * from a loopback registry, the events iterator, AbortSignal mid-stream, typed errors).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import path from "node:path";
import { Berth, DaemonError, isAbortError, type EventMessage } from "../../src/client/index.js";
import { DOCKER, Daemon, busyboxTarFile, run } from "./harness.js";
import { RefDockerd } from "./refdockerd.js";
import { startDebianRegistry } from "./debregistry.js";

interface Engine {
  name: string;
  host: string;
  env: NodeJS.ProcessEnv;
}

const berthd = new Daemon();
const dockerd = RefDockerd.available() ? new RefDockerd() : undefined;
let registry: { proc: ChildProcess; host: string } | undefined;
const regDir = path.join(berthd.dir, "registry");

before(async () => {
  await Promise.all([berthd.start(), dockerd?.start()]);
  const tar = await busyboxTarFile();
  for (const env of [berthd.env, dockerd?.env]) {
    if (!env) continue;
    const r = await run(DOCKER, ["import", tar, "busybox:latest"], { env });
    assert.equal(r.code, 0, r.stderr);
  }
  await fs.mkdir(regDir, { recursive: true });
  registry = await startDebianRegistry(regDir);
  if (registry) {
    // Pushed from berthd, then untagged there: both engines pull it as new.
    for (const args of [["tag", "busybox:latest", `${registry.host}/cbusy:v1`], ["push", `${registry.host}/cbusy:v1`], ["rmi", `${registry.host}/cbusy:v1`]]) {
      const r = await run(DOCKER, args, { env: berthd.env, timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
    }
  }
});

after(async () => {
  registry?.proc.kill("SIGKILL");
  await Promise.all([berthd.destroy(), dockerd?.destroy()]);
});

const engines = (): Engine[] => [
  { name: "berthd", host: `unix://${berthd.sock}`, env: berthd.env },
  ...(dockerd ? [{ name: "dockerd 20.10", host: dockerd.host, env: dockerd.env }] : []),
];

for (const name of ["berthd", "dockerd 20.10"]) {
  describe(`berth/client against ${name}`, { skip: name !== "berthd" && !dockerd ? "no /usr/sbin/dockerd" : false }, () => {
    let c: Berth;
    const engine = (): Engine => engines().find((e) => e.name === name) as Engine;
    before(() => {
      c = new Berth({ host: engine().host, env: {} });
    });
    after(() => c.close());

    it("negotiates the API version from the ping (min of the daemon's and 1.47)", async () => {
      const p = await c.ping();
      assert.match(p.apiVersion ?? "", /^1\.\d+$/);
      assert.equal(p.osType, "linux");
      const v = await c.version();
      assert.equal(await c.apiVersion(), Number(v.ApiVersion.split(".")[1]) < 47 ? v.ApiVersion : "1.47");
      assert.equal(v.Os, "linux");
    });

    it("creates, starts, waits for and removes a container; its logs come back demultiplexed", async () => {
      const { Id } = await c.createContainer({ Image: "busybox", Cmd: ["sh", "-c", "echo to-out; echo to-err >&2; exit 3"] });
      const waiting = c.waitContainer(Id, { condition: "next-exit" });
      await c.startContainer(Id);
      assert.equal((await waiting).StatusCode, 3);
      const got = { stdout: "", stderr: "" };
      for await (const chunk of c.logs(Id)) got[chunk.stream] += chunk.data.toString();
      assert.deepEqual(got, { stdout: "to-out\n", stderr: "to-err\n" });
      assert.equal((await c.inspectContainer(Id)).State.ExitCode, 3);
      await c.removeContainer(Id);
      await assert.rejects(c.inspectContainer(Id), (e: unknown) => e instanceof DaemonError && e.status === 404 && e.isNotFound);
    });

    it("runs an exec with stdin over the hijacked connection", async () => {
      const { Id } = await c.createContainer({ Image: "busybox", Cmd: ["sleep", "60"] });
      await c.startContainer(Id);
      try {
        const r = await c.run(Id, ["sh", "-c", "tr a-z A-Z; echo done >&2; exit 5"], { stdin: "hello over hijack\n" });
        assert.deepEqual(r, { stdout: "HELLO OVER HIJACK\n", stderr: "done\n", exitCode: 5 });
      } finally {
        await c.removeContainer(Id, { force: true });
      }
    });

    it("pulls from a loopback registry as a progress iterator", async (t) => {
      if (!registry) {
        t.skip("no /usr/bin/docker-registry");
        return;
      }
      const ref = `${registry?.host ?? ""}/cbusy:v1`;
      const statuses: string[] = [];
      for await (const m of c.pull(ref)) if (m.status) statuses.push(m.status);
      assert.equal(statuses.at(-1), `Status: Downloaded newer image for ${ref}`, statuses.join("\n"));
      const img = await c.inspectImage(ref);
      assert.ok(img.RepoTags.includes(ref));
      await c.removeImage(ref);
    });

    it("iterates events as they happen, until the signal aborts", async () => {
      const ac = new AbortController();
      const label = `client-events-${name.replace(/\W/g, "")}-${process.pid}`;
      const seen: EventMessage[] = [];
      let onCreate: (id: string) => void = () => undefined;
      const created = new Promise<string>((r) => (onCreate = r));
      // `since` replays what happened after it, so the create cannot be missed however late the stream opens.
      const since = String(Math.floor(Date.now() / 1000) - 1);
      const iterating = (async () => {
        for await (const e of c.events({ since, signal: ac.signal, filters: { type: ["container"], label: [label] } })) {
          seen.push(e);
          if (e.Action === "create") onCreate(e.Actor.ID);
          if (e.Action === "start") ac.abort();
        }
      })();
      // Handled from the start: the abort may come while the test still awaits the start request.
      const ended = iterating.then(
        () => new Error("the events iterator ended without the abort"),
        (e: unknown) => e,
      );
      const { Id } = await c.createContainer({ Image: "busybox", Cmd: ["true"], Labels: { [label]: "1" } });
      assert.equal(await created, Id);
      await c.startContainer(Id);
      assert.ok(isAbortError(await ended), String(await ended));
      assert.deepEqual(
        seen.filter((e) => e.Action === "create" || e.Action === "start").map((e) => [e.Type, e.Action, e.Actor.ID, e.Actor.Attributes[label]]),
        [
          ["container", "create", Id, "1"],
          ["container", "start", Id, "1"],
        ],
      );
      await c.removeContainer(Id, { force: true });
    });

    it("aborts a following log stream mid-stream, and a call before it is sent", async () => {
      const { Id } = await c.createContainer({ Image: "busybox", Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.2; done"] });
      await c.startContainer(Id);
      try {
        const ac = new AbortController();
        let ticks = 0;
        await assert.rejects(
          (async () => {
            for await (const chunk of c.logs(Id, { follow: true, signal: ac.signal })) {
              if (chunk.data.toString().includes("tick")) ticks++;
              if (ticks === 2) ac.abort();
            }
          })(),
          (e: unknown) => isAbortError(e),
        );
        assert.equal(ticks, 2);
        const gone = new AbortController();
        gone.abort();
        await assert.rejects(c.info({ signal: gone.signal }), (e: unknown) => isAbortError(e));
      } finally {
        await c.removeContainer(Id, { force: true });
      }
    });

    it("types the daemon's errors with status and message", async () => {
      await assert.rejects(c.inspectContainer("no-such-ctr"), (e: unknown) => e instanceof DaemonError && e.status === 404 && e.daemonMessage === "No such container: no-such-ctr");
      const { Id } = await c.createContainer({ Image: "busybox", Cmd: ["true"] }, { name: "client-dup" });
      try {
        await assert.rejects(c.createContainer({ Image: "busybox", Cmd: ["true"] }, { name: "client-dup" }), (e: unknown) => e instanceof DaemonError && e.status === 409 && e.isConflict);
      } finally {
        await c.removeContainer(Id, { force: true });
      }
    });
  });
}
