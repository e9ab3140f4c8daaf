import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compilePathPattern, pathMatch, regexpMatches } from "./pathmatch.js";

describe("Go path.Match patterns", () => {
  it("matches * and ? within one path segment only", () => {
    assert.ok(pathMatch("busy*", "busybox"));
    assert.ok(pathMatch("*/busybox", "foo/busybox"));
    assert.ok(!pathMatch("*/busybox", "a/foo/busybox"));
    assert.ok(!pathMatch("busy*", "busy/box"));
    assert.ok(pathMatch("b?sybox:*", "busybox:latest"));
    assert.ok(!pathMatch("a?b", "a/b"));
    assert.ok(pathMatch("*/*", "localhost:5000/busy:x"));
    assert.ok(!pathMatch("busybox", "busybox:latest"));
  });

  it("takes '-' and the other regexp syntax characters literally outside a class (docker images my-app)", () => {
    assert.ok(pathMatch("my-app", "my-app"));
    assert.ok(pathMatch("my-app:*", "my-app:1.0"));
    assert.ok(!pathMatch("my-app", "myxapp"));
    assert.ok(pathMatch("a.b+c|d(e)", "a.b+c|d(e)"));
  });

  it("matches classes, negated classes, ranges and escapes", () => {
    assert.ok(pathMatch("busybox:[a-k]*", "busybox:glibc"));
    assert.ok(!pathMatch("busybox:[a-k]*", "busybox:latest"));
    assert.ok(pathMatch("x[^a-c]", "xd"));
    assert.ok(!pathMatch("x[^a-c]", "xb"));
    assert.ok(pathMatch("a[^b]c", "a/c"), "a class may match a slash");
    assert.ok(pathMatch("a\\*b", "a*b"));
    assert.ok(!pathMatch("a\\*b", "axb"));
    assert.ok(pathMatch("[\\]]", "]"));
    assert.ok(!pathMatch("[z-a]", "m"), "a reversed range matches nothing");
    assert.ok(pathMatch("a.b+c(d)", "a.b+c(d)"), "regular-expression characters are literal");
    assert.ok(!pathMatch("a.b", "axb"));
  });

  it("refuses malformed patterns with dockerd's message", () => {
    for (const p of ["busy[", "busy\\", "[]", "[-a]", "[a-]", "x[a", "[\\"]) {
      assert.throws(() => compilePathPattern(p), { message: "syntax error in pattern" }, p);
    }
  });
});

describe("name filters (Go's regexp.MatchString)", () => {
  it("match anywhere in the name, and a pattern that does not compile matches nothing instead of failing", () => {
    assert.ok(regexpMatches("web", "my-web-1"));
    assert.ok(regexpMatches("^my-", "my-web-1"));
    assert.ok(!regexpMatches("^web", "my-web-1"));
    assert.ok(!regexpMatches("[", "["));
    assert.ok(!regexpMatches("(", "a"));
  });
});
