/**
 * `docker images REPO[:TAG]` and the `reference` filter (Go path.Match globs) list
 * only the matching references, as dockerd 20.10 does. Every expected line was
 * recorded from the reference dockerd with the same tags and arguments.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { busyboxTarFile, withDaemon } from "./harness.js";
import { api, json } from "./rawapi.js";

const TAGS = ["busybox:1", "busybox:glibc", "foo/busybox:latest", "example.com/foo/bar:v1", "localhost:5000/busy:x", "bar:latest"];

// argument → `docker images --format '{{.Repository}}:{{.Tag}}' ARG` on the reference (busybox image only).
const EXPECTED: [string, string[]][] = [
  ["busybox", ["busybox:1", "busybox:glibc", "busybox:latest"]],
  ["busybox:latest", ["busybox:latest"]],
  ["busybox:1", ["busybox:1"]],
  ["busy*", ["busybox:1", "busybox:glibc", "busybox:latest"]],
  ["*/busybox", ["foo/busybox:latest"]],
  ["foo/*", ["foo/busybox:latest"]],
  ["*box", ["busybox:1", "busybox:glibc", "busybox:latest"]],
  ["example.com/foo/bar", ["example.com/foo/bar:v1"]],
  ["bar", ["bar:latest"]],
  ["nonexist", []],
  ["localhost:5000/busy", ["localhost:5000/busy:x"]],
  ["docker.io/library/busybox", []],
  ["busybox:l*", ["busybox:latest"]],
  ["*/*", ["foo/busybox:latest", "localhost:5000/busy:x"]],
  ["*:latest", ["bar:latest", "busybox:latest"]],
  ["b?sybox:[a-k]*", ["busybox:glibc"]],
];

describe("docker images REPO and the reference filter", () => {
  const d = withDaemon();
  before(async () => {
    for (const t of TAGS) assert.equal((await d.docker(["tag", "busybox", t])).code, 0);
    // A second image that none of the patterns above name.
    const other = await d.docker(["import", "--change", "ENV OTHER=1", await busyboxTarFile(), "other:1"]);
    assert.equal(other.code, 0, other.stderr);
  });

  for (const [arg, want] of EXPECTED) {
    it(`lists only the references ${JSON.stringify(arg)} matches`, async () => {
      const r = await d.docker(["images", "--format", "{{.Repository}}:{{.Tag}}", arg]);
      assert.equal(r.code, 0, r.stderr);
      // The CLI groups an image's tags by repository in a Go map, so rows of different repositories come in
      // random order (on either engine): compare them as a set; the API test below checks the daemon's order.
      assert.deepEqual(r.stdout.split("\n").filter(Boolean).sort(), [...want].sort());
    });
  }

  it("orders an image's tags by their full name, as dockerd (docker.io/foo before docker.io/library)", async () => {
    const r = await d.docker(["image", "inspect", "busybox", "-f", "{{json .RepoTags}}"]);
    assert.deepEqual(JSON.parse(r.stdout), ["foo/busybox:latest", "bar:latest", "busybox:1", "busybox:glibc", "busybox:latest", "example.com/foo/bar:v1", "localhost:5000/busy:x"]);
  });

  it("answers the filter through the API with only the matching RepoTags of each image", async () => {
    const f = encodeURIComponent(JSON.stringify({ reference: ["busybox", "other"] }));
    const list = json<{ RepoTags: string[] }[]>(await api(d.sock, "GET", `/v1.41/images/json?filters=${f}`));
    assert.deepEqual(list.map((i) => i.RepoTags).sort(), [["busybox:1", "busybox:glibc", "busybox:latest"], ["other:1"]]);
  });

  it("refuses a malformed pattern with dockerd's message", async () => {
    // dockerd 20.10 answers this with a 500; Berth answers bad input with a 400 (same message, same CLI output).
    const r = await d.docker(["images", "busy["]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), "Error response from daemon: syntax error in pattern");
    const a = await api(d.sock, "GET", `/v1.41/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: ["busy["] }))}`);
    assert.equal(a.status, 400);
    assert.deepEqual(json(a), { message: "syntax error in pattern" });
  });
});
