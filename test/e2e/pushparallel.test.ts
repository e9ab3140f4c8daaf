/**
 * docker push of an image whose layers have no compressed blob yet (built
 * here): the layers are compressed and uploaded at once (up to 5), to the
 * berth registry and to Debian's docker-registry, and pulled back identical.
 * Registries on 127.0.0.1 only.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";
import { type RegistryHandle, startRegistry } from "../../src/registry/index.js";
import { DOCKER, busyboxDaemon, run } from "./harness.js";
import { startDebianRegistry } from "./debregistry.js";

interface Msg {
  id?: string;
  status?: string;
  error?: string;
}

describe("docker push compresses and uploads fresh layers concurrently", () => {
  const d = busyboxDaemon();
  const tmp = mkdtempSync("/tmp/bt-pushpar-");
  let reg: RegistryHandle;
  let deb: Awaited<ReturnType<typeof startDebianRegistry>>;
  const files: Record<string, string> = {};
  const ok = async (args: string[], timeoutMs = 120_000): Promise<string> => {
    const r = await d.docker(args, { timeoutMs });
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };

  before(async () => {
    reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "reg") });
    deb = await startDebianRegistry(path.join(tmp, "deb"));
    // Four layers over busybox: incompressible ones spanning several 1 MiB gzip blocks, a compressible one, a tiny one.
    const ctx = path.join(tmp, "ctx");
    await fs.mkdir(ctx);
    const text = Buffer.from("a compressible line of a layer, repeated many times over\n".repeat(60_000));
    const contents: Record<string, Buffer> = { a: randomBytes(2_500_000), b: text, c: randomBytes(1_300_000), d: Buffer.from("tiny\n") };
    for (const [name, data] of Object.entries(contents)) {
      await fs.writeFile(path.join(ctx, name), data);
      files[name] = createHash("sha256").update(data).digest("hex");
    }
    await fs.writeFile(path.join(ctx, "Dockerfile"), "FROM busybox\nCOPY a /a\nCOPY b /b\nCOPY c /c\nCOPY d /d\n");
    // A second fresh image, for the streamed upload to distribution.
    const extra = randomBytes(1_700_000);
    files.e = createHash("sha256").update(extra).digest("hex");
    await fs.writeFile(path.join(ctx, "e"), extra);
    await fs.writeFile(path.join(ctx, "Dockerfile.e"), "FROM busybox\nCOPY e /e\n");
    for (const [tag, df] of [["pp:src", "Dockerfile"], ["pp:e", "Dockerfile.e"]]) {
      const r = await run(DOCKER, ["build", "-q", "-f", path.join(ctx, df as string), "-t", tag as string, ctx], { env: { ...d.env, DOCKER_BUILDKIT: "0" }, timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await reg?.close();
    deb?.proc.kill("SIGTERM");
    await fs.rm(tmp, { recursive: true, force: true });
  });

  /** POST /images/{name}/push: the JSON messages, in order. */
  const pushApi = async (name: string): Promise<Msg[]> => {
    // What the docker CLI sends without a login: X-Registry-Auth of "{}".
    const a = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: d.sock, method: "POST", path: `/images/${encodeURIComponent(name)}/push?tag=latest`, headers: { "X-Registry-Auth": "e30=" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.setTimeout(120_000, () => req.destroy(new Error(`timeout pushing ${name}`)));
      req.on("error", reject);
      req.end();
    });
    assert.equal(a.status, 200, a.body);
    const msgs = a.body
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Msg);
    const err = msgs.find((m) => m.error);
    assert.equal(err, undefined, JSON.stringify(err));
    return msgs;
  };

  const digestOf = (msgs: Msg[]): string => {
    const m = msgs.map((x) => /digest: (sha256:[a-f0-9]{64})/.exec(x.status ?? "")?.[1]).find(Boolean);
    assert.ok(m, JSON.stringify(msgs));
    return m;
  };

  it("uploads all five layers at once: Preparing, then Pushing on several layers before the first is Pushed", async () => {
    const ref = `${reg.addr}/pp/par`;
    await ok(["tag", "pp:src", `${ref}:latest`]);
    const msgs = await pushApi(ref);
    const ids = [...new Set(msgs.filter((m) => m.status === "Preparing").map((m) => m.id))];
    assert.equal(ids.length, 5, JSON.stringify(msgs));
    // dockerd's shape for layers the registry has not seen: Preparing, Pushing (progress), Pushed; no Waiting with 5 slots.
    for (const id of ids) {
      const s = msgs.filter((m) => m.id === id).map((m) => m.status);
      assert.equal(s[0], "Preparing");
      assert.equal(s.at(-1), "Pushed", `${id}: ${s.join(", ")}`);
      assert.ok(s.includes("Pushing"), `${id}: ${s.join(", ")}`);
      assert.ok(!s.includes("Waiting"), `${id}: ${s.join(", ")}`);
    }
    const firstPushed = msgs.findIndex((m) => m.status === "Pushed");
    const started = new Set(msgs.slice(0, firstPushed).filter((m) => m.status === "Pushing").map((m) => m.id));
    assert.ok(started.size >= 2, `only ${[...started].join(", ")} had started before the first layer was pushed`);
  });

  it("pulls the pushed image back with the same id and files, re-pushes it with the same digest, and pushes the same blobs to Debian's docker-registry", async (t) => {
    const ref = `${reg.addr}/pp/par`;
    const id = (await ok(["image", "inspect", "-f", "{{.Id}}", "pp:src"])).trim();
    const again = await pushApi(ref);
    assert.ok(
      again.filter((m) => m.status === "Layer already exists").length === 5,
      `re-push: ${JSON.stringify(again.filter((m) => m.status !== "Pushing"))}`,
    );
    const digest = digestOf(again);

    // Drop every local copy (the image and the build cache that holds its layers), then pull.
    await ok(["rmi", "pp:src", `${ref}:latest`]);
    await ok(["builder", "prune", "-af"]);
    const pulled = await ok(["pull", `${ref}:latest`]);
    assert.equal((pulled.match(/Pull complete/g) ?? []).length, 4, pulled);
    assert.match(pulled, new RegExp(`Digest: ${digest}`));
    assert.equal((await ok(["image", "inspect", "-f", "{{.Id}}", `${ref}:latest`])).trim(), id);
    const sums = await ok(["run", "--rm", `${ref}:latest`, "sha256sum", "/a", "/b", "/c", "/d"]);
    for (const name of ["a", "b", "c", "d"]) assert.match(sums, new RegExp(`^${files[name] ?? ""}  /${name}$`, "m"));

    if (!deb) {
      t.skip("Debian's docker-registry is not installed");
      return;
    }
    const debRef = `${deb.host}/pp/par`;
    await ok(["tag", `${ref}:latest`, `${debRef}:latest`]);
    const toDeb = await pushApi(debRef);
    assert.equal(digestOf(toDeb), digest, "the same blobs and manifest on another registry");

    // A fresh layer streamed (one chunked PATCH, then PUT ?digest=) to distribution, and pulled back from it.
    const eRef = `${deb.host}/pp/e`;
    await ok(["tag", "pp:e", `${eRef}:latest`]);
    const pushedE = await pushApi(eRef);
    assert.equal(pushedE.filter((m) => m.status === "Pushed").length, 1, JSON.stringify(pushedE.filter((m) => m.status !== "Pushing")));
    await ok(["rmi", "pp:e", `${eRef}:latest`]);
    await ok(["builder", "prune", "-af"]);
    const pulledE = await ok(["pull", `${eRef}:latest`]);
    assert.match(pulledE, new RegExp(`Digest: ${digestOf(pushedE)}`));
    assert.match(await ok(["run", "--rm", `${eRef}:latest`, "sha256sum", "/e"]), new RegExp(`^${files.e ?? ""}  /e$`, "m"));
  });
});
