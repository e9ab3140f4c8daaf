/**
 * The berth CLI's connection and credential plumbing against a private berthd:
 * TLS client certificates on TCP (flags, DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, a
 * context holding the TLS material, shared with the docker CLI 28), contexts
 * chosen by --context / DOCKER_CONTEXT / `context use`, --config, and registry
 * credentials kept by a docker-credential-* helper (credsStore, credHelpers)
 * for login, push, pull, build and logout.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import bcrypt from "bcryptjs";
import { type RegistryHandle, startRegistry } from "../../src/registry/index.js";
import { BERTH, DOCKER, Daemon, run, type RunResult } from "./harness.js";
import { freePort } from "./debregistry.js";

async function makeCerts(dir: string): Promise<void> {
  const sh = `set -e; cd ${dir}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=berth-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 2 -extfile server.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile client.ext 2>/dev/null
`;
  const r = await run("bash", ["-c", sh]);
  assert.equal(r.code, 0, r.stderr);
}

/** A credential helper that keeps credentials in files beside itself and logs each call. */
const HELPER = `#!/usr/bin/env node
const fs = require("node:fs"), path = require("node:path");
const dir = path.join(__dirname, "store"); fs.mkdirSync(dir, { recursive: true });
const action = process.argv[2];
const input = fs.readFileSync(0, "utf8");
fs.appendFileSync(path.join(__dirname, "calls.log"), action + " " + (action === "store" ? JSON.parse(input).ServerURL : input.trim()) + "\\n");
const file = (s) => path.join(dir, Buffer.from(s).toString("hex"));
if (action === "store") { const j = JSON.parse(input); fs.writeFileSync(file(j.ServerURL), input); }
else if (action === "get") { try { process.stdout.write(fs.readFileSync(file(input.trim()), "utf8")); } catch { process.stdout.write("credentials not found in native keychain\\n"); process.exit(1); } }
else if (action === "erase") { fs.rmSync(file(input.trim()), { force: true }); }
else if (action === "list") { const o = {}; for (const f of fs.readdirSync(dir)) { const j = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")); o[j.ServerURL] = j.Username; } process.stdout.write(JSON.stringify(o)); }
`;

