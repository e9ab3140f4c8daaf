/**
 * After kill (SIGKILL), stop, restart and rm -f return, the next inspect, list
 * and wait show the final state, as dockerd 20.10 does. Raw API calls back to
 * back: the docker CLI's own latency would hide the race. Expected states were
 * recorded from the reference dockerd with the same calls.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { busyboxDaemon } from "./harness.js";
import { api, json } from "./rawapi.js";

const V = "/v1.41";

interface State {
  Status: string;
  Running: boolean;
  Paused: boolean;
  ExitCode: number;
}

describe("state after kill, stop, restart and rm -f (raw API, back to back)", () => {
  const d = busyboxDaemon();

  const started = async (cmd: string[], hostConfig: Record<string, unknown> = {}): Promise<string> => {
    const c = await api(d.sock, "POST", `${V}/containers/create`, { Image: "busybox", Cmd: cmd, HostConfig: hostConfig });
    assert.equal(c.status, 201, c.body);
    const id = json<{ Id: string }>(c).Id;
    const s = await api(d.sock, "POST", `${V}/containers/${id}/start`);
    assert.equal(s.status, 204, s.body);
    return id;
  };
  const state = async (id: string): Promise<State> => json<{ State: State }>(await api(d.sock, "GET", `${V}/containers/${id}/json`)).State;
  const listed = async (id: string): Promise<string[]> => {
    const f = encodeURIComponent(JSON.stringify({ id: [id] }));
    return json<{ State: string; Status: string }[]>(await api(d.sock, "GET", `${V}/containers/json?all=1&filters=${f}`)).map((c) => `${c.State} ${c.Status.split(" ")[0] ?? ""}`);
  };

  it("answers kill (SIGKILL) only once the container is dead: inspect, list and wait show exit 137", async () => {
    const id = await started(["sleep", "100"]);
    const k = await api(d.sock, "POST", `${V}/containers/${id}/kill`);
    assert.equal(k.status, 204, k.body);
    const st = await state(id);
    assert.deepEqual([st.Status, st.Running, st.ExitCode], ["exited", false, 137]);
    assert.deepEqual(await listed(id), ["exited Exited"]);
    const w = await api(d.sock, "POST", `${V}/containers/${id}/wait`);
    assert.equal(json<{ StatusCode: number }>(w).StatusCode, 137);
    await api(d.sock, "DELETE", `${V}/containers/${id}`);
  });

  it("answers kill of a paused container once it is dead and no longer paused", async () => {
    const id = await started(["sleep", "100"]);
    assert.equal((await api(d.sock, "POST", `${V}/containers/${id}/pause`)).status, 204);
    assert.equal((await api(d.sock, "POST", `${V}/containers/${id}/kill?signal=SIGKILL`)).status, 204);
    const st = await state(id);
    assert.deepEqual([st.Status, st.Running, st.Paused, st.ExitCode], ["exited", false, false, 137]);
    await api(d.sock, "DELETE", `${V}/containers/${id}`);
  });

  it("does not restart a SIGKILLed container with restart policy always", async () => {
    const id = await started(["sleep", "100"], { RestartPolicy: { Name: "always" } });
    assert.equal((await api(d.sock, "POST", `${V}/containers/${id}/kill`)).status, 204);
    const st = await state(id);
    assert.deepEqual([st.Status, st.Running, st.ExitCode], ["exited", false, 137]);
    await api(d.sock, "DELETE", `${V}/containers/${id}`);
  });

  it("answers kill with another signal at once: a process that ignores it keeps running", async () => {
    // busybox sleep as PID 1 has no handler for SIGHUP, so the kernel drops it.
    const id = await started(["sleep", "100"]);
    assert.equal((await api(d.sock, "POST", `${V}/containers/${id}/kill?signal=HUP`)).status, 204);
    const st = await state(id);
    assert.deepEqual([st.Status, st.Running, st.ExitCode], ["running", true, 0]);
    assert.deepEqual(await listed(id), ["running Up"]);
    await api(d.sock, "DELETE", `${V}/containers/${id}?force=1`);
  });

  it("answers stop once the container has exited with the code of its stop handler", async () => {
    const id = await started(["sh", "-c", "trap 'exit 5' TERM; while true; do sleep 0.1; done"]);
    assert.equal((await api(d.sock, "POST", `${V}/containers/${id}/stop?t=5`)).status, 204);
    const st = await state(id);
    assert.deepEqual([st.Status, st.Running, st.ExitCode], ["exited", false, 5]);
    assert.deepEqual(await listed(id), ["exited Exited"]);
    assert.equal(json<{ StatusCode: number }>(await api(d.sock, "POST", `${V}/containers/${id}/wait`)).StatusCode, 5);
    await api(d.sock, "DELETE", `${V}/containers/${id}`);
  });

  it("answers restart once the container runs again", async () => {
    const id = await started(["sleep", "100"]);
    assert.equal((await api(d.sock, "POST", `${V}/containers/${id}/restart?t=0`)).status, 204);
    const st = await state(id);
    assert.deepEqual([st.Status, st.Running, st.ExitCode], ["running", true, 0]);
    assert.deepEqual(await listed(id), ["running Up"]);
    await api(d.sock, "DELETE", `${V}/containers/${id}?force=1`);
  });

  it("answers rm -f once the container is gone: inspect 404, not listed", async () => {
    const id = await started(["sleep", "100"]);
    assert.equal((await api(d.sock, "DELETE", `${V}/containers/${id}?force=1`)).status, 204);
    const i = await api(d.sock, "GET", `${V}/containers/${id}/json`);
    assert.equal(i.status, 404);
    assert.equal(json<{ message: string }>(i).message, `No such container: ${id}`);
    assert.deepEqual(await listed(id), []);
  });
});
