import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { emptyStats, parsePsOutput, validatePsArgs } from "./stats.js";

describe("docker top and stats helpers", () => {
  it("keeps only the container's processes from ps output, joining the command's spaces", () => {
    const out = `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 12:00 ?        00:00:01 /sbin/init
root        4242    4200  0 12:01 ?        00:00:00 sleep 60
root        4243    4242  0 12:01 ?        00:00:00 sh -c echo  hi
`;
    assert.deepEqual(parsePsOutput(out, [4242, 4243]), {
      Titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
      Processes: [
        ["root", "4242", "4200", "0", "12:01", "?", "00:00:00", "sleep 60"],
        ["root", "4243", "4242", "0", "12:01", "?", "00:00:00", "sh -c echo hi"],
      ],
    });
  });

  it("keeps thread lines (PID '-') under a container process", () => {
    const out = "PID TID CMD\n10 - app\n- 10 -\n- 11 -\n20 - other\n- 20 -\n";
    assert.deepEqual(parsePsOutput(out, [10]).Processes, [["10", "-", "app"], ["-", "10", "-"], ["-", "11", "-"]]);
  });

  it("needs a PID column and refuses to redefine it", () => {
    assert.throws(() => parsePsOutput("USER CMD\nroot x\n", [1]), /Couldn't find PID field in ps output/);
    assert.throws(() => validatePsArgs("-o user= PID"), /specifying "user=PID" is not allowed/);
    validatePsArgs("-o pid= PID");
    validatePsArgs("aux");
  });

  it("gives a stopped container Docker's zeroed sample", () => {
    const s = emptyStats({ Id: "abc", Name: "/x" });
    assert.equal(s.read, "0001-01-01T00:00:00Z");
    assert.deepEqual(s["memory_stats"], {});
    assert.deepEqual(s["pids_stats"], {});
    assert.equal(s["name"], "/x");
  });
});