describe("berth CLI: TLS, contexts and credential helpers", () => {
  const d = new Daemon();
  let port = 0;
  let certs = "";
  let reg: RegistryHandle;
  let helperDir = "";
  /** An environment that names no daemon: only flags, contexts and config decide. */
  const bare = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: path.join(d.dir, "cfg"), ...extra };
    for (const k of ["DOCKER_HOST", "BERTH_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"]) if (!(k in extra)) delete env[k];
    return env;
  };
  const berth = (args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<RunResult> => run(process.execPath, ["--", BERTH, ...args], { env, input, timeoutMs: 120_000 });
  const ok = async (args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> => {
    const r = await berth(args, env, input);
    assert.equal(r.code, 0, `berth ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    certs = path.join(d.dir, "certs");
    await fs.mkdir(certs, { recursive: true });
    await makeCerts(certs);
    port = await freePort();
    await d.start(["-H", `tcp://127.0.0.1:${port}`, "--tlsverify", "--tlscacert", path.join(certs, "ca.pem"), "--tlscert", path.join(certs, "server-cert.pem"), "--tlskey", path.join(certs, "server-key.pem")]);
    await d.loadBusybox();
    const htpasswd = path.join(d.dir, "htpasswd");
    await fs.writeFile(htpasswd, `alice:${bcrypt.hashSync("wonderland", 4).replace(/^\$2b\$/, "$2y$")}\n`);
    reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(d.dir, "reg"), htpasswd });
    helperDir = path.join(d.dir, "helpers");
    await fs.mkdir(helperDir, { recursive: true });
    await fs.writeFile(path.join(helperDir, "docker-credential-bt"), HELPER, { mode: 0o755 });
  });
  after(async () => {
    await reg?.close();
    await d.destroy();
  });

  it("connects over TLS with client certificates from flags and from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH", async () => {
    const tcp = `tcp://127.0.0.1:${port}`;
    const flags = ["-H", tcp, "--tlsverify", "--tlscacert", path.join(certs, "ca.pem"), "--tlscert", path.join(certs, "cert.pem"), "--tlskey", path.join(certs, "key.pem")];
    assert.equal(await ok([...flags, "run", "--rm", "busybox", "echo", "over-tls"], bare()), "over-tls\n");
    // stdin through the hijacked TLS connection, half-closed at EOF so that cat ends.
    assert.equal(await ok([...flags, "run", "-i", "--rm", "busybox", "cat"], bare(), "stdin over tls\n"), "stdin over tls\n");
    assert.equal(await ok(["version", "--format", "{{.Server.Os}}"], bare({ DOCKER_HOST: tcp, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certs })), "linux\n");
    // No client certificate (a CA only), and plain HTTP: refused.
    const noCert = await berth(["-H", tcp, "--tlsverify", "--tlscacert", path.join(certs, "ca.pem"), "ps"], bare());
    assert.equal(noCert.code, 1);
    const plain = await berth(["-H", tcp, "ps"], bare());
    assert.equal(plain.code, 1);
    // --tlsverify without a CA where DOCKER_CERT_PATH points: docker 28's wording.
    const noCa = await berth(["-H", tcp, "--tlsverify", "ps"], bare({ DOCKER_CERT_PATH: path.join(d.dir, "nowhere") }));
    assert.equal(noCa.code, 1);
    assert.equal(noCa.stderr, `Failed to initialize: unable to resolve docker endpoint: open ${path.join(d.dir, "nowhere", "ca.pem")}: no such file or directory\n`); // reference: docker 28.2.2
  });

  it("stores a TLS context where docker does; --context, DOCKER_CONTEXT and `context use` select it, and docker 28 reads it", async () => {
    const env = bare();
    const docker = `host=tcp://127.0.0.1:${port},ca=${path.join(certs, "ca.pem")},cert=${path.join(certs, "cert.pem")},key=${path.join(certs, "key.pem")}`;
    assert.equal(await ok(["context", "create", "tlsctx", "--description", "berthd over TLS", "--docker", docker], env), "tlsctx\n");
    const digest = createHash("sha256").update("tlsctx").digest("hex");
    const meta = JSON.parse(await fs.readFile(path.join(d.dir, "cfg", "contexts", "meta", digest, "meta.json"), "utf8")) as unknown;
    assert.deepEqual(meta, { Name: "tlsctx", Metadata: { Description: "berthd over TLS" }, Endpoints: { docker: { Host: `tcp://127.0.0.1:${port}`, SkipTLSVerify: false } } });
    assert.deepEqual((await fs.readdir(path.join(d.dir, "cfg", "contexts", "tls", digest, "docker"))).sort(), ["ca.pem", "cert.pem", "key.pem"]);
    assert.equal(await ok(["--context", "tlsctx", "version", "--format", "{{.Server.Os}}"], env), "linux\n");
    assert.equal(await ok(["version", "--format", "{{.Server.Os}}"], bare({ DOCKER_CONTEXT: "tlsctx" })), "linux\n");
    // The docker CLI finds the same context (meta.json under sha256(name), TLS files beside it).
    const dk = await run(DOCKER, ["--context", "tlsctx", "version", "--format", "{{.Server.Os}}"], { env });
    assert.equal(dk.code, 0, dk.stderr);
    assert.equal(dk.stdout, "linux\n");
    const inspect = await run(DOCKER, ["context", "inspect", "-f", "{{json .Endpoints}} {{json .TLSMaterial}}", "tlsctx"], { env });
    assert.equal(inspect.stdout, `{"docker":{"Host":"tcp://127.0.0.1:${port}","SkipTLSVerify":false}} {"docker":["ca.pem","cert.pem","key.pem"]}\n`);
    assert.equal(await ok(["context", "use", "tlsctx"], env), "tlsctx\n");
    assert.equal(JSON.parse(await fs.readFile(path.join(d.dir, "cfg", "config.json"), "utf8")).currentContext, "tlsctx");
    assert.equal(await ok(["context", "show"], env), "tlsctx\n");
    assert.equal(await ok(["run", "--rm", "busybox", "echo", "via-current-context"], env), "via-current-context\n");
    // -H wins over the current context (docker's order); with --context too it is an error.
    assert.equal((await berth(["-H", "unix:///nonexistent.sock", "ps"], env)).code, 1);
    const both = await berth(["-H", `unix://${d.sock}`, "--context", "tlsctx", "ps"], env);
    assert.deepEqual([both.code, both.stderr], [1, "conflicting options: cannot specify both --host and --context\n"]); // reference: docker 28.2.2
    // A context in use is only removed with -f.
    const inUse = await berth(["context", "rm", "tlsctx"], env);
    assert.deepEqual([inUse.code, inUse.stderr], [1, 'context "tlsctx" is in use, set -f flag to force remove\n']); // reference: docker 28.2.2
    assert.equal(await ok(["context", "use", "default"], env), "default\n");
    // --config points elsewhere: that directory has no such context.
    assert.equal(await ok(["--config", path.join(d.dir, "cfg2"), "context", "ls", "-q"], env), "default\n");
    assert.equal(await ok(["context", "rm", "tlsctx"], env), "tlsctx\n");
    assert.equal(await ok(["context", "ls", "-q"], env), "default\n");
    // A current context that does not exist is listed, marked, with its error cut as docker cuts it.
    const broken = await ok(["context", "ls", "--format", "{{.Name}}|{{.Current}}|{{.Error}}"], bare({ DOCKER_CONTEXT: "nope" }));
    assert.equal(broken, 'default|false|\nnope|true|context "nope": context not found: open /tmp…\n'); // reference: docker 28.2.2
  });

  it("keeps registry credentials in a credsStore helper for login, push, pull, build and logout", async () => {
    const cfgDir = path.join(d.dir, "credcfg");
    await fs.mkdir(cfgDir, { recursive: true });
    await fs.writeFile(path.join(cfgDir, "config.json"), JSON.stringify({ credsStore: "bt" }));
    const env = { ...d.env, DOCKER_CONFIG: cfgDir, PATH: `${helperDir}:${process.env["PATH"] ?? ""}` };
    const ref = `${reg.addr}/secret:1`;
    const login = await berth(["login", "-u", "alice", "--password-stdin", reg.addr], env, "wonderland\n");
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, "Login Succeeded\n");
    assert.doesNotMatch(login.stderr, /unencrypted/, "no plain-text warning with a helper");
    const cfg = JSON.parse(await fs.readFile(path.join(cfgDir, "config.json"), "utf8")) as { auths: Record<string, unknown> };
    assert.deepEqual(cfg.auths, { [reg.addr]: {} }, "the file keeps only an empty entry");
    const stored = JSON.parse(await fs.readFile(path.join(helperDir, "store", Buffer.from(reg.addr).toString("hex")), "utf8")) as Record<string, string>;
    assert.deepEqual(stored, { ServerURL: reg.addr, Username: "alice", Secret: "wonderland" });
    await ok(["tag", "busybox", ref], env);
    await ok(["push", ref], env);
    await ok(["rmi", ref], env);
    await ok(["pull", ref], env);
    await ok(["rmi", ref], env);
    const ctx = path.join(d.dir, "buildctx");
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, "Dockerfile"), `FROM ${ref}\nRUN echo built\n`);
    await ok(["build", "-q", "-t", "credbuilt", ctx], env);
    const calls = (await fs.readFile(path.join(helperDir, "calls.log"), "utf8")).split("\n");
    assert.ok(calls.includes(`store ${reg.addr}`) && calls.includes(`get ${reg.addr}`) && calls.includes("list "), calls.join("\n"));
    await ok(["logout", reg.addr], env);
    assert.ok((await fs.readFile(path.join(helperDir, "calls.log"), "utf8")).split("\n").includes(`erase ${reg.addr}`));
    const denied = await berth(["pull", ref], env);
    assert.equal(denied.code, 1);
  });

  it("prefers credHelpers[host] over credsStore", async () => {
    const cfgDir = path.join(d.dir, "credcfg2");
    await fs.mkdir(cfgDir, { recursive: true });
    await fs.writeFile(path.join(cfgDir, "config.json"), JSON.stringify({ credsStore: "absent", credHelpers: { [reg.addr]: "bt" } }));
    const env = { ...d.env, DOCKER_CONFIG: cfgDir, PATH: `${helperDir}:${process.env["PATH"] ?? ""}` };
    const login = await berth(["login", "-u", "alice", "--password-stdin", reg.addr], env, "wonderland\n");
    assert.equal(login.code, 0, login.stderr);
    await ok(["pull", `${reg.addr}/secret:1`], env);
    // Another registry goes to the (missing) credsStore helper: docker's error.
    const other = await berth(["pull", "127.0.0.1:1/none:1"], env);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /docker-credential-absent/);
  });
});
