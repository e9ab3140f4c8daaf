import { test } from "node:test";
import assert from "node:assert/strict";
import { IpServer } from "./ipserver.js";

const skip = process.getuid?.() === 0 ? false : "needs root (ip)";

test("runs batches in one long-lived ip process and attributes failures to their request", { skip }, async () => {
  const s = new IpServer();
  try {
    await s.batch(["link show dev lo", "addr show dev lo"]);
    await assert.rejects(s.batch(["link show dev lo", "link show dev berth-no-such-if0"]), /does not exist|Cannot find device/);
    // The server survives a failed line, and a later request is not blamed for it.
    await Promise.all([s.batch(["link show dev lo"]), s.batch(["route show table main"])]);
  } finally {
    s.close();
  }
});
