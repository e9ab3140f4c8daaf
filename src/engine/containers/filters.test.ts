import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isEngineError } from "../../util/errors.js";
import type { ContainerRecord } from "../types.js";
import { matchContainer, parseTimeFilter, validateListFilters } from "./filters.js";

const rec = (over: Partial<ContainerRecord>): ContainerRecord =>
  ({ Id: "abc123", Name: "/web", Image: "sha256:img", State: { Status: "exited", ExitCode: 3 }, Config: { Image: "nginx", Labels: { tier: "front" } }, ...over }) as unknown as ContainerRecord;

describe("container filters", () => {
  it("since/until take any Go duration before now, unix seconds or an RFC 3339 date, in seconds", () => {
    const now = Date.now() / 1000;
    assert.ok(Math.abs(parseTimeFilter("1h30m") - (now - 5400)) < 5);
    assert.equal(parseTimeFilter("1700000000.5"), 1700000000.5);
    assert.equal(parseTimeFilter("2024-01-02T03:04:05Z"), Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  });

  it("a time that is none of these is a 400 naming it", () => {
    assert.throws(
      () => parseTimeFilter("yesterday"),
      (e: unknown) => isEngineError(e) && e.kind === "invalid" && e.message === "invalid time filter: yesterday",
    );
  });

  it("label, exited, ancestor and name filters match as dockerd's", () => {
    const r = rec({});
    const resolve = (n: string) => (n === "nginx:latest" ? "sha256:img" : undefined);
    assert.equal(matchContainer(r, { label: ["tier=front"], exited: ["3"] }, resolve), true);
    assert.equal(matchContainer(r, { label: ["tier=back"] }, resolve), false);
    assert.equal(matchContainer(r, { label: ["constructor"] }, resolve), false, "only the container's own labels");
    assert.equal(matchContainer(r, { ancestor: ["nginx:latest"], name: ["^we"] }, resolve), true);
  });

  it("an unknown key or status is refused before any container is looked at", () => {
    assert.throws(() => validateListFilters({ colour: ["red"] }), /Invalid filter 'colour'/);
    assert.throws(() => validateListFilters({ status: ["sleeping"] }), /Invalid filter 'status=sleeping'/);
  });
});
