import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram, locateCommand } from "../program.js";
import { buildUpdateConfig, parseCpus, parseRestart } from "./update.js";

describe("berth update: flags → UpdateConfig", () => {
  it("sends docker's body: every resource field, zero for the flags not given, no pids limit unless set", () => {
    assert.deepEqual(buildUpdateConfig({ memory: "64m", memorySwap: "-1", cpus: "1.5", pidsLimit: "20", restart: "on-failure:3" }), {
      BlkioWeight: 0,
      CpusetCpus: "",
      CpusetMems: "",
      CpuShares: 0,
      Memory: 64 * 1024 * 1024,
      MemoryReservation: 0,
      MemorySwap: -1,
      CpuPeriod: 0,
      CpuQuota: 0,
      NanoCpus: 1.5e9,
      PidsLimit: 20,
      RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 },
    });
    const b = buildUpdateConfig({ cpuShares: "512", cpusetCpus: "0", blkioWeight: "300", memoryReservation: "16m", pidsLimit: "0" });
    assert.equal(b["PidsLimit"], undefined);
    assert.deepEqual(b["RestartPolicy"], { Name: "", MaximumRetryCount: 0 });
    assert.equal(b["BlkioWeight"], 300);
    assert.equal(b["MemoryReservation"], 16 * 1024 * 1024);
  });

  it("refuses malformed values the way docker's flag parsing does", () => {
    assert.throws(() => buildUpdateConfig({ memory: "lots" }), { message: `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'` });
    assert.throws(() => buildUpdateConfig({ cpuShares: "x" }), { message: `invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax` });
    assert.throws(() => buildUpdateConfig({ blkioWeight: "70000" }), /value out of range/);
    assert.throws(() => parseCpus("abc"), /failed to parse abc as a rational number/);
    assert.throws(() => parseCpus("0.0000000001"), /value is too precise/);
    assert.equal(parseCpus("0.5"), 5e8);
    assert.equal(parseCpus(".25"), 2.5e8);
    assert.equal(parseCpus("2"), 2e9);
  });

  it("parses restart policies loosely (the daemon checks the name)", () => {
    assert.deepEqual(parseRestart("always"), { Name: "always", MaximumRetryCount: 0 });
    assert.deepEqual(parseRestart("bogus:2"), { Name: "bogus", MaximumRetryCount: 2 });
    assert.throws(() => parseRestart(":2"), /no policy provided before colon/);
    assert.throws(() => parseRestart("on-failure:x"), /maximum retry count must be an integer/);
  });

  it("is a top-level command and a container subcommand", async () => {
    for (const args of [["update", "-m", "64m", "--pids-limit", "9", "a", "b"], ["container", "update", "-m", "64m", "--pids-limit", "9", "a", "b"]]) {
      const program = buildProgram();
      const { cmd } = locateCommand(program, args);
      assert.ok(cmd);
      let captured: unknown[] = [];
      (cmd as Command).action((...a: unknown[]) => {
        captured = a.slice(0, -1);
      });
      await program.parseAsync(args, { from: "user" });
      assert.deepEqual(captured, [["a", "b"], { memory: "64m", pidsLimit: "9" }]);
    }
  });
});
