import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, promises as fs } from "node:fs";
import path from "node:path";
import { isEngineError } from "../util/errors.js";
import { LocalDriver, validateOptions } from "./local.js";
import { isMountPoint, parseMountinfo } from "./mountinfo.js";

describe("the local volume driver", () => {
  let base: string;
  let root: string;
  before(() => {
    base = mkdtempSync("/tmp/vlocal-");
    root = path.join(base, "volumes");
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it("creates a volume as <root>/<name>/_data with its metadata, and finds it again after a restart", async () => {
    const d = new LocalDriver(root);
    await d.init();
    const { volume, created } = await d.create("data1", null, { a: "b" });
    assert.equal(created, true);
    assert.equal(volume.Driver, "local");
    assert.match(volume.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(existsSync(path.join(root, "data1", "_data")));
    const again = await d.create("data1", { type: "tmpfs", device: "tmpfs" }, null);
    assert.equal(again.created, false, "an existing volume is returned as it is");
    assert.deepEqual(again.volume.Labels, { a: "b" });

    const d2 = new LocalDriver(root);
    await d2.init();
    assert.deepEqual(d2.get("data1"), volume);
  });

  it("removes what an interrupted create left, and adopts data without metadata", async () => {
    await fs.mkdir(path.join(root, "half", "_data"), { recursive: true });
    await fs.mkdir(path.join(root, "orphan", "_data"), { recursive: true });
    await fs.writeFile(path.join(root, "orphan", "_data", "keep"), "x");
    const d = new LocalDriver(root);
    await d.init();
    assert.equal(existsSync(path.join(root, "half")), false);
    assert.equal(d.get("orphan")?.Name, "orphan");
    assert.equal(await fs.readFile(path.join(root, "orphan", "_data", "keep"), "utf8"), "x");
  });

  it("refuses bad names and options with Docker's wording", async () => {
    const d = new LocalDriver(root);
    await d.init();
    await assert.rejects(d.create("a", null, null), (e: unknown) => isEngineError(e, "invalid") && /^create a: volume name is too short, names should be at least two alphanumeric characters$/.test((e as Error).message));
    await assert.rejects(d.create("../x", null, null), /includes invalid characters/);
    await assert.rejects(d.create("opts", { foo: "1" }, null), /^Error: create opts: invalid option: "foo"$|create opts: invalid option: "foo"/);
    assert.throws(() => validateOptions({ type: "tmpfs" }), /missing required option: "device"/);
    assert.throws(() => validateOptions({ o: "bind", device: "/x" }), /missing required option: "type"/);
    assert.throws(() => validateOptions({ size: "10m" }), /quota size requested but no quota support/);
    validateOptions({ type: "tmpfs", device: "tmpfs", o: "size=1m" });
  });

  it("mounts a tmpfs volume on demand and detaches it before deleting the volume", async () => {
    const d = new LocalDriver(root);
    await d.init();
    await d.create("tmp1", { type: "tmpfs", device: "tmpfs", o: "size=1m" }, null);
    const data = d.dataPath("tmp1");
    await d.mount("tmp1");
    assert.ok(await isMountPoint(data));
    await d.mount("tmp1"); // already mounted: nothing more
    await fs.writeFile(path.join(data, "f"), "x");
    await d.remove("tmp1");
    assert.equal(await isMountPoint(data), false);
    assert.equal(existsSync(path.join(root, "tmp1")), false);
    assert.equal(d.get("tmp1"), undefined);
  });

  it("never deletes through a bind-mounted device directory", async () => {
    const hostDir = path.join(base, "precious");
    await fs.mkdir(hostDir);
    await fs.writeFile(path.join(hostDir, "keep"), "x");
    const d = new LocalDriver(root);
    await d.init();
    await d.create("bind1", { type: "none", o: "bind", device: hostDir }, null);
    await d.mount("bind1");
    assert.equal(await fs.readFile(path.join(d.dataPath("bind1"), "keep"), "utf8"), "x");
    await d.remove("bind1");
    assert.equal(await fs.readFile(path.join(hostDir, "keep"), "utf8"), "x");
  });

  it("reads escaped mount points from mountinfo", () => {
    const mi = "36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 - ext3 /dev/root rw\n";
    assert.deepEqual(parseMountinfo(mi), ["/mnt with space"]);
  });
});
