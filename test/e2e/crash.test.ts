/**
 * Crash consistency: berthd is killed with SIGKILL at random moments during
 * imports, runs, removals and tag changes; every time it starts again, the
 * system check finds nothing wrong and nothing that existed before is lost.
 * BERTH_LONG=1 runs more rounds (the bounded count keeps the normal suite fast).
 * The same runs again with --userns-remap (id-shifted layers, runtime-made netns).
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import http from "node:http";
import { busyboxTarFile, withDaemon } from "./harness.js";

const ROUNDS = process.env["BERTH_LONG"] ? 40 : 8;

function check(sock: string): Promise<{ problems: { area: string; id: string; problem: string }[] }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: sock, path: "/berth/system/check" }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as { problems: { area: string; id: string; problem: string }[] }));
      })
      .on("error", reject);
  });
}

const MODES = [
  { title: "", args: [] as string[], rounds: ROUNDS },
  { title: " with --userns-remap", args: ["--userns-remap", "default"], rounds: Math.ceil(ROUNDS / 2) },
];

for (const { title, args, rounds: ROUNDS } of MODES) describe(`crash consistency of berthd${title}`, () => {
  const d = withDaemon({
    args,
    prepare: async () => {
      await fs.chmod(d.dir, 0o711); // the remapped root must reach the data root
    },
  });
  before(async () => {
    await d.docker(["create", "--name", "keeper", "busybox", "true"]);
    await d.docker(["run", "-d", "--name", "runner", "busybox", "sleep", "3600"]);
  });

  it(`survives ${ROUNDS} SIGKILLs at random moments of import, run, rm, rmi and cp`, async () => {
    const tar = await busyboxTarFile();
    const ops: ((i: number) => Promise<unknown>)[] = [
      (i) => d.docker(["import", tar, `crash:${i}`]),
      () => d.docker(["run", "--rm", "busybox", "sh", "-c", "echo x > /f; cat /f"]),
      (i) => d.docker(["run", "-d", "--name", `bg${i}`, "busybox", "sleep", "30"]),
      async (i) => {
        await d.docker(["create", "--name", `tmp${i}`, "busybox", "true"]);
        return d.docker(["rm", `tmp${i}`]);
      },
      async (i) => {
        await d.docker(["tag", "busybox", `t${i}:x`]);
        return d.docker(["rmi", `t${i}:x`]);
      },
      // A copy into a running container freezes it meanwhile.
      (i) => d.docker(["cp", tar, `runner:/copy${i}.tar`]),
    ];
    let survived = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const op = ops[i % ops.length] as (i: number) => Promise<unknown>;
      const pending = op(i).catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 250)));
      await d.kill9();
      await pending;
      await d.start(args);
      const res = await check(d.sock);
      assert.deepEqual(res.problems, [], `round ${i}: ${JSON.stringify(res.problems)}`);
      const images = await d.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
      assert.match(images.stdout, /^busybox:latest$/m, `round ${i}: busybox survived (${images.stderr})`);
      const ps = await d.docker(["ps", "-a", "--format", "{{.Names}}"]);
      assert.match(ps.stdout, /^keeper$/m, `round ${i}: keeper survived (${ps.stderr})`);
      survived++;
    }
    assert.equal(survived, ROUNDS);
    // Everything still works afterwards.
    const r = await d.docker(["run", "--rm", "busybox", "echo", "alive"]);
    assert.equal(r.stdout, "alive\n");
    const cp = await d.docker(["exec", "runner", "true"]);
    assert.equal(cp.code, 0, `the copy target is not left frozen: ${cp.stderr}`);
    await d.docker(["rm", "-f", "runner", ...Array.from({ length: ROUNDS }, (_v, i) => `bg${i}`)]);
  });
});
