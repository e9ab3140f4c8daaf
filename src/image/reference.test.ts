import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatReference, parseReference, registryOf, withDefaultTag } from "./reference.js";
import { EngineError } from "../util/errors.js";

describe("image references", () => {
  it("normalizes Docker Hub names to their familiar form", () => {
    assert.deepEqual(parseReference("busybox"), { repo: "busybox" });
    assert.deepEqual(parseReference("docker.io/library/busybox:1.36"), { repo: "busybox", tag: "1.36" });
    assert.deepEqual(parseReference("docker.io/user/app"), { repo: "user/app" });
    assert.deepEqual(parseReference("localhost:5000/team/app:v1"), { repo: "localhost:5000/team/app", tag: "v1" });
    const d = `sha256:${"a".repeat(64)}`;
    assert.deepEqual(parseReference(`app@${d}`), { repo: "app", digest: d });
    assert.equal(formatReference(withDefaultTag(parseReference("x"))), "x:latest");
    assert.deepEqual(registryOf(parseReference("busybox")), { host: "docker.io", path: "library/busybox" });
    assert.deepEqual(registryOf(parseReference("127.0.0.1:5000/a/b")), { host: "127.0.0.1:5000", path: "a/b" });
  });

  it("refuses malformed references with Docker's message", () => {
    for (const bad of ["", "UPPER", "a//b", "a:", ":tag", "a@sha256:xyz", "-lead", "a b", "a:bad tag"]) {
      assert.throws(() => parseReference(bad), (e: unknown) => e instanceof EngineError && e.kind === "invalid" && /invalid reference format/.test(e.message), bad);
    }
  });

  it("checks the repository path for upper case before the grammar, as ParseNormalizedNamed does", () => {
    const lower = "invalid reference format: repository name must be lowercase";
    for (const bad of ["Bad Repo", "Bad:Tag", "Bad:bad tag", "localhost:5000/Foo", "x/Y/z"]) assert.throws(() => parseReference(bad), { message: lower }, bad);
    // An upper-case first component is a registry host; a tag may have capitals.
    assert.deepEqual(parseReference("Registry.Example/app:V1"), { repo: "Registry.Example/app", tag: "V1" });
    assert.throws(() => parseReference("bad repo"), { message: "invalid reference format" });
    const hex = "a".repeat(64);
    assert.throws(() => parseReference(hex), { message: `invalid repository name (${hex}), cannot specify 64-byte hexadecimal strings` });
  });

  it("never throws anything but an invalid-reference error, whatever the input (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const r = parseReference(s);
          // Whatever parses formats back to something that parses to the same reference.
          assert.deepEqual(parseReference(formatReference(r)), r);
        } catch (e) {
          assert.ok(e instanceof EngineError && e.kind === "invalid", String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips generated valid references (property)", () => {
    const comp = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/).filter((s) => s.length > 0 && s.length < 20);
    const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
    fc.assert(
      // A first component with a dot names a registry host (Docker's rule), so keep dots out of it.
      fc.property(fc.array(comp, { minLength: 1, maxLength: 3 }).filter((p) => p.length === 1 || !(p[0] ?? "").includes(".")), fc.option(tag, { nil: undefined }), (parts, t) => {
        const input = parts.join("/") + (t !== undefined ? `:${t}` : "");
        const r = parseReference(input);
        assert.equal(formatReference(r), parts[0] === "library" && parts.length === 2 ? input.replace(/^library\//, "") : input);
      }),
      { numRuns: 1000 },
    );
  });
});
