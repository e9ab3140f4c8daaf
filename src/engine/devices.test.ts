import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type OciSpec, INIT_PATH, containerSpecOf, specHost } from "../runtime/index.js";
import { devicesFromPath, findInitBinary, isStaticElf, resolveHost } from "./devices.js";
import type { HostConfig } from "./types.js";

/** The spec of a container with this HostConfig, its host devices and init binary looked up as at start. */
async function specOf(hc: HostConfig): Promise<OciSpec> {
  const user = { uid: 0, gid: 0, home: "/root" };
  return containerSpecOf({
    id: "c".repeat(64), args: ["sh"], config: { Hostname: "h", Env: [], WorkingDir: "", Tty: false }, hostConfig: hc,
    rootfs: "/nonexistent", user, etcFiles: {}, resolved: await resolveHost(hc), host: specHost(),
  });
}

describe("host devices and the init binary", () => {
  it("stats a host device node for its type, major and minor, under the container path", async () => {
    const [d] = await devicesFromPath("/dev/null", "/dev/mynull", "rw");
    assert.deepEqual(d?.device && { ...d.device, fileMode: undefined, uid: undefined, gid: undefined }, {
      path: "/dev/mynull", type: "c", major: 1, minor: 3, fileMode: undefined, uid: undefined, gid: undefined,
    });
    assert.deepEqual(d?.rule, { allow: true, type: "c", major: 1, minor: 3, access: "rw" });
    await assert.rejects(devicesFromPath("/dev/does-not-exist", "/dev/x", "rwm"), {
      message: 'error gathering device information while adding custom device "/dev/does-not-exist": no such file or directory',
    });
    await assert.rejects(devicesFromPath("/etc/hostname", "/x", "rwm"), /not a device node/);
  });

  it("puts the deny-all rule before the device's allow rule and creates the node", async () => {
    const s = await specOf({ Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/n2", CgroupPermissions: "rwm" }], DeviceCgroupRules: ["c 10:229 rw"] });
    assert.deepEqual(s.linux.resources?.["devices"], [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 10, minor: 229, access: "rw" },
    ]);
    assert.equal(s.linux.devices?.[0]?.path, "/dev/n2");
  });

  it("gives a privileged container every host device and allows them all", async () => {
    const s = await specOf({ Privileged: true, Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/null2", CgroupPermissions: "r" }] });
    assert.deepEqual(s.linux.resources?.["devices"], [{ allow: true, access: "rwm" }]);
    const paths = (s.linux.devices ?? []).map((d) => d.path);
    assert.ok(paths.includes("/dev/null") && paths.includes("/dev/null2"), paths.join(" "));
    assert.ok(!paths.includes("/dev/console") && !paths.some((p) => p.startsWith("/dev/pts/")));
  });

  it("recognizes static ELF binaries and runs the init as PID 1 with --init", async () => {
    assert.equal(isStaticElf(readFileSync(process.execPath).subarray(0, 4096)), false); // node is dynamically linked
    assert.equal(isStaticElf(Buffer.from("#!/bin/sh\n")), false);
    let init: string | undefined;
    try {
      init = await findInitBinary();
    } catch {
      init = undefined;
    }
    if (init === undefined) return; // no tini on this host
    assert.equal(isStaticElf(readFileSync(init).subarray(0, 4096)), true);
    const s = await specOf({ Init: true });
    assert.deepEqual(s.process.args, [INIT_PATH, "--", "sh"]);
    assert.deepEqual(s.mounts.find((m) => m.destination === INIT_PATH), { destination: INIT_PATH, type: "bind", source: init, options: ["rbind", "ro", "rprivate"] });
  });

  it("maps per-device blkio throttles to the device's major and minor", async () => {
    const s = await specOf({ BlkioDeviceReadBps: [{ Path: "/dev/null", Rate: 1048576 }], BlkioDeviceWriteIOps: [{ Path: "/dev/zero", Rate: 100 }] });
    assert.deepEqual(s.linux.resources?.["blockIO"], {
      throttleReadBpsDevice: [{ major: 1, minor: 3, rate: 1048576 }],
      throttleWriteIOPSDevice: [{ major: 1, minor: 5, rate: 100 }],
    });
    await assert.rejects(resolveHost({ BlkioDeviceReadBps: [{ Path: "/dev/nope", Rate: 1 }] }), { message: "stat /dev/nope: no such file or directory" });
  });

  it("looks nothing up and asks nothing more of the runtime for an empty HostConfig", async () => {
    assert.deepEqual(await resolveHost({}), {});
    const s = await specOf({});
    assert.deepEqual(s.linux.resources, { devices: [{ allow: false, access: "rwm" }] });
    assert.equal(s.linux.devices, undefined);
  });
});
