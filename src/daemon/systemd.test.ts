import { test } from "node:test";
import assert from "node:assert/strict";
import { selectFds, takeSystemdEnv } from "./systemd.js";

test("socket activation: fds only for this pid, names from LISTEN_FDNAMES, variables removed", () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "berthd.socket:admin", NOTIFY_SOCKET: "/run/n", OTHER: "x" };
  const got = takeSystemdEnv(env, 42);
  assert.deepEqual(got, { fds: [{ fd: 3, name: "berthd.socket" }, { fd: 4, name: "admin" }], notifySocket: "/run/n" });
  assert.deepEqual(env, { OTHER: "x" });
  assert.deepEqual(takeSystemdEnv({ LISTEN_PID: "41", LISTEN_FDS: "1" }, 42).fds, []);
});

test("fd:// selects all fds, one by number (dockerd) or the named ones", () => {
  const all = [{ fd: 3, name: "a" }, { fd: 4, name: "b" }];
  assert.deepEqual(selectFds(all, ""), all);
  assert.deepEqual(selectFds(all, "*"), all);
  assert.deepEqual(selectFds(all, "4"), [{ fd: 4, name: "b" }]);
  assert.deepEqual(selectFds(all, "a"), [{ fd: 3, name: "a" }]);
  assert.throws(() => selectFds([], ""), { message: "no sockets found via socket activation: make sure the service was started by systemd" });
  assert.throws(() => selectFds(all, "7"), { message: "too few socket activated files passed in by systemd" });
  assert.throws(() => selectFds(all, "c"), /no socket activated file named c/);
});
