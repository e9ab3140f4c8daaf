/**
 * Volumes and mounts with the real docker CLI: named and anonymous volumes, copy-up
 * of image content, binds (ro/rw, created host dirs), --mount bind/volume/tmpfs,
 * --volumes-from, the local driver's tmpfs and bind options, volume ls/inspect/rm/
 * prune, Docker's errors, and nothing left mounted once everything is removed.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";
import { busyboxTarFile, leftovers, withDaemon } from "./harness.js";

describe("docker CLI against berthd: volumes and mounts", () => {
  const d = withDaemon();
  let hostDir: string;
  before(async () => {
    hostDir = path.join(d.dir, "host");
    await fs.mkdir(hostDir);
  });

  const ok = async (args: string[]) => {
    const r = await d.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const api = (method: string, p: string, body?: unknown) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: d.sock, path: `/v1.47${p}`, method, headers: body === undefined ? {} : { "Content-Type": "application/json" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const volumes = async () => (await ok(["volume", "ls", "-q"])).split("\n").filter(Boolean);

  it("keeps data written to a named volume after the container is removed, for the next container", async () => {
    await ok(["run", "--name", "writer", "-v", "keep:/data", "busybox", "sh", "-c", "echo persisted > /data/f"]);
    await ok(["rm", "writer"]);
    assert.equal(await ok(["run", "--rm", "-v", "keep:/other", "busybox", "cat", "/other/f"]), "persisted\n");
    const ins = JSON.parse(await ok(["volume", "inspect", "keep"])) as Record<string, unknown>[];
    assert.deepEqual(Object.keys(ins[0] ?? {}).sort(), ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]);
    assert.equal(ins[0]?.["Mountpoint"], path.join(d.dataRoot, "volumes", "keep", "_data"));
    assert.equal(ins[0]?.["Scope"], "local");
    await ok(["volume", "rm", "keep"]);
  });

  it("fills a new volume with the image's content at the mount path (symlinks kept as links)", async () => {
    const ls = await ok(["run", "--rm", "-v", "binvol:/bin", "busybox", "sh", "-c", "readlink /bin/sh; ls /bin | wc -l"]);
    const [link, count] = ls.trim().split("\n");
    assert.equal(link, "/bin/busybox");
    assert.ok(Number(count) > 20, `the volume holds busybox's applets (${count})`);
    const st = await fs.lstat(path.join(d.dataRoot, "volumes", "binvol", "_data", "sh"));
    assert.ok(st.isSymbolicLink());
    // Not copied again once the volume has content, and not at all with volume-nocopy.
    assert.equal(await ok(["run", "--rm", "--mount", "type=volume,src=emptyetc,dst=/etc,volume-nocopy", "busybox", "sh", "-c", "ls /etc | grep -c passwd || true"]), "0\n");
    await ok(["volume", "rm", "binvol", "emptyetc"]);
  });

  it("mounts host directories read-only or read-write, creating a missing one for -v", async () => {
    await fs.writeFile(path.join(hostDir, "in"), "from-host");
    const ro = await d.docker(["run", "--rm", "-v", `${hostDir}:/data:ro`, "busybox", "sh", "-c", "cat /data/in; touch /data/x"]);
    assert.equal(ro.code, 1); // reference: dockerd 20.10
    assert.equal(ro.stdout, "from-host");
    assert.match(ro.stderr, /Read-only file system/);
    await ok(["run", "--rm", "-v", `${hostDir}:/data`, "busybox", "sh", "-c", "echo from-container > /data/out"]);
    assert.equal(await fs.readFile(path.join(hostDir, "out"), "utf8"), "from-container\n");
    const missing = path.join(hostDir, "made", "by", "run");
    await ok(["run", "--rm", "-v", `${missing}:/m`, "busybox", "true"]);
    assert.ok((await fs.stat(missing)).isDirectory());
    assert.equal(await ok(["run", "--rm", "--mount", `type=bind,src=${path.join(hostDir, "in")},dst=/etc/in.conf,readonly`, "busybox", "cat", "/etc/in.conf"]), "from-host");
  });

  it("refuses --mount type=bind with a missing source, and other invalid specs, with Docker's messages", async () => {
    const r = await d.docker(["run", "--rm", "--mount", "type=bind,source=/nonexistent/x,target=/x", "busybox", "true"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /invalid mount config for type "bind": bind source path does not exist: \/nonexistent\/x/); // reference: dockerd 20.10
    const name = await d.docker(["run", "--rm", "-v", "rel/dir:/x", "busybox", "true"]);
    assert.match(name.stderr, /create rel\/dir: "rel\/dir" includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed\. If you intended to pass a host directory, use absolute path$/m); // reference: dockerd 20.10
    const prop = await d.docker(["run", "--rm", "-v", "vol:/x:rslave", "busybox", "true"]);
    assert.match(prop.stderr, /invalid volume specification: 'vol:\/x:rslave': invalid mount config for type "volume": field BindOptions must not be specified/); // reference: dockerd 20.10
    const create = await d.docker(["volume", "create", "-o", "type=tmpfs", "half"]);
    assert.match(create.stderr, /create half: missing required option: "device"/); // reference: dockerd 20.10
    assert.deepEqual(await volumes(), []);
  });

  it("mounts a tmpfs of the asked size with --mount type=tmpfs", async () => {
    const out = await ok(["run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts; stat -c %a /t"]);
    assert.match(out, /^tmpfs \/t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770 /m); // reference: dockerd 20.10
    assert.match(out, /^1770$/m);
  });

  it("removes an anonymous volume with rm -v and with --rm, and keeps it otherwise", async () => {
    await ok(["run", "--name", "anon1", "-v", "/data", "busybox", "true"]);
    const name = (await ok(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon1"])).trim();
    assert.match(name, /^[0-9a-f]{64}$/);
    const labels = (await ok(["volume", "inspect", "-f", "{{json .Labels}}", name])).trim();
    assert.equal(labels, '{"com.docker.volume.anonymous":""}');
    await ok(["rm", "anon1"]);
    assert.deepEqual(await volumes(), [name], "plain rm keeps it");
    await ok(["volume", "rm", name]);
    await ok(["run", "--name", "anon2", "-v", "/data", "busybox", "true"]);
    await ok(["rm", "-v", "anon2"]);
    await ok(["run", "--rm", "-v", "/data", "busybox", "true"]);
    assert.deepEqual(await volumes(), []);
  });

  it("creates anonymous volumes for the image's VOLUMEs, filled from the image", async () => {
    await ok(["import", "--change", "VOLUME /etc", await busyboxTarFile(), "bbvol:latest"]);
    assert.match(await ok(["run", "--name", "imgvol", "bbvol", "cat", "/etc/passwd"]), /^root:x:0:0:/);
    const mounts = JSON.parse(await ok(["inspect", "-f", "{{json .Mounts}}", "imgvol"])) as Record<string, unknown>[];
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0]?.["Destination"], "/etc");
    assert.equal(mounts[0]?.["RW"], true);
    await ok(["rm", "-v", "imgvol"]);
    await ok(["rmi", "bbvol"]);
    assert.deepEqual(await volumes(), []);
  });

  it("reports Mounts in inspect and ps like Docker", async () => {
    await ok(["create", "--name", "shown", "-v", "named:/n:ro", "-v", `${hostDir}:/h`, "--mount", "type=tmpfs,dst=/tm", "busybox", "true"]);
    const mounts = JSON.parse(await ok(["inspect", "-f", "{{json .Mounts}}", "shown"])) as Record<string, unknown>[];
    assert.deepEqual(mounts, [
      { Type: "bind", Source: hostDir, Destination: "/h", Mode: "", RW: true, Propagation: "rprivate" },
      { Type: "volume", Name: "named", Source: path.join(d.dataRoot, "volumes", "named", "_data"), Destination: "/n", Driver: "local", Mode: "ro", RW: false, Propagation: "" },
      { Type: "tmpfs", Source: "", Destination: "/tm", Mode: "", RW: true, Propagation: "" },
    ]);
    assert.match(await ok(["ps", "-a", "--filter", "name=shown", "--format", "{{.Mounts}}"]), /named/);
    await ok(["rm", "shown"]);
    await ok(["volume", "rm", "named"]);
  });

  it("answers 409 when removing a volume a container uses", async () => {
    const id = (await ok(["create", "-v", "busy:/b", "busybox", "true"])).trim();
    const r = await d.docker(["volume", "rm", "busy"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`remove busy: volume is in use - \\[${id}\\]`));
    const raw = await api("DELETE", "/volumes/busy");
    assert.equal(raw.status, 409);
    assert.deepEqual(JSON.parse(raw.body), { message: `remove busy: volume is in use - [${id}]` }); // reference: dockerd 20.10
    const none = await api("GET", "/volumes/nosuch");
    assert.deepEqual([none.status, JSON.parse(none.body)], [404, { message: "get nosuch: no such volume" }]); // reference: dockerd 20.10
    await ok(["rm", id]);
    await ok(["volume", "rm", "busy"]);
  });

  it("shares a container's volumes with --volumes-from, read-only when asked", async () => {
    await ok(["run", "--name", "datasrc", "-v", "/shared", "-v", "nv:/named", "busybox", "sh", "-c", "echo s > /shared/f; echo n > /named/g"]);
    assert.equal(await ok(["run", "--rm", "--volumes-from", "datasrc", "busybox", "sh", "-c", "cat /shared/f /named/g; echo more >> /shared/f"]), "s\nn\n");
    const ro = await d.docker(["run", "--rm", "--volumes-from", "datasrc:ro", "busybox", "sh", "-c", "cat /shared/f; touch /named/x"]);
    assert.equal(ro.stdout, "s\nmore\n");
    assert.match(ro.stderr, /Read-only file system/);
    const missing = await d.docker(["run", "--rm", "--volumes-from", "nosuchctr", "busybox", "true"]);
    assert.match(missing.stderr, /No such container: nosuchctr/); // reference: dockerd 20.10
    await ok(["rm", "-v", "datasrc"]);
    assert.deepEqual(await volumes(), ["nv"], "the anonymous volume went with rm -v, the named one stays");
    await ok(["volume", "rm", "nv"]);
  });

  it("lists with filters, inspects, and prunes anonymous volumes only unless --all", async () => {
    await ok(["volume", "create", "--label", "tier=db", "dbdata"]);
    await ok(["volume", "create", "plain"]);
    const anon = (await ok(["volume", "create"])).trim();
    await ok(["create", "--name", "holder", "-v", "plain:/p", "busybox", "true"]);
    assert.deepEqual((await ok(["volume", "ls", "-q", "--filter", "label=tier=db"])).trim(), "dbdata");
    assert.deepEqual((await ok(["volume", "ls", "-q", "--filter", "name=^dbd"])).trim(), "dbdata", "name filters are regular expressions");
    assert.deepEqual((await ok(["volume", "ls", "-q", "--filter", "dangling=false"])).trim(), "plain");
    assert.deepEqual((await ok(["volume", "ls", "-q", "--filter", "dangling=true"])).trim().split("\n").sort(), [anon, "dbdata"].sort());
    assert.match(await ok(["volume", "ls"]), /^DRIVER\s+VOLUME NAME\nlocal\s+/); // reference: dockerd 20.10
    // reference: dockerd 20.10 serves API 1.41, where prune takes named volumes too (Berth does so on /v1.41 paths);
    // from 1.42 (what the CLI negotiates with Berth) only anonymous ones, and --all needs 1.42.
    const p1 = await ok(["volume", "prune", "-f"]);
    assert.match(p1, new RegExp(`Deleted Volumes:\\n${anon}\\n`));
    assert.deepEqual((await volumes()).sort(), ["dbdata", "plain"]);
    const p2 = await ok(["volume", "prune", "-af"]);
    assert.match(p2, /Deleted Volumes:\ndbdata\n/);
    assert.deepEqual(await volumes(), ["plain"], "the used volume survives prune --all");
    await ok(["rm", "holder"]);
    await ok(["volume", "rm", "plain"]);
  });

  it("mounts a fresh tmpfs for a local volume with -o type=tmpfs while containers use it", async () => {
    await ok(["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m", "tv"]);
    assert.equal((await ok(["volume", "inspect", "-f", "{{json .Options}}", "tv"])).trim(), '{"device":"tmpfs","o":"size=2m","type":"tmpfs"}'); // reference: dockerd 20.10
    const out = await ok(["run", "--rm", "-v", "tv:/t", "busybox", "sh", "-c", "df -k /t | tail -1; echo a > /t/a"]);
    assert.match(out, /^tmpfs\s+2048\s/);
    assert.equal(await ok(["run", "--rm", "-v", "tv:/t", "busybox", "ls", "/t"]), "", "a new tmpfs once the last user ended");
    const data = path.join(d.dataRoot, "volumes", "tv", "_data");
    assert.equal((await leftovers(d)).mounts.includes(data), false, "unmounted when unused");
    await ok(["volume", "rm", "tv"]);
  });

  it("bind-mounts a device path for a local volume with -o type=none -o o=bind", async () => {
    const dev = path.join(hostDir, "device");
    await fs.mkdir(dev);
    await fs.writeFile(path.join(dev, "c"), "content");
    await ok(["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", `device=${dev}`, "bv"]);
    assert.equal(await ok(["run", "--rm", "-v", "bv:/b", "busybox", "sh", "-c", "cat /b/c; echo new > /b/n"]), "content");
    await ok(["volume", "rm", "bv"]);
    assert.deepEqual((await fs.readdir(dev)).sort(), ["c", "n"], "removing the volume never deletes the device's files");
  });

  it("fails a start whose volume device cannot be mounted, and a failed --rm start still takes its anonymous volume", async () => {
    await ok(["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=/nonexistent-device", "baddev"]);
    const r = await d.docker(["run", "--rm", "-v", "baddev:/x", "busybox", "true"]);
    assert.equal(r.code, 125);
    // reference: dockerd 20.10 ends with the errno ("flags: 0x1000: no such file or directory", so the CLI exits 127);
    // Berth mounts with mount(8) and gives util-linux's reason ("special device … does not exist"), exit 125.
    assert.match(r.stderr, /error while mounting volume '.*\/volumes\/baddev\/_data': failed to mount local volume: mount \/nonexistent-device:/);
    await ok(["volume", "rm", "baddev"]);
    const nocmd = await d.docker(["run", "--rm", "-v", "/data", "busybox", "/nonexistent-cmd"]);
    assert.equal(nocmd.code, 127); // reference: dockerd 20.10
    assert.deepEqual(await volumes(), []);
    assert.deepEqual((await leftovers(d)).mounts, []);
  });

  it("takes the anonymous volumes of a create that fails after making them", async () => {
    const before = await volumes();
    // ExtraHosts is checked after the volumes are made (writing /etc/hosts).
    const r = await api("POST", "/containers/create", { Image: "busybox", Cmd: ["true"], Volumes: { "/anon": {} }, HostConfig: { ExtraHosts: ["no-address"] } });
    assert.equal(r.status, 400, r.body);
    assert.deepEqual(JSON.parse(r.body), { message: 'bad format for add-host: "no-address"' }); // reference: dockerd 20.10
    assert.deepEqual(await volumes(), before);
  });

  it("keeps volume references across a daemon crash", async () => {
    const id = (await ok(["create", "-v", "survivor:/s", "busybox", "true"])).trim();
    await d.kill9();
    await d.start();
    const r = await d.docker(["volume", "rm", "survivor"]);
    assert.match(r.stderr, /volume is in use/);
    await ok(["rm", "-v", id]);
    await ok(["volume", "rm", "survivor"]);
  });

  it("leaves no mounts, containers or volumes once everything is removed", async () => {
    assert.equal((await ok(["ps", "-aq"])).trim(), "");
    assert.deepEqual(await volumes(), []);
    assert.equal(existsSync(path.join(d.dataRoot, "volumes")), true);
    assert.deepEqual(await fs.readdir(path.join(d.dataRoot, "volumes")), []);
    const left = await leftovers(d);
    assert.deepEqual(left, { mounts: [], runtime: [], monitors: [] });
  });
});
