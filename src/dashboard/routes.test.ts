import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { routeOf } from "./routes.js";

describe("dashboard proxy routes", () => {
  it("forwards the reads and the actions the UI uses", () => {
    assert.equal(routeOf("GET", "/containers/json")?.write, false);
    assert.equal(routeOf("GET", "/containers/abc123/logs")?.write, false);
    assert.equal(routeOf("POST", "/containers/web-1/stop")?.write, true);
    assert.equal(routeOf("DELETE", "/containers/web-1")?.write, true);
    assert.equal(routeOf("DELETE", "/images/registry.example%3A5000%2Fa%2Fb:1")?.write, true);
    assert.equal(routeOf("GET", "/images/sha256:abc/history")?.write, false);
    assert.equal(routeOf("POST", "/images/prune")?.write, true);
    assert.equal(routeOf("GET", "/system/df")?.write, false);
  });

  it("forwards nothing else: no create, exec, build, commit, volume or network changes, no traversal", () => {
    for (const [m, p] of [
      ["POST", "/containers/create"],
      ["POST", "/containers/x/exec"],
      ["POST", "/exec/x/start"],
      ["POST", "/build"],
      ["POST", "/commit"],
      ["POST", "/volumes/create"],
      ["DELETE", "/volumes/v"],
      ["POST", "/networks/create"],
      ["POST", "/containers/x/kill"],
      ["PUT", "/containers/x/archive"],
      ["GET", "/containers/x/archive"],
      ["GET", "/containers/x/export"],
      ["GET", "/images/x/get"],
      ["GET", "/containers/../json"],
      ["GET", "/events"],
      ["POST", "/auth"],
    ] as const) {
      assert.equal(routeOf(m, p), undefined, `${m} ${p}`);
    }
  });
});
