/**
 * Debian's docker-registry (distribution 2.x, the registry dockerd users run)
 * on 127.0.0.1, for e2e tests that check interop with it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";

export const DEBIAN_REGISTRY = "/usr/bin/docker-registry";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
  });
}

/** Debian's docker-registry on 127.0.0.1:PORT, or undefined when it is not installed. */
export async function startDebianRegistry(dir: string): Promise<{ proc: ChildProcess; host: string } | undefined> {
  if (!existsSync(DEBIAN_REGISTRY)) return undefined;
  const port = await freePort();
  const cfg = path.join(dir, "config.yml");
  await fs.mkdir(path.join(dir, "data"), { recursive: true });
  await fs.writeFile(
    cfg,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const proc = spawn(DEBIAN_REGISTRY, ["serve", cfg], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if ((await get(`http://127.0.0.1:${port}/v2/`)) === 200) return { proc, host: `127.0.0.1:${port}` };
    if (proc.exitCode !== null) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill("SIGKILL");
  return undefined;
}

