/**
 * `npm pack` makes an installable package: unpacked as node_modules/berth
 * (its dependencies linked from this checkout: the test runs offline), a
 * consumer imports "berth/client" and type-checks against the emitted
 * declarations, and the `bin` entries run (berth --version, berthd --version)
 * with the prebuilt monitor in place.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./harness.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const PKG = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string; bin: Record<string, string>; dependencies: Record<string, string> };

describe("npm pack", () => {
  const dir = mkdtempSync("/tmp/bt-pack-");
  const app = path.join(dir, "app");
  const pkgDir = path.join(app, "node_modules", "berth");

  before(async () => {
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", dir, REPO], { timeoutMs: 120_000 });
    assert.equal(packed.code, 0, packed.stderr);
    const tgz = path.join(dir, packed.stdout.trim().split("\n").at(-1) ?? "");
    await fs.mkdir(pkgDir, { recursive: true });
    const x = await run("tar", ["xzf", tgz, "-C", pkgDir, "--strip-components=1"]);
    assert.equal(x.code, 0, x.stderr);
    for (const dep of Object.keys(PKG.dependencies)) {
      await fs.mkdir(path.dirname(path.join(app, "node_modules", dep)), { recursive: true });
      await fs.symlink(path.join(REPO, "node_modules", dep), path.join(app, "node_modules", dep));
    }
    await fs.writeFile(path.join(app, "package.json"), '{"type":"module","private":true}\n');
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("holds the compiled code, the client's declarations and the monitor, and no tests", async () => {
    const list = (await run("find", [pkgDir, "-type", "f"])).stdout.split("\n").map((f) => path.relative(pkgDir, f));
    for (const f of ["dist/src/client/index.js", "dist/src/client/index.d.ts", "dist/src/client/types.d.ts", "dist/berth-monitor", "src/runtime/monitor/berth-monitor.c", "scripts/build-monitor.mjs"]) {
      assert.ok(list.includes(f), `${f} is in the package`);
    }
    assert.deepEqual(list.filter((f) => f.endsWith(".test.js") || f.startsWith("dist/test/") || f.startsWith("dist/bench/")), []);
    for (const bin of Object.values(PKG.bin)) assert.ok(existsSync(path.join(pkgDir, bin)), `bin ${bin}`);
  });

  it("imports berth/client from a consumer and reports an unreachable daemon with its typed error", async () => {
    await fs.writeFile(
      path.join(app, "use.mjs"),
      `import { Berth, ConnectionError } from "berth/client";
const b = new Berth({ host: "unix://${dir}/none.sock" });
try { await b.ping(); } catch (e) { console.log(e instanceof ConnectionError, e.message); }
b.close();
`,
    );
    const r = await run(process.execPath, [path.join(app, "use.mjs")], { env: { ...process.env, DOCKER_HOST: undefined } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `true Cannot connect to the Berth daemon at unix://${dir}/none.sock. Is the berthd daemon running?\n`);
  });

  it("type-checks a TypeScript consumer against the declarations (and rejects a wrong one)", async () => {
    const tsconfig = { compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, types: ["node"], typeRoots: [path.join(REPO, "node_modules", "@types")] } };
    await fs.writeFile(path.join(app, "tsconfig.json"), JSON.stringify(tsconfig));
    await fs.writeFile(
      path.join(app, "good.ts"),
      `import { Berth, type ContainerCreateRequest } from "berth/client";
const req: ContainerCreateRequest = { Image: "busybox", Cmd: ["true"], HostConfig: { AutoRemove: true } };
export async function go(b: Berth): Promise<number> {
  const { Id } = await b.createContainer(req, { signal: AbortSignal.timeout(1000) });
  for await (const c of b.logs(Id)) process.stdout.write(c.data);
  return (await b.waitContainer(Id)).StatusCode;
}
`,
    );
    const tsc = path.join(REPO, "node_modules", "typescript", "bin", "tsc");
    const good = await run(process.execPath, [tsc, "-p", app], { timeoutMs: 120_000 });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    await fs.writeFile(path.join(app, "bad.ts"), `import type { ContainerCreateRequest } from "berth/client";\nexport const r: ContainerCreateRequest = { Image: 42 };\n`);
    const bad = await run(process.execPath, [tsc, "-p", app], { timeoutMs: 120_000 });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /bad\.ts\(2,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  });

  it("runs the bin entries", async () => {
    const berth = await run(process.execPath, [path.join(pkgDir, PKG.bin["berth"] ?? ""), "--version"]);
    assert.equal(berth.stdout, `Berth version ${PKG.version}\n`);
    const berthd = await run(process.execPath, [path.join(pkgDir, PKG.bin["berthd"] ?? ""), "--version"]);
    assert.equal(berthd.stdout, `${PKG.version}\n`);
  });
});
