import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Backends, allRoutes } from "./routes/all.js";
import { Router } from "./server.js";

const noop = async (): Promise<void> => undefined;

/** Stands for the engine's backends while the routes are only registered (no handler runs). */
const anyEngine = (): Backends => {
  const any: object = new Proxy(() => any, { get: () => any });
  return any as Backends;
};

describe("API router", () => {
  it("refuses a second registration of the same method and path", () => {
    const r = new Router().get("/containers/{id}/json", noop);
    assert.throws(() => r.get("/containers/{id}/json", noop), /route GET \/containers\/\{id\}\/json is registered twice/);
  });

  it("counts a path that differs only in its parameter names as the same route", () => {
    const r = new Router().post("/images/{name*}/push", noop).delete("/networks/{id}", noop);
    assert.throws(() => r.post("/images/{name*}/push", noop), /registered twice/);
    assert.throws(() => r.delete("/networks/{name}", noop), /registered twice/);
  });

  it("accepts the same path under another method, and another path under the same method", () => {
    const r = new Router().get("/volumes/{name}", noop).delete("/volumes/{name}", noop).get("/volumes", noop);
    assert.equal(typeof r.match("DELETE", "/volumes/v1"), "object");
  });

  it("builds the daemon's whole route table without a duplicate", () => {
    const r = allRoutes(anyEngine());
    assert.equal(typeof r.match("GET", "/containers/json"), "object");
    assert.equal(typeof r.match("POST", "/exec/x/resize"), "object");
  });
});
