/**
 * Legacy link names as dockerd 20.10 keeps them: "/parent/alias" among the
 * linked container's Names, "/child:/parent/alias" in the parent's inspect, and
 * `docker rm --link` (DELETE /containers/{parent/alias}?link=1) removing the link
 * and its /etc/hosts line. Expected answers were recorded from the reference.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { withDaemon } from "./harness.js";
import { api, json } from "./rawapi.js";

describe("legacy link names and docker rm --link", () => {
  const d = withDaemon();
  const hostsTail = async (c: string): Promise<string[]> => {
    const r = await d.docker(["exec", c, "cat", "/etc/hosts"]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter(Boolean).slice(6).map((l) => l.replace(/^\S+\t/, ""));
  };
  const links = async (c: string): Promise<string> => (await d.docker(["inspect", "-f", "{{json .HostConfig.Links}}", c])).stdout.trim();
  let childHost = "";
  let parentHost = "";

  before(async () => {
    assert.equal((await d.docker(["run", "-d", "--name", "child", "busybox", "sleep", "300"])).code, 0);
    assert.equal((await d.docker(["run", "-d", "--name", "parent", "--link", "child", "--link", "/child:x", "busybox", "sleep", "300"])).code, 0);
    childHost = (await d.docker(["inspect", "-f", "{{.Config.Hostname}}", "child"])).stdout.trim();
    parentHost = (await d.docker(["inspect", "-f", "{{.Config.Hostname}}", "parent"])).stdout.trim();
  });

  it("names the linked container /parent/alias too: in Names, inspect and the parent's /etc/hosts", async () => {
    assert.equal(await links("parent"), '["/child:/parent/child","/child:/parent/x"]');
    const list = json<{ Names: string[] }[]>(await api(d.sock, "GET", "/v1.41/containers/json"));
    assert.deepEqual(list.map((c) => c.Names).sort(), [["/child", "/parent/child", "/parent/x"], ["/parent"]]);
    assert.equal((await d.docker(["inspect", "-f", "{{.Name}}", "parent/x"])).stdout, "/child\n");
    assert.deepEqual(await hostsTail("parent"), [`child ${childHost}`, `x ${childHost} child`, parentHost]);
  });

  it("removes a link of a running parent with docker rm --link, and its hosts line", async () => {
    const r = await d.docker(["rm", "--link", "parent/child"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "parent/child\n");
    assert.equal(await links("parent"), '["/child:/parent/x"]');
    assert.deepEqual(await hostsTail("parent"), [`x ${childHost} child`, parentHost]);
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Running}}", "child"])).stdout, "true\n", "the child itself stays");
  });

  it("removes the last link of a stopped parent: inspect shows null and the next start has no link line", async () => {
    assert.equal((await d.docker(["stop", "-t", "0", "parent"])).code, 0);
    const r = await api(d.sock, "DELETE", "/v1.41/containers/parent%2Fx?link=1");
    assert.equal(r.status, 204, r.body);
    assert.equal(await links("parent"), "null");
    assert.equal((await d.docker(["start", "parent"])).code, 0);
    assert.deepEqual(await hostsTail("parent"), [parentHost]);
    const list = json<{ Names: string[] }[]>(await api(d.sock, "GET", "/v1.41/containers/json"));
    assert.deepEqual(list.map((c) => c.Names).sort(), [["/child"], ["/parent"]]);
  });

  it("answers unknown link names and a container's own name as dockerd does", async () => {
    const gone = await d.docker(["rm", "--link", "parent/x"]);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr.trim(), "Error response from daemon: No such container: parent/x");
    const unknown = await api(d.sock, "DELETE", "/v1.41/containers/nosuch%2Fal?link=1");
    assert.equal(unknown.status, 404);
    assert.deepEqual(json(unknown), { message: "No such container: nosuch/al" });
    // dockerd answers this one with a 500; Berth with 409 (a conflict, same message).
    const own = await d.docker(["rm", "--link", "child"]);
    assert.equal(own.code, 1);
    assert.equal(own.stderr.trim(), "Error response from daemon: Conflict, cannot remove the default link name of the container");
    const slashPath = await api(d.sock, "DELETE", "/v1.41/containers/x/y/z?link=1");
    assert.equal(slashPath.status, 404);
    assert.deepEqual(json(slashPath), { message: "No such container: x/y/z" });
  });
});
