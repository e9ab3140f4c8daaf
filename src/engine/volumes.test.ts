import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, promises as fs } from "node:fs";
import path from "node:path";
import { isEngineError } from "../util/errors.js";
import { makeLogger } from "../util/log.js";
import { Events } from "./events.js";
import { type ContainerRecord, ZERO_TIME } from "./types.js";
import { VolumeService } from "./volumes.js";

let n = 0;
function record(hc: ContainerRecord["HostConfig"], volumes: Record<string, object> | null = null): ContainerRecord {
  const id = `${String(++n).padStart(4, "0")}${"c".repeat(60)}`;
  return {
    Id: id,
    Created: new Date().toISOString(),
    Path: "true",
    Args: [],
    State: { Status: "created", Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: "", StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME },
    Image: "sha256:x",
    Name: `/c${n}`,
    RestartCount: 0,
    Driver: "overlay2",
    Platform: "linux",
    LogPath: "",
    HostnamePath: "/h/hostname",
    HostsPath: "/h/hosts",
    ResolvConfPath: "/h/resolv.conf",
    Config: { Hostname: "", Domainname: "", User: "", AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false, OpenStdin: false, StdinOnce: false, Env: [], Cmd: null, Image: "busybox", Volumes: volumes, WorkingDir: "", Entrypoint: null, OnBuild: null, Labels: {} },
    HostConfig: hc,
  };
}

