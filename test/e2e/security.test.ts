/**
 * Safe defaults of the daemon's API: socket permissions, the TLS remote API with
 * client certificates (dockerd's --tlsverify), refusal of an unprotected remote
 * API, and malformed requests that get 400s instead of 500s or a crash.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { BERTHD, DOCKER, run, withDaemon } from "./harness.js";

async function makeCerts(dir: string): Promise<void> {
  const sh = `set -e; cd ${dir}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=berth-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile server.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client-cert.pem -days 2 -extfile client.ext 2>/dev/null
cp client-cert.pem cert-client.pem
`;
  const r = await run("bash", ["-c", sh]);
  assert.equal(r.code, 0, r.stderr);
}

function request(sock: string, method: string, p: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, headers: { "Content-Type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("berthd API security", () => {
  const d = withDaemon({
    prepare: (dm) => makeCerts(dm.dir),
    args: (dm) => [
      "-H", `tcp://127.0.0.1:${port}`,
      "--tlsverify",
      "--tlscacert", path.join(dm.dir, "ca.pem"),
      "--tlscert", path.join(dm.dir, "cert.pem"),
      "--tlskey", path.join(dm.dir, "server-key.pem"),
    ],
  });
  const port = 23000 + Math.floor(Math.random() * 2000);

  it("creates the unix socket with mode 0660", () => {
    assert.equal(statSync(d.sock).mode & 0o777, 0o660);
  });

  it("serves the real CLI over TLS with a client certificate (--tlsverify)", async () => {
    const certDir = path.join(d.dir, "clientcerts");
    await run("bash", ["-c", `mkdir -p ${certDir} && cp ${d.dir}/ca.pem ${certDir}/ca.pem && cp ${d.dir}/client-cert.pem ${certDir}/cert.pem && cp ${d.dir}/key.pem ${certDir}/key.pem`]);
    const env = { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certDir, DOCKER_CONFIG: path.join(d.dir, "cfg") };
    const r = await run(DOCKER, ["run", "--rm", "busybox", "echo", "over-tls"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "over-tls\n");
  });

  it("refuses a TLS client without a certificate, and plain HTTP", async () => {
    const env = { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_CONFIG: path.join(d.dir, "cfg2") };
    const plain = await run(DOCKER, ["version", "--format", "{{.Server.Version}}"], { env });
    assert.notEqual(plain.code, 0);
    const noCert = await run("bash", ["-c", `curl -s --max-time 5 --cacert ${d.dir}/ca.pem https://127.0.0.1:${port}/_ping; echo " rc=$?"`]);
    assert.doesNotMatch(noCert.stdout, /^OK/);
  });

  it("refuses to serve a non-loopback TCP address without TLS", async () => {
    const r = await run(process.execPath, [BERTHD, "-H", "tcp://0.0.0.0:23999", "--data-root", path.join(d.dir, "d2"), "--exec-root", path.join(d.dir, "x2")], { timeoutMs: 15_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing to listen on tcp:\/\/0\.0\.0\.0:23999 without TLS/);
  });

  it("refuses a second daemon on the same data-root", async () => {
    const r = await run(process.execPath, [BERTHD, "-H", `unix://${d.dir}/other.sock`, "--data-root", d.dataRoot, "--exec-root", path.join(d.dir, "x3")], { timeoutMs: 15_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /another berthd \(pid \d+\) is using data-root/);
  });

  it("confines containers: seccomp, Docker's capabilities, masked and read-only /proc paths", async () => {
    const r = await d.docker(["run", "--rm", "busybox", "sh", "-c",
      "grep -E '^(Seccomp|CapEff|NoNewPrivs):' /proc/1/status; unshare -n true 2>/dev/null; echo unshare=$?; mkdir /m; mount -t tmpfs x /m 2>/dev/null; echo mount=$?; " +
      "for f in /proc/keys /proc/timer_list /proc/kcore /proc/sched_debug; do cat $f; done 2>/dev/null | wc -c; echo 1 > /proc/sys/kernel/shmmax 2>/dev/null; echo procsys=$?; ls /dev | wc -l"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    assert.match(r.stdout, /^CapEff:\s+00000000a80425fb$/m, "Docker's default capability set"); // reference: dockerd 20.10
    assert.match(r.stdout, /^NoNewPrivs:\s+0$/m);
    assert.match(r.stdout, /^unshare=1$/m);
    assert.match(r.stdout, /^mount=1$/m);
    assert.match(r.stdout, /^0$/m, "masked /proc files read as empty");
    assert.match(r.stdout, /^procsys=1$/m);
    const nnp = await d.docker(["run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/1/status"]);
    assert.match(nnp.stdout, /NoNewPrivs:\s+1/);
    const unconfined = await d.docker(["run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/1/status"]);
    assert.match(unconfined.stdout, /Seccomp:\s+0/);
    const priv = await d.docker(["run", "--rm", "--privileged", "busybox", "sh", "-c", "grep CapEff /proc/1/status; mkdir /m; mount -t tmpfs x /m && echo mounted"]);
    // reference: dockerd 20.10 fails --privileged on this host (runc: "unable to apply caps: operation not permitted")
    assert.match(priv.stdout, /mounted/);
    assert.equal((await d.docker(["run", "--rm", "--privileged", "busybox", "true"])).code, 0);
    const ins = await d.docker(["create", "--privileged", "--name", "privy", "busybox", "true"]);
    assert.equal(ins.code, 0, ins.stderr);
    assert.equal((await d.docker(["inspect", "-f", "{{.HostConfig.Privileged}}", "privy"])).stdout.trim(), "true");
    await d.docker(["rm", "privy"]);
  });

  it("applies a seccomp profile file given with --security-opt seccomp=<file>", async () => {
    const file = path.join(d.dir, "profile.json");
    await run("bash", ["-c", `cat > ${file} <<'JSON'
{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdirat","mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}
JSON`]);
    const r = await d.docker(["run", "--rm", "--security-opt", `seccomp=${file}`, "busybox", "sh", "-c", "mkdir /x 2>/dev/null; echo mkdir=$?"]);
    assert.equal(r.stdout.trim(), "mkdir=1");
    const bad = await d.docker(["run", "--rm", "--security-opt", "bogus", "busybox", "true"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid --security-opt: "bogus"/); // reference: dockerd 20.10
  });

  it("answers malformed JSON and wrong types with 400, never 500", async () => {
    const cases: [string, string, string][] = [
      ["POST", "/v1.47/containers/create", "{not json"],
      ["POST", "/v1.47/containers/create", "[]"],
      ["POST", "/v1.47/containers/create", '{"Image": 5}'],
      ["POST", "/v1.47/containers/create", '{"Image": "busybox", "Cmd": {"a": 1}}'],
      ["POST", "/v1.47/containers/create", '{"Image": "busybox", "Env": "A=b"}'],
      ["POST", "/v1.47/containers/create", '{"Image": "busybox", "HostConfig": {"Memory": "lots"}}'],
      ["POST", "/v1.47/containers/create", '{"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}'],
      ["POST", "/v1.47/containers/create?name=bad%20name", '{"Image": "busybox", "Cmd": ["true"]}'],
      ["POST", "/v1.47/containers/create", '{"Image": "busybox", "StopSignal": "SIGNOPE", "Cmd": ["true"]}'],
      ["GET", "/v1.47/containers/json?filters=notjson", ""],
      ["GET", "/v1.47/containers/json?limit=abc", ""],
      ["POST", "/v1.47/images/create?fromSrc=-&repo=UPPER", "notatar"],
      ["POST", "/v1.47/images/busybox/tag?repo=bad//name", ""],
      ["GET", "/v1.99/version", ""],
      ["GET", "/v1.12/version", ""],
    ];
    // reference: dockerd 20.10 answers 500 to the malformed bodies and queries (JSON and strconv errors), 400 to the
    // rest (same texts as Berth for the name and the signal); moby 23+ and Berth answer 400 to all of them.
    for (const [method, p, body] of cases) {
      const r = await request(d.sock, method, p, body);
      assert.equal(r.status, 400, `${method} ${p} ${body} → ${r.status} ${r.body}`);
      // dockerd answers a too-old version in text/plain (conformance: system/version-negotiation-errors).
      if (p === "/v1.12/version") {
        assert.match(r.body, /^client version 1\.12 is too old\. Minimum supported API version is/);
        continue;
      }
      const parsed = JSON.parse(r.body) as { message?: unknown };
      assert.equal(typeof parsed.message, "string");
    }
    // reference: dockerd 20.10 says "invalid restart policy 'sometimes'"; Berth keeps moby 25+'s wording, as docker update does.
    const policy = await request(d.sock, "POST", "/v1.47/containers/create", '{"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}');
    assert.deepEqual(JSON.parse(policy.body), { message: "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'" });
    assert.ok(await d.ping(), "daemon still answers");
  });
});
