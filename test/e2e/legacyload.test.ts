/**
 * `docker load` of the pre-1.10 archive layout (per-layer directories with VERSION,
 * json and layer.tar, and a repositories file), which dockerd 20.10 still loads.
 * The archive is built here; its v1 JSON files are the ones dockerd 20.10 wrote
 * (`docker save`), and the image ids, parents and tags expected below are what
 * the reference dockerd made of this very archive.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs } from "node:fs";
import path from "node:path";
import tarStream from "tar-stream";
import { withDaemon } from "./harness.js";

const ID1 = "d52f6713b79fd7a4e632c05d15b149faecf60b8f5458e67e6b7bfbb3c342efde";
const ID2 = "dcf2195bea9743e5f3148f2a3754e47cbbc3996c89f32865022f1b79c92c499a";
// No docker_version: dockerd re-encodes it through its V1Image type first.
const JSON1 = "{\"id\":\"d52f6713b79fd7a4e632c05d15b149faecf60b8f5458e67e6b7bfbb3c342efde\",\"created\":\"1970-01-01T00:00:00Z\",\"container_config\":{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,\"AttachStdout\":false,\"AttachStderr\":false,\"Tty\":false,\"OpenStdin\":false,\"StdinOnce\":false,\"Env\":null,\"Cmd\":null,\"Image\":\"\",\"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":null},\"os\":\"linux\"}";
const JSON2 = "{\"id\":\"dcf2195bea9743e5f3148f2a3754e47cbbc3996c89f32865022f1b79c92c499a\",\"parent\":\"d52f6713b79fd7a4e632c05d15b149faecf60b8f5458e67e6b7bfbb3c342efde\",\"created\":\"2026-12-07T19:28:32.132918063Z\",\"container\":\"f48ae0ee41f00de81bb6ad0d60e478e7784a52e79705809b02755d9a80c7520c\",\"container_config\":{\"Hostname\":\"f48ae0ee41f0\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,\"AttachStdout\":false,\"AttachStderr\":false,\"Tty\":false,\"OpenStdin\":false,\"StdinOnce\":false,\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"FOO=bar\"],\"Cmd\":[\"/bin/sh\",\"-c\",\"#(nop) \",\"CMD [\\\"sh\\\"]\"],\"Image\":\"sha256:e34e2e37ed592d78901e57fe797e97d7022a8bff43d3bd09de149568ca11cf50\",\"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":{}},\"docker_version\":\"20.10.24+dfsg1\",\"config\":{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,\"AttachStdout\":false,\"AttachStderr\":false,\"Tty\":false,\"OpenStdin\":false,\"StdinOnce\":false,\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"FOO=bar\"],\"Cmd\":[\"sh\"],\"Image\":\"sha256:e34e2e37ed592d78901e57fe797e97d7022a8bff43d3bd09de149568ca11cf50\",\"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":null},\"architecture\":\"amd64\",\"os\":\"linux\"}";

function tarOf(entries: [string, string | Buffer | undefined, ("file" | "directory")?][]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = tarStream.pack();
    const chunks: Buffer[] = [];
    p.on("data", (c: unknown) => {
      chunks.push(c as Buffer);
    });
    p.on("end", () => resolve(Buffer.concat(chunks)));
    p.on("error", reject);
    for (const [name, body, type] of entries) {
      const header = { name, type: type ?? "file", mode: type === "directory" ? 0o755 : 0o644, mtime: new Date(0), uid: 0, gid: 0 } as const;
      if (body === undefined) p.entry(header);
      else p.entry(header, body);
    }
    p.finalize();
  });
}

describe("docker load of a pre-1.10 (legacy layout) archive", () => {
  const d = withDaemon({
    busybox: false,
    prepare: async () => {
      const l1 = await tarOf([["bin/", undefined, "directory"], ["etc/", undefined, "directory"], ["etc/hello", "hello\n"]]);
      const l2 = await tarOf([["hi", "hi\n"]]);
      const archive = await tarOf([
        [`${ID1}/`, undefined, "directory"],
        [`${ID1}/VERSION`, "1.0"],
        [`${ID1}/json`, JSON1],
        [`${ID1}/layer.tar`, l1],
        [`${ID2}/`, undefined, "directory"],
        [`${ID2}/VERSION`, "1.0"],
        [`${ID2}/json`, JSON2],
        [`${ID2}/layer.tar`, l2],
        ["repositories", `${JSON.stringify({ layered: { v1: ID2 }, "example.com/team/app": { old: ID1 } })}\n`],
      ]);
      await fs.writeFile(file, archive);
    },
  });
  const tmp = mkdtempSync("/tmp/bt-legacy-");
  const file = path.join(tmp, "legacy.tar");
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it("loads it with dockerd's image ids, parents and tags, and prints nothing", async () => {
    const r = await d.docker(["load", "-i", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const list = await d.docker(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert.deepEqual(list.stdout.split("\n").filter(Boolean).sort(), [
      "example.com/team/app:old sha256:8cc025c199dff72025467bdf42136f7e5a73b00e06ec58318ff0a974c15334b9",
      "layered:v1 sha256:c5ccf98e0ca9218032d137bf0e5252e9af01839c702335cefafb7713d2340c72",
    ]);
    const top = await d.docker(["image", "inspect", "layered:v1", "-f", "{{.Parent}} {{json .RootFS.Layers}}"]);
    assert.equal(
      top.stdout.trim(),
      'sha256:8cc025c199dff72025467bdf42136f7e5a73b00e06ec58318ff0a974c15334b9 ["sha256:bb69e46af219f6d37ed23e95d030b9a5d7f84437c1f56204841ad8685360b98f","sha256:14787bd7d90ebc2a1e10af7019483895da3a467d9c936ae487011b482dbb80ba"]',
    );
    const hist = await d.docker(["image", "inspect", "layered:v1", "-f", "{{.Created}} {{.Config.Cmd}}"]);
    assert.equal(hist.stdout.trim(), "2026-12-07T19:28:32.132918063Z [sh]");
  });
});
