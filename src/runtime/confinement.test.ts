import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_CAPABILITIES, confinement, execConfinement, hostCapabilities } from "./confinement.js";

describe("confinement", () => {
  it("gives every spec Docker's capabilities, the default filter and /proc paths unless told otherwise", () => {
    const c = confinement({});
    assert.deepEqual(c.process.capabilities?.effective, DEFAULT_CAPABILITIES);
    assert.equal(c.linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
    assert.ok(c.linux.maskedPaths?.includes("/proc/kcore"));
    assert.ok(c.linux.readonlyPaths?.includes("/proc/sys"));
    assert.equal(c.process.noNewPrivileges, false);
  });

  it("relaxes the default filter for the capabilities given", () => {
    const c = confinement({ capabilities: [...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"] });
    assert.ok(c.linux.seccomp?.syscalls.some((s) => s.names.includes("mount") && s.action === "SCMP_ACT_ALLOW"));
  });

  it("lifts the filter and the /proc paths for privileged, and the filter alone for seccomp=unconfined", () => {
    const p = confinement({ privileged: true, seccomp: { defaultAction: "SCMP_ACT_ERRNO", syscalls: [] } });
    assert.equal(p.linux.seccomp, undefined);
    assert.equal(p.linux.maskedPaths, undefined);
    const u = confinement({ seccomp: "unconfined" });
    assert.equal(u.linux.seccomp, undefined);
    assert.ok(u.linux.maskedPaths?.length);
  });

  it("gives an exec its container's capabilities, no-new-privileges and AppArmor profile; every host capability with --privileged", () => {
    const container = { user: { uid: 0, gid: 0 }, args: ["sh"], env: [], cwd: "/", capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] }, noNewPrivileges: true, apparmorProfile: "p" };
    assert.deepEqual(execConfinement(container, false), { capabilities: container.capabilities, noNewPrivileges: true, apparmorProfile: "p" });
    const priv = execConfinement(container, true);
    assert.deepEqual(priv.capabilities?.effective, hostCapabilities());
    assert.equal(priv.noNewPrivileges, true);
  });
});
