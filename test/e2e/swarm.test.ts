/**
 * What dockerd 20.10 serves on a node that is not part of a swarm and has no
 * plugins: swarm, nodes, services, tasks, secrets and configs answer 503 (after
 * the same parameter checks), plugins are an empty list and 404 by name. Every
 * status and message below was recorded from the reference dockerd with the same
 * requests (scripted over the routes of the Engine API spec); where the reference
 * answers bad input with a 500, Berth answers 400 with the same message.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { withDaemon } from "./harness.js";
import { api, json } from "./rawapi.js";

const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

// [method, path (after /v1.41), status, body]
const ROUTES: [string, string, number, unknown][] = [
  ["PUT", "/volumes/nosuchthing", 404, {"message": "page not found"}],
  ["GET", "/plugins", 200, []],
  ["GET", "/plugins/nosuchplugin/json", 404, {"message": "plugin \"nosuchplugin\" not found"}],
  ["DELETE", "/plugins/nosuchplugin", 404, {"message": "plugin \"nosuchplugin\" not found"}],
  ["POST", "/plugins/nosuchplugin/enable", 400, {"message": "strconv.Atoi: parsing \"\": invalid syntax"}], // reference: 500 (bad input: Berth answers 400, same message)
  ["POST", "/plugins/nosuchplugin/disable", 404, {"message": "plugin \"nosuchplugin\" not found"}],
  ["POST", "/plugins/nosuchplugin/upgrade?remote=127.0.0.1%3A1%2Fnosuchplugin%3Alatest", 404, {"message": "plugin \"nosuchplugin:latest\" not found"}],
  ["POST", "/plugins/nosuchplugin/push", 404, {"message": "plugin \"nosuchplugin\" not found"}],
  ["POST", "/plugins/nosuchplugin/set", 404, {"message": "plugin \"nosuchplugin\" not found"}],
  ["GET", "/nodes", 503, { message: NOT_MANAGER }],
  ["GET", "/nodes/nosuchthing", 503, { message: NOT_MANAGER }],
  ["DELETE", "/nodes/nosuchthing", 503, { message: NOT_MANAGER }],
  ["POST", "/nodes/nosuchthing/update", 400, {"message": "invalid node version '': strconv.ParseUint: parsing \"\": invalid syntax"}],
  ["GET", "/swarm", 503, { message: NOT_MANAGER }],
  ["POST", "/swarm/init", 400, {"message": "invalid ListenAddr \"\": invalid empty address"}],
  ["POST", "/swarm/join", 400, {"message": "invalid ListenAddr \"\": invalid empty address"}],
  ["POST", "/swarm/leave", 503, {"message": "This node is not part of a swarm"}],
  ["POST", "/swarm/update", 400, {"message": "invalid swarm version '': strconv.ParseUint: parsing \"\": invalid syntax"}],
  ["GET", "/swarm/unlockkey", 503, { message: NOT_MANAGER }],
  ["POST", "/swarm/unlock", 503, { message: NOT_MANAGER }],
  ["GET", "/services", 503, { message: NOT_MANAGER }],
  ["POST", "/services/create", 503, { message: NOT_MANAGER }],
  ["GET", "/services/nosuchthing", 503, { message: NOT_MANAGER }],
  ["DELETE", "/services/nosuchthing", 503, { message: NOT_MANAGER }],
  ["POST", "/services/nosuchthing/update", 400, {"message": "invalid service version '': strconv.ParseUint: parsing \"\": invalid syntax"}],
  ["GET", "/services/nosuchthing/logs", 400, {"message": "Bad parameters: you must choose at least one stream"}], // reference: 500 (bad input: Berth answers 400, same message)
  ["GET", "/tasks", 503, { message: NOT_MANAGER }],
  ["GET", "/tasks/nosuchthing", 503, { message: NOT_MANAGER }],
  ["GET", "/tasks/nosuchthing/logs", 400, {"message": "Bad parameters: you must choose at least one stream"}], // reference: 500 (bad input: Berth answers 400, same message)
  ["GET", "/secrets", 503, { message: NOT_MANAGER }],
  ["POST", "/secrets/create", 503, { message: NOT_MANAGER }],
  ["GET", "/secrets/nosuchthing", 503, { message: NOT_MANAGER }],
  ["DELETE", "/secrets/nosuchthing", 503, { message: NOT_MANAGER }],
  ["POST", "/secrets/nosuchthing/update", 400, {"message": "invalid secret version"}],
  ["GET", "/configs", 503, { message: NOT_MANAGER }],
  ["POST", "/configs/create", 503, { message: NOT_MANAGER }],
  ["GET", "/configs/nosuchthing", 503, { message: NOT_MANAGER }],
  ["DELETE", "/configs/nosuchthing", 503, { message: NOT_MANAGER }],
  ["POST", "/configs/nosuchthing/update", 400, {"message": "invalid config version"}],
  ["POST", "/session", 400, {"message": "no upgrade proto in request"}],
  ["POST", "/nodes/nosuchthing/update?version=1", 503, { message: NOT_MANAGER }],
  ["POST", "/swarm/update?version=1", 503, { message: NOT_MANAGER }],
  ["POST", "/services/nosuchthing/update?version=1", 503, { message: NOT_MANAGER }],
  ["GET", "/services/nosuchthing/logs?stdout=1", 503, { message: NOT_MANAGER }],
  ["GET", "/tasks/nosuchthing/logs?stdout=1", 503, { message: NOT_MANAGER }],
  ["POST", "/secrets/nosuchthing/update?version=1", 503, { message: NOT_MANAGER }],
  ["POST", "/configs/nosuchthing/update?version=1", 503, { message: NOT_MANAGER }],
  ["POST", "/swarm/leave?force=1", 503, {"message": "This node is not part of a swarm"}],
  ["GET", "/services?filters=%7B%22bad%22%3A%5B%22x%22%5D%7D", 503, { message: NOT_MANAGER }],
  ["POST", "/plugins/nosuchplugin/enable?timeout=0", 404, {"message": "plugin \"nosuchplugin\" not found"}],
  ["POST", "/plugins/nosuchplugin/enable?timeout=x", 400, {"message": "strconv.Atoi: parsing \"x\": invalid syntax"}], // reference: 500 (bad input: Berth answers 400, same message)
  ["GET", "/plugins?filters=%7B%22enabled%22%3A%5B%22true%22%5D%7D", 200, []],
  ["GET", "/plugins?filters=%7B%22bad%22%3A%5B%22x%22%5D%7D", 400, {"message": "Invalid filter 'bad'"}],
  ["DELETE", "/plugins/nosuchplugin?force=1", 404, {"message": "plugin \"nosuchplugin\" not found"}],
  ["POST", "/plugins/nosuchplugin/disable?force=1", 404, {"message": "plugin \"nosuchplugin\" not found"}],
];

describe("swarm, plugins and session routes on a node outside any swarm", () => {
  const d = withDaemon({ busybox: false });

  it(`answers ${ROUTES.length} requests with the reference's status and body`, async () => {
    const wrong: string[] = [];
    for (const [method, p, status, body] of ROUTES) {
      const send = method === "POST" || method === "PUT" ? (p.includes("/set") || p.includes("/upgrade") ? "[]" : "{}") : undefined;
      const r = await api(d.sock, method, `/v1.41${p}`, send);
      let got: unknown = r.body;
      try {
        got = JSON.parse(r.body);
      } catch {
        // compared as text
      }
      try {
        assert.equal(r.status, status);
        assert.deepEqual(got, body);
      } catch {
        wrong.push(`${method} ${p}: ${r.status} ${r.body} (want ${status} ${JSON.stringify(body)})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("asks for a remote address to join a swarm, as dockerd, and refuses swarm mode otherwise", async () => {
    const join = await api(d.sock, "POST", "/v1.41/swarm/join", { ListenAddr: "0.0.0.0:2377" });
    assert.equal(join.status, 400);
    assert.deepEqual(json(join), { message: "at least 1 RemoteAddr is required to join" });
    // The reference would create a swarm here; Berth has no swarm mode.
    const init = await api(d.sock, "POST", "/v1.41/swarm/init", { ListenAddr: "0.0.0.0:2377" });
    assert.equal(init.status, 501);
    assert.deepEqual(json(init), { message: "Berth does not support swarm mode" });
  });

  it("refuses to install plugins with a clear 501, after checking the reference", async () => {
    const bad = await api(d.sock, "POST", "/v1.41/plugins/pull?remote=BAD%20REF", "[]");
    assert.equal(bad.status, 400);
    const pull = await api(d.sock, "POST", `/v1.41/plugins/pull?remote=${encodeURIComponent("127.0.0.1:1/x:latest")}`, "[]");
    assert.equal(pull.status, 501);
    assert.deepEqual(json(pull), { message: "Berth does not support plugins" });
  });

  for (const [args, out, code] of [
    [["node", "ls"], `Error response from daemon: ${NOT_MANAGER}\n`, 1],
    [["service", "ls"], `Error response from daemon: ${NOT_MANAGER}\n`, 1],
    [["secret", "ls"], `Error response from daemon: ${NOT_MANAGER}\n`, 1],
    [["config", "ls"], `Error response from daemon: ${NOT_MANAGER}\n`, 1],
    [["swarm", "leave"], "Error response from daemon: This node is not part of a swarm\n", 1],
    [["plugin", "rm", "nosuch"], 'Error response from daemon: plugin "nosuch" not found\n', 1],
    [["plugin", "ls"], "ID        NAME      DESCRIPTION   ENABLED\n", 0],
  ] as [string[], string, number][]) {
    it(`docker ${args.join(" ")} prints what it prints against dockerd`, async () => {
      const r = await d.docker(args);
      assert.equal(r.code, code);
      assert.equal(code === 0 ? r.stdout : r.stderr, out);
    });
  }
});
