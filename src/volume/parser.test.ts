import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isEngineError } from "../util/errors.js";
import { convertTmpfsOptions, parseMountRaw, parseMountSpec, parseVolumesFrom, validMountMode } from "./parser.js";

const throwsInvalid = (fn: () => unknown, message: string) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(isEngineError(e, "invalid"), String(e));
    assert.equal((e as Error).message, message);
    return true;
  });

describe("Docker's -v parser (HostConfig.Binds)", () => {
  it("reads a named volume with Docker's defaults", () => {
    const mp = parseMountRaw("data:/srv/data");
    assert.equal(mp.Type, "volume");
    assert.equal(mp.Name, "data");
    assert.equal(mp.Destination, "/srv/data");
    assert.equal(mp.RW, true);
    assert.equal(mp.CopyData, true);
    assert.equal(mp.Mode, "");
    assert.equal(mp.Spec.Source, "data");
  });

  it("reads an absolute source as a bind, with rprivate propagation by default", () => {
    const mp = parseMountRaw("/host/dir/:/data/:ro,z");
    assert.equal(mp.Type, "bind");
    assert.equal(mp.Source, "/host/dir");
    assert.equal(mp.Destination, "/data");
    assert.equal(mp.RW, false);
    assert.equal(mp.Mode, "ro,z");
    assert.equal(mp.Propagation, "rprivate");
    assert.equal(parseMountRaw("/h:/d:rslave").Propagation, "rslave");
  });

  it("reads a lone path as an anonymous volume", () => {
    const mp = parseMountRaw("/data");
    assert.equal(mp.Type, "volume");
    assert.equal(mp.Name, "");
    assert.equal(mp.Spec.Source, undefined);
  });

  it("treats a relative source as a volume name and nocopy as no copy-up", () => {
    const mp = parseMountRaw("rel/path:/d:nocopy");
    assert.equal(mp.Type, "volume");
    assert.equal(mp.Name, "rel/path");
    assert.equal(mp.CopyData, false);
  });

  it("refuses malformed specs with Docker's wording", () => {
    throwsInvalid(() => parseMountRaw("/foo:rw"), "invalid volume specification: '/foo:rw'");
    throwsInvalid(() => parseMountRaw(":/x"), "invalid volume specification: ':/x'");
    throwsInvalid(() => parseMountRaw("a:/b:ro:x"), "invalid volume specification: 'a:/b:ro:x'");
    throwsInvalid(() => parseMountRaw("/a:/b:rw,ro"), "invalid mode: rw,ro");
    throwsInvalid(() => parseMountRaw("/a:/b:bogus"), "invalid mode: bogus");
    throwsInvalid(() => parseMountRaw("/a:relative"), "invalid volume specification: '/a:relative': invalid mount config for type \"bind\": invalid mount path: 'relative' mount path must be absolute");
    throwsInvalid(() => parseMountRaw("/a:/"), "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'");
    throwsInvalid(() => parseMountRaw("vol:/d:rslave"), "invalid volume specification: 'vol:/d:rslave': invalid mount config for type \"volume\": field BindOptions must not be specified");
    throwsInvalid(() => parseMountRaw("/h:/d:nocopy"), "invalid volume specification: '/h:/d:nocopy': invalid mount config for type \"bind\": field VolumeOptions must not be specified");
  });

  it("knows the valid mode combinations", () => {
    assert.ok(validMountMode("ro,Z,rshared,nocopy,cached"));
    assert.ok(!validMountMode("z,Z"));
    assert.ok(!validMountMode("private,rslave"));
  });
});

describe("Docker's --mount parser (HostConfig.Mounts)", () => {
  const none = () => false;

  it("refuses a missing bind source unless CreateMountpoint", () => {
    throwsInvalid(() => parseMountSpec({ Type: "bind", Source: "/x", Target: "/y" }, none), 'invalid mount config for type "bind": bind source path does not exist: /x');
    const mp = parseMountSpec({ Type: "bind", Source: "/x", Target: "/y", BindOptions: { CreateMountpoint: true } }, none);
    assert.equal(mp.Source, "/x");
  });

  it("checks fields per type with Docker's wording", () => {
    throwsInvalid(() => parseMountSpec({ Type: "volume", Target: "/d", ReadOnly: true }), 'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes');
    throwsInvalid(() => parseMountSpec({ Type: "tmpfs", Source: "x", Target: "/t" }), 'invalid mount config for type "tmpfs": field Source must not be specified');
    throwsInvalid(() => parseMountSpec({ Type: "bogus", Target: "/t" }), 'invalid mount config for type "bogus": mount type unknown');
    throwsInvalid(() => parseMountSpec({ Type: "volume", Source: "v" }), 'invalid mount config for type "volume": field Target must not be empty');
    throwsInvalid(() => parseMountSpec({ Type: "bind", Source: "/", Target: "/t", BindOptions: { Propagation: "weird" } }, () => true), 'invalid mount config for type "bind": invalid propagation mode: weird');
    throwsInvalid(() => parseMountSpec({ Type: "volume", Source: "v", Target: "/t", VolumeOptions: { Subpath: "../up" } }), 'invalid mount config for type "volume": subpath must be a relative path within the volume');
  });

  it("keeps volume options: no copy, driver", () => {
    const mp = parseMountSpec({ Type: "volume", Source: "v", Target: "/d/", VolumeOptions: { NoCopy: true, DriverConfig: { Name: "local" } } });
    assert.equal(mp.Destination, "/d");
    assert.equal(mp.CopyData, false);
    assert.equal(mp.Driver, "local");
  });

  it("converts tmpfs options like Docker (size suffix, octal mode)", () => {
    assert.equal(convertTmpfsOptions({ SizeBytes: 1048576, Mode: 0o1770 }, false), "mode=1770,size=1m");
    assert.equal(convertTmpfsOptions({ SizeBytes: 3072 }, true), "ro,size=3k");
    assert.equal(convertTmpfsOptions({ SizeBytes: 1536 }, false), "size=1536");
    assert.equal(convertTmpfsOptions({ SizeBytes: 1000, Options: [["exec"]] }, false), "size=1000,exec");
    assert.throws(() => convertTmpfsOptions({ Options: [["suid"]] }, false), /invalid option: suid/);
  });
});

describe("--volumes-from", () => {
  it("reads the container and the mode", () => {
    assert.deepEqual(parseVolumesFrom("data"), { id: "data", mode: "rw" });
    assert.deepEqual(parseVolumesFrom("data:ro"), { id: "data", mode: "ro" });
  });

  it("refuses propagation and copy modes", () => {
    throwsInvalid(() => parseVolumesFrom("data:rslave"), "invalid mode: rslave");
    throwsInvalid(() => parseVolumesFrom("data:nocopy"), "invalid mode: nocopy");
    throwsInvalid(() => parseVolumesFrom(""), "volumes-from specification cannot be an empty string");
  });
});
