import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_CAPABILITIES } from "./constants.js";
import { confinement, execConfinement } from "./confinement.js";
import { seccompHost } from "../seccomp.js";

const HOST = { capabilities: ["CAP_CHOWN", "CAP_SYS_ADMIN"], apparmor: false, seccomp: seccompHost() };

describe("confinement", () => {
  it("gives every spec Docker's capabilities, the default filter and /proc paths unless told otherwise", () => {
    const c = confinement({}, HOST);
    assert.deepEqual(c.process.capabilities?.effective, DEFAULT_CAPABILITIES);
    assert.equal(c.linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
    assert.ok(c.linux.maskedPaths?.includes("/proc/kcore"));
    assert.ok(c.linux.readonlyPaths?.includes("/proc/sys"));
    assert.equal(c.process.noNewPrivileges, false);
  });

  it("relaxes the default filter for the capabilities given", () => {
    const c = confinement({ capabilities: [...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"] }, HOST);
    assert.ok(c.linux.seccomp?.syscalls.some((s) => s.names.includes("mount") && s.action === "SCMP_ACT_ALLOW"));
  });

  it("lifts the filter and the /proc paths for privileged, and the filter alone for seccomp=unconfined", () => {
    const p = confinement({ privileged: true, seccomp: { defaultAction: "SCMP_ACT_ERRNO", syscalls: [] } }, HOST);
    assert.equal(p.linux.seccomp, undefined);
    assert.equal(p.linux.maskedPaths, undefined);
    assert.deepEqual(p.process.capabilities.effective, HOST.capabilities);
    const u = confinement({ seccomp: "unconfined" }, HOST);
    assert.equal(u.linux.seccomp, undefined);
    assert.ok(u.linux.maskedPaths?.length);
  });

  it("applies an AppArmor profile only where the host enforces AppArmor: the host's default unless asked otherwise", () => {
    assert.equal(confinement({ apparmorProfile: "p" }, HOST).process.apparmorProfile, undefined);
    const aa = { ...HOST, apparmor: true, apparmorDefault: "docker-default" };
    assert.equal(confinement({}, aa).process.apparmorProfile, "docker-default");
    assert.equal(confinement({ apparmorProfile: "p" }, aa).process.apparmorProfile, "p");
    assert.equal(confinement({ apparmorProfile: "unconfined" }, aa).process.apparmorProfile, undefined);
    assert.equal(confinement({ privileged: true }, aa).process.apparmorProfile, undefined);
  });

  it("gives an exec its container's capabilities, no-new-privileges and AppArmor profile; every host capability with --privileged", () => {
    const container = { user: { uid: 0, gid: 0 }, args: ["sh"], env: [], cwd: "/", capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] }, noNewPrivileges: true, apparmorProfile: "p" };
    assert.deepEqual(execConfinement(container, false, HOST), { capabilities: container.capabilities, noNewPrivileges: true, apparmorProfile: "p" });
    const priv = execConfinement(container, true, HOST);
    assert.deepEqual(priv.capabilities?.effective, HOST.capabilities);
    assert.equal(priv.noNewPrivileges, true);
  });
});
