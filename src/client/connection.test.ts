import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, ContextStore, contextDigest, resolveContextName, resolveEndpoint } from "./index.js";

describe("endpoint resolution (docker's order)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-conn-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new ContextStore(dir);
  store.create({ Name: "remote", Metadata: {}, Endpoints: { docker: { Host: "tcp://10.0.0.1:2376", SkipTLSVerify: false } } }, { ca: Buffer.from("CA"), cert: Buffer.from("C"), key: Buffer.from("K") });
  store.create({ Name: "plain", Metadata: {}, Endpoints: { docker: { Host: "tcp://10.0.0.2", SkipTLSVerify: false } } });

  it("picks --context, then -H, then DOCKER_HOST, then DOCKER_CONTEXT, then currentContext, then default", () => {
    const env = { DOCKER_CONFIG: dir };
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ currentContext: "plain" }));
    assert.equal(resolveContextName({ env }), "plain");
    assert.equal(resolveContextName({ env: { ...env, DOCKER_CONTEXT: "remote" } }), "remote");
    assert.equal(resolveContextName({ env: { ...env, DOCKER_CONTEXT: "remote", DOCKER_HOST: "unix:///x" } }), "default");
    assert.equal(resolveContextName({ host: "unix:///x", env: { ...env, DOCKER_CONTEXT: "remote" } }), "default");
    assert.equal(resolveContextName({ context: "remote", env }), "remote");
    assert.throws(() => resolveContextName({ context: "remote", host: "unix:///x", env }), /conflicting options: cannot specify both --host and --context/);
    writeFileSync(path.join(dir, "config.json"), "{}");
    assert.equal(resolveContextName({ env }), "default");
  });

  it("takes a context's host and TLS material; plain TCP without material; 2376 only with TLS", () => {
    const env = { DOCKER_CONFIG: dir };
    const r = resolveEndpoint({ context: "remote", env });
    assert.deepEqual([r.hostname, r.port, r.tls?.verify, r.tls?.ca?.toString(), r.tls?.key?.toString()], ["10.0.0.1", 2376, true, "CA", "K"]);
    const p = resolveEndpoint({ context: "plain", env });
    assert.deepEqual([p.hostname, p.port, p.tls], ["10.0.0.2", 2375, undefined]);
    assert.deepEqual(store.tlsFiles("remote"), ["ca.pem", "cert.pem", "key.pem"]);
    assert.ok(store.metaDir("remote").endsWith(contextDigest("remote")));
  });

  it("says why an endpoint cannot be resolved, in docker's words", () => {
    const env = { DOCKER_CONFIG: dir };
    assert.throws(() => resolveEndpoint({ context: "nope", env }), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`unable to resolve docker endpoint: context "nope": context not found: open ${dir}/contexts/meta/${contextDigest("nope")}/meta.json`));
    assert.throws(() => resolveEndpoint({ host: "tcp://h:1", tlsVerify: true, env: { ...env, DOCKER_CERT_PATH: path.join(dir, "none") } }), {
      message: `unable to resolve docker endpoint: open ${path.join(dir, "none", "ca.pem")}: no such file or directory`,
    });
    // --tls alone: encrypted, not verified; the CA is still read (docker 28), a client certificate is optional.
    assert.throws(() => resolveEndpoint({ host: "tcp://h", tls: true, env: { ...env, DOCKER_CERT_PATH: path.join(dir, "none") } }), {
      message: `unable to resolve docker endpoint: open ${path.join(dir, "none", "ca.pem")}: no such file or directory`,
    });
    writeFileSync(path.join(dir, "ca.pem"), "CA");
    const t = resolveEndpoint({ host: "tcp://h", tls: true, tlsCaCert: path.join(dir, "ca.pem"), env: { ...env, DOCKER_CERT_PATH: path.join(dir, "none") } });
    assert.deepEqual([t.port, t.tls?.verify, t.tls?.ca?.toString(), t.tls?.cert], [2376, false, "CA", undefined]);
  });
});
