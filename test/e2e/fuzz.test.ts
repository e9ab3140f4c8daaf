/**
 * Property-based fuzzing of the API: random JSON bodies and query strings on
 * the endpoints that take input never produce a 500 or take the daemon down.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fc from "fast-check";
import { withDaemon } from "./harness.js";

const RUNS = process.env["BERTH_LONG"] ? 2000 : 300;

function request(sock: string, method: string, p: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, headers: { "Content-Type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`timeout ${method} ${p}`)));
    req.on("error", reject);
    req.end(body);
  });
}

describe("API fuzzing", () => {
  const d = withDaemon();
  before(async () => {
    await d.docker(["run", "-d", "--name", "fz", "busybox", "sleep", "300"]);
  });

  const value = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }));
  const createKeys = ["Image", "Cmd", "Entrypoint", "Env", "User", "WorkingDir", "Labels", "Tty", "OpenStdin", "StopSignal", "StopTimeout", "Healthcheck", "ExposedPorts", "Volumes", "Hostname"];
  const hostKeys = ["Memory", "NanoCpus", "CpuShares", "PidsLimit", "RestartPolicy", "LogConfig", "CapAdd", "CapDrop", "SecurityOpt", "Binds", "Mounts", "PortBindings", "NetworkMode", "Tmpfs", "Ulimits", "Devices", "ShmSize", "ExtraHosts", "Privileged", "AutoRemove"];

  it(`never answers 500 to ${RUNS} random container configs`, async () => {
    let created = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...createKeys), value, { maxKeys: 5 }),
        fc.dictionary(fc.constantFrom(...hostKeys), value, { maxKeys: 4 }),
        fc.boolean(),
        async (cfg, hc, withImage) => {
          const body: Record<string, unknown> = { ...cfg, HostConfig: hc };
          if (withImage) body["Image"] = "busybox";
          const r = await request(d.sock, "POST", "/v1.47/containers/create", JSON.stringify(body));
          assert.ok(r.status < 500, `create ${JSON.stringify(body)} → ${r.status} ${r.body}`);
          if (r.status === 201) {
            created++;
            const id = (JSON.parse(r.body) as { Id: string }).Id;
            const rm = await request(d.sock, "DELETE", `/v1.47/containers/${id}?force=1`);
            assert.ok(rm.status < 500, `rm → ${rm.status} ${rm.body}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
    assert.ok(await d.ping());
    void created;
  });

  it(`never answers 500 to ${RUNS} random exec configs and query strings`, async () => {
    const paths = ["/v1.47/containers/json", "/v1.47/images/json", "/v1.47/containers/fz/logs", "/v1.47/containers/fz/json", "/v1.47/events", "/v1.47/containers/fz/top"];
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom("Cmd", "Env", "User", "WorkingDir", "Tty", "AttachStdout", "Privileged", "DetachKeys"), value, { maxKeys: 4 }),
        fc.constantFrom(...paths),
        fc.dictionary(fc.constantFrom("all", "limit", "filters", "tail", "since", "until", "size", "follow", "ps_args", "stdout"), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
        async (exec, p, q) => {
          const r = await request(d.sock, "POST", "/v1.47/containers/fz/exec", JSON.stringify(exec));
          assert.ok(r.status < 500, `exec ${JSON.stringify(exec)} → ${r.status} ${r.body}`);
          const query = { ...q, ...(p.endsWith("/logs") ? { stdout: "1" } : {}), ...(p.endsWith("/events") ? { until: "1" } : {}) };
          delete (query as Record<string, string>)["follow"];
          const qs = new URLSearchParams(query).toString();
          const g = await request(d.sock, "GET", `${p}?${qs}`);
          assert.ok(g.status < 500, `GET ${p}?${qs} → ${g.status} ${g.body}`);
        },
      ),
      { numRuns: RUNS },
    );
    assert.ok(await d.ping());
  });
});
