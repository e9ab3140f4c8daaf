import { test } from "node:test";
import assert from "node:assert/strict";
import { linkEnv } from "./linkenv.js";

test("legacy link variables: name, the lowest port, every port, and the target's environment but HOME and PATH", () => {
  const env = linkEnv({
    parentName: "/web",
    alias: "my-db",
    ip: "172.17.0.5",
    exposedPorts: ["5432/tcp", "53/udp", "53/tcp"],
    env: ["PATH=/usr/bin", "HOME=/root", "POSTGRES_DB=app", "EMPTY=", "junk"],
  });
  assert.deepEqual(env, [
    "MY_DB_PORT=tcp://172.17.0.5:53",
    "MY_DB_PORT_53_TCP=tcp://172.17.0.5:53",
    "MY_DB_PORT_53_TCP_ADDR=172.17.0.5",
    "MY_DB_PORT_53_TCP_PORT=53",
    "MY_DB_PORT_53_TCP_PROTO=tcp",
    "MY_DB_PORT_53_UDP=udp://172.17.0.5:53",
    "MY_DB_PORT_53_UDP_ADDR=172.17.0.5",
    "MY_DB_PORT_53_UDP_PORT=53",
    "MY_DB_PORT_53_UDP_PROTO=udp",
    "MY_DB_PORT_5432_TCP=tcp://172.17.0.5:5432",
    "MY_DB_PORT_5432_TCP_ADDR=172.17.0.5",
    "MY_DB_PORT_5432_TCP_PORT=5432",
    "MY_DB_PORT_5432_TCP_PROTO=tcp",
    "MY_DB_NAME=/web/my-db",
    "MY_DB_ENV_POSTGRES_DB=app",
    "MY_DB_ENV_EMPTY=",
  ]);
  assert.deepEqual(linkEnv({ parentName: "/a", alias: "b", ip: "10.0.0.2", exposedPorts: [], env: [] }), ["B_NAME=/a/b"]);
});
