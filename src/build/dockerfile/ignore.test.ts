import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { IgnoreMatcher, cleanPath, parseDockerignore } from "./ignore.js";

describe(".dockerignore parsing", () => {
  it("drops comments and blank lines, trims, cleans and strips a leading slash", () => {
    assert.deepEqual(parseDockerignore("\uFEFF# comment\n\n  *.log  \n/abs/path\n./rel/../x/\n! /keep\n#!not-exception\n"), ["*.log", "abs/path", "x", "!keep"]);
  });

  it("keeps a lone slash and cleans like filepath.Clean", () => {
    assert.equal(cleanPath("a//b/./c/.."), "a/b");
    assert.equal(cleanPath("../a"), "../a");
    assert.equal(cleanPath("/../a"), "/a");
    assert.equal(cleanPath(""), ".");
    assert.deepEqual(parseDockerignore("/\n"), ["/"]);
  });
});

describe(".dockerignore matching (Docker's patternmatcher rules)", () => {
  const m = (patterns: string, path: string): boolean => new IgnoreMatcher(parseDockerignore(patterns)).excluded(path);

  it("matches exact paths and everything below a matched directory", () => {
    assert.equal(m("node_modules", "node_modules"), true);
    assert.equal(m("node_modules", "node_modules/x/y.js"), true);
    assert.equal(m("node_modules", "src/node_modules"), false);
    assert.equal(m("/node_modules", "node_modules/a"), true);
  });

  it("keeps * and ? within one path component", () => {
    assert.equal(m("*.md", "README.md"), true);
    assert.equal(m("*.md", "docs/README.md"), false);
    assert.equal(m("*/*.md", "docs/README.md"), true);
    assert.equal(m("file?.txt", "file1.txt"), true);
    assert.equal(m("file?.txt", "file10.txt"), false);
  });

  it("lets ** span any number of directories, including none", () => {
    assert.equal(m("**/*.md", "README.md"), true);
    assert.equal(m("**/*.md", "a/b/c/README.md"), true);
    assert.equal(m("a/**/z", "a/z"), true);
    assert.equal(m("a/**/z", "a/b/c/z"), true);
    assert.equal(m("a/**", "a/b/c"), true);
    assert.equal(m("**", "anything/at/all"), true);
  });

  it("applies ! exceptions in order, the last match winning", () => {
    const p = "*.md\n!README.md\n";
    assert.equal(m(p, "CHANGES.md"), true);
    assert.equal(m(p, "README.md"), false);
    assert.equal(m("!README.md\n*.md\n", "README.md"), true);
    assert.equal(m("docs\n!docs/keep.txt\n", "docs/keep.txt"), false);
    assert.equal(m("docs\n!docs/keep.txt\n", "docs/other.txt"), true);
  });

  it("supports character classes and escapes, and treats regexp characters literally", () => {
    assert.equal(m("file[0-9].txt", "file7.txt"), true);
    assert.equal(m("file[0-9].txt", "filex.txt"), false);
    assert.equal(m("a+b(c).txt", "a+b(c).txt"), true);
    assert.equal(m("a.txt", "abtxt"), false);
    assert.equal(m("\\*.txt", "*.txt"), true);
    assert.equal(m("\\*.txt", "x.txt"), false);
    assert.equal(m("my-dir/\\-x", "my-dir/-x"), true);
    assert.equal(m("*-tmp", "build-tmp"), true);
  });

  it("reports whether exceptions exist (excluded directories must then be walked)", () => {
    assert.equal(new IgnoreMatcher(["a", "!a/b"]).hasExclusions, true);
    assert.equal(new IgnoreMatcher(["a"]).hasExclusions, false);
    assert.throws(() => new IgnoreMatcher(["!"]), /illegal exclusion pattern/);
  });
});
