import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { cleanPath, isExcluded, listContext, parseDockerignore, parseKeyValues } from "./buildctx.js";
import { encodeAuthHeader, lookupAuth, registryHostOf, removeAuth, storeAuth } from "./auth.js";
import { StepTimer } from "./commands/build.js";

describe("dockerignore", () => {
  it("cleans paths", () => {
    assert.equal(cleanPath("/a/./b/../c/"), "a/c");
    assert.equal(cleanPath("./"), ".");
  });
  it("matches like patternmatcher", () => {
    const p = parseDockerignore("# comment\n\nnode_modules\n*.key\n**/*.log\n!keep.log\ndocs/*.md\n");
    assert.ok(isExcluded("node_modules", p));
    assert.ok(isExcluded("node_modules/x/y.js", p));
    assert.ok(isExcluded("a.key", p));
    assert.ok(!isExcluded("sub/a.key", p));
    assert.ok(isExcluded("sub/deep/x.log", p));
    assert.ok(isExcluded("x.log", p));
    assert.ok(!isExcluded("keep.log", p));
    assert.ok(isExcluded("docs/a.md", p));
    assert.ok(!isExcluded("docs/sub/a.md", p));
    assert.ok(!isExcluded("src/main.ts", p));
  });
  it("walks a context without following symlinks and keeps the Dockerfile", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "berth-ctx-"));
    try {
      mkdirSync(path.join(dir, "ign"));
      mkdirSync(path.join(dir, "src"));
      writeFileSync(path.join(dir, "Dockerfile"), "FROM x\n");
      writeFileSync(path.join(dir, "ign", "a"), "a");
      writeFileSync(path.join(dir, "src", "b"), "b");
      symlinkSync("/etc", path.join(dir, "src", "etc"));
      const pats = parseDockerignore("ign\nDockerfile\n");
      const entries = listContext(dir, pats, ["Dockerfile", ".dockerignore"]);
      assert.deepEqual(
        entries.map((e) => `${e.type}:${e.rel}`),
        ["file:Dockerfile", "directory:src", "file:src/b", "symlink:src/etc"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("parses build args", () => {
    assert.deepEqual(parseKeyValues(["A=1", "B", "C"], { B: "env" }), { A: "1", B: "env" });
  });
});

describe("auth config", () => {
  it("finds the registry host of a reference", () => {
    assert.equal(registryHostOf("busybox"), "docker.io");
    assert.equal(registryHostOf("library/busybox"), "docker.io");
    assert.equal(registryHostOf("localhost:5000/x"), "localhost:5000");
    assert.equal(registryHostOf("ghcr.io/a/b:1"), "ghcr.io");
  });
  it("stores, looks up and removes credentials", () => {
    const cfg = storeAuth({}, "localhost:5000", "u", "p:w");
    assert.deepEqual(lookupAuth(cfg, "localhost:5000"), { serveraddress: "localhost:5000", username: "u", password: "p:w" });
    assert.deepEqual(lookupAuth({ auths: { "https://r.io/v2/": { auth: Buffer.from("a:b").toString("base64") } } }, "r.io")?.username, "a");
    assert.equal(lookupAuth(cfg, "docker.io"), undefined);
    assert.equal(removeAuth(cfg, "localhost:5000").removed, true);
    assert.equal(encodeAuthHeader(undefined), "e30=");
    const h = encodeAuthHeader({ username: "u", password: "??>" });
    assert.ok(!/[+/]/.test(h));
  });
});

describe("StepTimer", () => {
  it("amends the previous step line with its duration", () => {
    let t = 0;
    let out = "";
    const st = new StepTimer((s) => (out += s), 80, 24, () => t);
    st.write("Step 1/2 : FROM busybox\n");
    st.write(" ---> abc\n");
    t = 1500;
    st.write("Step 2/2 : RUN x\n");
    assert.ok(out.includes("\x1b[2A\r\x1b[2KStep 1/2 : FROM busybox (1.5s)"));
  });
});
