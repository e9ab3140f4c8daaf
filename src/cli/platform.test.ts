import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));

function berth(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--", MAIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("--platform reaches the daemon", () => {
  let dir: string;
  let server: http.Server;
  let created = 0;
  const seen: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "berth-platform-"));
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/_ping") {
        res.writeHead(200, { "Api-Version": "1.47" }).end("OK");
      } else if (url.pathname.endsWith("/containers/create")) {
        // The first create finds no image; the one after the pull succeeds.
        if (created++ === 0) res.writeHead(404, { "Content-Type": "application/json" }).end('{"message":"No such image: img:1"}');
        else res.writeHead(201, { "Content-Type": "application/json" }).end('{"Id":"abc123","Warnings":[]}');
      } else if (url.pathname.endsWith("/images/create")) {
        res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"Status: Downloaded newer image for img:1"}\n');
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(path.join(dir, "d.sock"), r));
  });

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("create --platform sends it to the create and to the implicit pull; pull --platform too", async () => {
    const env = { ...process.env, DOCKER_HOST: `unix://${path.join(dir, "d.sock")}`, BERTH_HOST: "", DOCKER_CONFIG: dir };
    const r = await berth(["create", "--platform", "linux/arm64", "img:1"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "abc123\n");
    assert.deepEqual(
      seen.filter((s) => s.startsWith("POST")),
      ["POST /v1.47/containers/create?platform=linux%2Farm64", "POST /v1.47/images/create?fromImage=img&tag=1&platform=linux%2Farm64", "POST /v1.47/containers/create?platform=linux%2Farm64"],
    );
    seen.length = 0;
    const p = await berth(["pull", "--platform", "linux/arm/v7", "img:1"], env);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(seen.filter((s) => s.startsWith("POST")), ["POST /v1.47/images/create?fromImage=img&tag=1&platform=linux%2Farm%2Fv7"]);
  });
});
