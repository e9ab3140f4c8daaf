import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
    const cfg = storeAuth({}, { serveraddress: "localhost:5000", username: "u", password: "p:w" });
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

describe("cp helpers", () => {
  it("splits container:path arguments", async () => {
    const { splitCpArg } = await import("./commands/cp.js");
    assert.deepEqual(splitCpArg("c1:/etc"), { container: "c1", path: "/etc" });
    assert.equal(splitCpArg("./a:b"), undefined);
    assert.equal(splitCpArg("/abs:x"), undefined);
    assert.equal(splitCpArg("plain"), undefined);
  });
  it("keeps tar entries inside the destination", async () => {
    const { safeTarget } = await import("./commands/cp.js");
    assert.equal(safeTarget("/d", "etc/passwd"), "/d/etc/passwd");
    assert.equal(safeTarget("/d", "../x"), undefined);
    assert.equal(safeTarget("/d", "a/../../x"), undefined);
    assert.equal(safeTarget("/d", "/abs/x"), "/d/abs/x");
    assert.equal(safeTarget("/d", "etc/passwd", { rename: { from: "etc", to: "e2" } }), "/d/e2/passwd");
    assert.equal(safeTarget("/d", "etc/passwd", { strip: true }), "/d/passwd");
  });
});

describe("cp extraction", () => {
  const tarOf = async (entries: { name: string; type: "file" | "symlink" | "directory"; linkname?: string; data?: string }[]) => {
    const { pack } = await import("tar-stream");
    const { Readable } = await import("node:stream");
    const p = pack();
    for (const e of entries) p.entry({ name: e.name, type: e.type, ...(e.linkname ? { linkname: e.linkname } : {}) }, e.data ?? "");
    p.finalize();
    return Readable.from(p as AsyncIterable<Buffer>);
  };
  it("extracts, and refuses entries escaping the destination", async () => {
    const { extractSafely } = await import("./commands/cp.js");
    const { existsSync, readFileSync, readlinkSync } = await import("node:fs");
    const dir = mkdtempSync(path.join(os.tmpdir(), "berth-cp-"));
    const outside = mkdtempSync(path.join(os.tmpdir(), "berth-cp-out-"));
    try {
      await extractSafely(await tarOf([{ name: "a", type: "directory" }, { name: "a/f", type: "file", data: "hi" }, { name: "a/l", type: "symlink", linkname: outside }]), dir, { rename: { from: "a", to: "b" } });
      assert.equal(readFileSync(path.join(dir, "b", "f"), "utf8"), "hi");
      assert.equal(readlinkSync(path.join(dir, "b", "l")), outside);
      await assert.rejects(extractSafely(await tarOf([{ name: "b/l/pwn", type: "file", data: "x" }]), dir, {}));
      assert.ok(!existsSync(path.join(outside, "pwn")));
      await assert.rejects(extractSafely(await tarOf([{ name: "../evil", type: "file", data: "x" }]), dir, {}));
      // a file never writes through an existing symlink
      await extractSafely(await tarOf([{ name: "b/l", type: "file", data: "replaced" }]), dir, {});
      assert.equal(readFileSync(path.join(dir, "b", "l"), "utf8"), "replaced");
      assert.equal(readdirCount(outside), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

function readdirCount(d: string): number {
  return readdirSync(d).length;
}

describe("network/volume formatting", () => {
  it("formats network contexts as docker does", async () => {
    const { goTimeString, networkContext } = await import("./commands/netvol.js");
    assert.equal(goTimeString("2026-11-23T14:28:25.683000Z").replace(/ [+-]\d{4} \S+$/, ""), goTimeString("2026-11-23T14:28:25.683Z").replace(/ [+-]\d{4} \S+$/, ""));
    assert.match(goTimeString("2026-11-23T14:28:25.680Z"), /:25\.68 /);
    assert.equal(goTimeString(undefined), "");
    const c = networkContext({ Id: "0123456789abcdef0123", Name: "n", Driver: "bridge", Scope: "local", Labels: { a: "b" } }, true);
    assert.equal(c["ID"], "0123456789ab");
    assert.equal(c["Labels"], "a=b");
    assert.deepEqual(Object.keys(c), [...Object.keys(c)].sort());
  });
});
