import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BuildArgs } from "./buildargs.js";

describe("build args scoping (Docker's rules)", () => {
  it("lets --build-arg override an ARG default, and a stage see only what it declares", () => {
    const root = new BuildArgs({ NAME: "cli", OTHER: "x" });
    root.addArg("GLOBAL", "g");
    root.addMetaArg("GLOBAL", "g");
    const stage = root.clone();
    stage.resetAllowed();
    assert.deepEqual([...stage.allAllowed()], []);
    stage.addArg("NAME", "default");
    stage.addArg("GLOBAL", undefined);
    assert.deepEqual(Object.fromEntries(stage.allAllowed()), { NAME: "cli", GLOBAL: "g" });
    assert.deepEqual(Object.fromEntries(root.allMeta()), { GLOBAL: "g" });
  });

  it("lets ENV win over an ARG of the same name", () => {
    const a = new BuildArgs({});
    a.addArg("A", "arg");
    a.addArg("B", "arg");
    assert.deepEqual(a.filterAllowed(["A=env"]), ["B=arg"]);
  });

  it("predefines the proxy args without declaring them, and keeps them out of history unless declared", () => {
    const a = new BuildArgs({ HTTP_PROXY: "http://p:1", NO_PROXY: "x" });
    assert.deepEqual(Object.fromEntries(a.allAllowed()), { HTTP_PROXY: "http://p:1", NO_PROXY: "x" });
    assert.equal(a.isReferencedOrNotBuiltin("HTTP_PROXY"), false);
    a.addArg("HTTP_PROXY", undefined);
    assert.equal(a.isReferencedOrNotBuiltin("HTTP_PROXY"), true);
    assert.equal(a.isReferencedOrNotBuiltin("CUSTOM"), true);
  });

  it("reports unused build args (not the predefined ones), including those given without a value", () => {
    const a = new BuildArgs({ USED: "1", UNUSED: "2", NOVALUE: null, HTTPS_PROXY: "p" });
    const s = a.clone();
    s.addArg("USED", undefined);
    a.mergeReferenced(s);
    assert.deepEqual(a.unused(), ["NOVALUE", "UNUSED"]);
  });

  it("ignores a build arg given without a value (null) in favour of the default", () => {
    const a = new BuildArgs({ X: null });
    a.addArg("X", "default");
    assert.equal(a.allAllowed().get("X"), "default");
  });
});