describe("the volumes backend (ContainerStorage and /volumes)", () => {
  let base: string;
  let vs: VolumeService;
  const recs = new Map<string, ContainerRecord>();
  const events = new Events();
  const create = async (rec: ContainerRecord) => {
    await vs.storage.onCreate(rec);
    recs.set(rec.Id, rec);
    return rec;
  };
  const remove = async (rec: ContainerRecord, v: boolean) => {
    await vs.storage.onRemove(rec, v);
    recs.delete(rec.Id);
  };

  before(async () => {
    base = mkdtempSync("/tmp/vsvc-");
    vs = new VolumeService({
      root: path.join(base, "volumes"),
      stageRoot: path.join(base, "stage"),
      events,
      log: makeLogger("error"),
      containers: { all: () => [...recs.values()], find: (x) => recs.get(x) ?? [...recs.values()].find((r) => r.Name === `/${x}`) },
    });
    await vs.init();
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it("records binds, named, anonymous and tmpfs mount points with Docker's inspect shape", async () => {
    const host = path.join(base, "hostdir");
    await fs.mkdir(host);
    const rec = await create(
      record(
        {
          Binds: ["named1:/named", `${host}:/bind:ro`],
          Mounts: [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1 << 20 } }],
        },
        { "/anon": {}, "/named": {} },
      ),
    );
    const mounts = vs.storage.inspectMounts(rec) as Record<string, unknown>[];
    assert.equal(mounts.length, 4, "the image VOLUME /named is covered by the named volume");
    const anon = mounts.find((m) => m["Destination"] === "/anon") as Record<string, unknown>;
    assert.match(anon["Name"] as string, /^[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(anon), ["Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation"]);
    assert.equal(anon["Mode"], "");
    assert.deepEqual(vs.inspect(anon["Name"] as string).Labels, { "com.docker.volume.anonymous": "" });
    assert.deepEqual(mounts.find((m) => m["Destination"] === "/named"), {
      Type: "volume", Name: "named1", Source: path.join(base, "volumes", "named1", "_data"), Destination: "/named", Driver: "local", Mode: "z", RW: true, Propagation: "",
    });
    // The host directory lies within the data root: as dockerd, the bind becomes rslave so the container holds no private copy of the engine's mounts.
    assert.deepEqual(mounts.find((m) => m["Destination"] === "/bind"), { Type: "bind", Source: host, Destination: "/bind", Mode: "ro", RW: false, Propagation: "rslave" });
    assert.deepEqual(mounts.find((m) => m["Destination"] === "/t"), { Type: "tmpfs", Source: "", Destination: "/t", Mode: "", RW: true, Propagation: "" });
    await remove(rec, true);
    assert.throws(() => vs.inspect(anon["Name"] as string), /no such volume/, "rm -v removed the anonymous volume");
    assert.equal(vs.inspect("named1").Name, "named1", "named volumes stay");
  });

  it("builds the OCI mounts at start, copying image content into a new volume once", async () => {
    const rootfs = path.join(base, "rootfs");
    await fs.mkdir(path.join(rootfs, "etc", "app"), { recursive: true });
    await fs.writeFile(path.join(rootfs, "etc", "app", "conf"), "image-content");
    await fs.symlink("/etc", path.join(rootfs, "etclink"));
    const rec = await create(record({ Binds: ["cfg:/etclink/app", "/tmp:/mnt/tmp:rslave"], Mounts: [{ Type: "tmpfs", Target: "/run/x", TmpfsOptions: { Mode: 0o1777 } }] }));
    const oci = await vs.storage.mounts(rec, rootfs);
    assert.deepEqual(oci.map((m) => m.destination), ["/etclink/app", "/mnt/tmp", "/run/x"]);
    assert.deepEqual(oci[0]?.options, ["rbind", "rprivate"]);
    assert.deepEqual(oci[1]?.options, ["rbind", "rslave"]);
    assert.deepEqual(oci[2], { destination: "/run/x", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "rprivate", "mode=1777"] });
    const data = path.join(base, "volumes", "cfg", "_data");
    assert.equal(await fs.readFile(path.join(data, "conf"), "utf8"), "image-content");
    assert.ok(existsSync(path.join(rootfs, "mnt", "tmp")), "bind targets are created inside the root");
    assert.equal(existsSync(path.join(rootfs, "run", "x")), false, "tmpfs targets are left to the runtime (an existing directory would give the tmpfs its mode)");
    assert.equal(rec.MountPoints?.[0]?.CopyData, false, "copy-up happens on first use only");
    await fs.rm(path.join(data, "conf"));
    await vs.storage.mounts(rec, rootfs);
    assert.equal(existsSync(path.join(data, "conf")), false);
    await remove(rec, false);
  });

  it("mounts a volume subpath from what was resolved inside the volume, even when its parent is swapped for a symlink afterwards", async () => {
    const rootfs = path.join(base, "rootfs-sub");
    await fs.mkdir(rootfs);
    const outside = path.join(base, "outside-sub");
    await fs.mkdir(path.join(outside, "sub"), { recursive: true });
    await fs.writeFile(path.join(outside, "sub", "f"), "host");
    const subMount = (sub: string) => ({ Type: "volume" as const, Source: "subvol", Target: "/s", VolumeOptions: { Subpath: sub } });
    const rec = await create(record({ Mounts: [subMount("a/sub")] }));
    const data = path.join(base, "volumes", "subvol", "_data");
    await fs.mkdir(path.join(data, "a", "sub"), { recursive: true });
    await fs.writeFile(path.join(data, "a", "sub", "f"), "volume");
    const [m] = await vs.storage.mounts(rec, rootfs);
    const stage = m?.source ?? "";
    assert.equal(path.dirname(stage), path.join(base, "stage"), "the runtime mounts our stage, not a path inside the volume");
    // A container sharing the volume swaps a for a symlink to a host directory before the runtime mounts.
    await fs.rename(path.join(data, "a"), path.join(data, "a.moved"));
    await fs.symlink(outside, path.join(data, "a"));
    assert.equal(await fs.readFile(path.join(stage, "f"), "utf8"), "volume");
    await vs.storage.afterCreate(rec);
    assert.equal(existsSync(stage), false, "the stage is unmounted and removed once the container is created");
    await fs.writeFile(path.join(data, "a.moved", "sub", "f"), "volume");

    // Resolved as inside the volume: an absolute symlink stays in it; a missing subpath is Docker's error.
    const rec2 = await create(record({ Mounts: [subMount("a/sub")] }));
    await assert.rejects(vs.storage.mounts(rec2, rootfs), (e: unknown) => isEngineError(e, "invalid") && /^cannot access path .*\/_data\/.*: no such file or directory$/.test((e as Error).message));
    await fs.rm(path.join(data, "a"));
    await fs.symlink("/a.moved", path.join(data, "a"));
    const [m2] = await vs.storage.mounts(rec2, rootfs);
    assert.equal(await fs.readFile(path.join(m2?.source ?? "", "f"), "utf8"), "volume");
    await vs.storage.afterCreate(rec2);
    assert.deepEqual(await fs.readdir(path.join(base, "stage")), []);
    await remove(rec, false);
    await remove(rec2, false);
  });

  it("unmounts and removes subpath stages a crash left behind when it starts, never their content", async () => {
    const stageRoot = path.join(base, "stage");
    const content = path.join(base, "stage-content");
    await fs.mkdir(content);
    await fs.writeFile(path.join(content, "keep"), "volume data");
    const left = path.join(stageRoot, `${"f".repeat(64)}-0`);
    await fs.mkdir(left);
    execFileSync("mount", ["--bind", content, left]);
    const again = new VolumeService({ root: path.join(base, "volumes"), stageRoot, events, log: makeLogger("error"), containers: { all: () => [], find: () => undefined } });
    await again.init();
    assert.deepEqual(await fs.readdir(stageRoot), []);
    assert.equal(await fs.readFile(path.join(content, "keep"), "utf8"), "volume data");
  });

  it("mounts the container's /etc files again over a volume covering /etc", async () => {
    const rootfs = path.join(base, "rootfs2");
    await fs.mkdir(rootfs);
    const rec = await create(record({ Binds: ["etcvol:/etc"] }));
    const oci = await vs.storage.mounts(rec, rootfs);
    assert.deepEqual(oci.map((m) => m.destination), ["/etc", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]);
    await remove(rec, false);
  });

  it("refuses what Docker refuses at create", async () => {
    const bad = async (hc: ContainerRecord["HostConfig"], msg: string | RegExp) =>
      assert.rejects(vs.storage.onCreate(record(hc)), (e: unknown) => isEngineError(e, "invalid") && (typeof msg === "string" ? (e as Error).message === msg : msg.test((e as Error).message)));
    await bad({ Mounts: [{ Type: "bind", Source: "/does/not/exist", Target: "/x" }] }, 'invalid mount config for type "bind": bind source path does not exist: /does/not/exist');
    await bad({ Binds: ["v1:/x", "v2:/x"] }, "Duplicate mount point: /x");
    await bad({ Mounts: [{ Type: "bind", Source: base, Target: "/p", BindOptions: { Propagation: "rprivate" } }] }, /^invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root/);
    await bad({ Binds: ["v1:/x"], Tmpfs: { "/x": "" } }, "Duplicate mount point: /x");
    await bad({ Binds: ["rel/dir:/x"] }, /^create rel\/dir: "rel\/dir" includes invalid characters for a local volume name/);
    await bad({ VolumesFrom: ["nosuch"] }, "No such container: nosuch");
    assert.equal(vs.list({}).Volumes.some((v) => v.Name === "v1"), false, "nothing was created by a refused create");
  });

  it("answers 409 for a volume in use, and shares volumes with --volumes-from", async () => {
    const src = await create(record({ Binds: ["shared:/s"] }, { "/anon": {} }));
    const ro = await create(record({ VolumesFrom: [`${src.Name.slice(1)}:ro`] }));
    assert.deepEqual(
      (ro.MountPoints ?? []).map((m) => [m.Destination, m.RW, m.Mode]).sort(),
      [["/anon", false, ""], ["/s", false, ""]],
    );
    await assert.rejects(vs.remove("shared"), (e: unknown) => isEngineError(e, "conflict") && (e as Error).message === `remove shared: volume is in use - [${src.Id}, ${ro.Id}]`);
    const anon = src.MountPoints?.find((m) => m.Destination === "/anon")?.Name as string;
    await remove(src, true);
    assert.equal(vs.inspect(anon).Name, anon, "kept while another container uses it");
    assert.deepEqual(vs.list({ dangling: ["true"] }).Volumes.map((v) => v.Name).includes("shared"), false);
    await remove(ro, true);
    assert.throws(() => vs.inspect(anon), /no such volume/);
    await vs.remove("shared");
  });

  it("prunes only unused anonymous volumes unless all=true", async () => {
    await vs.create({ Name: "keepme", Labels: { k: "v" } });
    const anon = await vs.create({});
    const used = await create(record({}, { "/data": {} }));
    const r1 = await vs.prune({});
    assert.deepEqual(r1.VolumesDeleted, [anon.Name]);
    const r2 = await vs.prune({ all: ["true"], "label!": ["k=v"] });
    assert.equal(r2.VolumesDeleted.includes("keepme"), false);
    await vs.prune({ all: ["true"], label: ["k"] });
    assert.throws(() => vs.inspect("keepme"), /no such volume/);
    assert.equal(vs.list({ dangling: ["false"] }).Volumes.length, 1, "the used anonymous volume survived");
    assert.throws(() => vs.list({ bogus: ["1"] }), /Invalid filter 'bogus'/);
    assert.throws(() => vs.list({ dangling: ["maybe"] }), /Invalid filter 'dangling=\[maybe\]'/);
    await remove(used, true);
  });
});
