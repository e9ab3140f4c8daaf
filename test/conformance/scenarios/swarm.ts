import type { AllowEntry, Scenario } from "../scenario.js";

/**
 * Swarm mode, plugins and their friends are outside Berth's mission, but
 * clients call them: the answers must be a node's that is not in a swarm and
 * has no plugins. Nothing here may make the reference join or init a swarm:
 * init and join are sent only with bodies that do not decode.
 */
export const scenarios: Scenario[] = [
  {
    name: "swarm/not-a-manager",
    steps: [
      { api: "GET /swarm" },
      { api: "GET /swarm/unlockkey" },
      { api: "POST /swarm/unlock", body: { UnlockKey: "SWMKEY-1-x" } },
      { api: "POST /swarm/update", query: { version: 1 }, body: {} },
      { api: "POST /swarm/leave" },
      { api: "POST /swarm/leave", query: { force: 1 } },
      { api: "POST /swarm/init", body: "{not json" },
      { api: "POST /swarm/join", body: "{not json" },
    ],
  },
  {
    name: "swarm/nodes-services-tasks",
    steps: [
      { api: "GET /nodes" },
      { api: "GET /nodes", query: { filters: JSON.stringify({ role: ["manager"] }) } },
      { api: "GET /nodes/x1" },
      { api: "DELETE /nodes/x1", query: { force: 1 } },
      { api: "POST /nodes/x1/update", query: { version: 1 }, body: {} },
      { api: "GET /services" },
      { api: "GET /services", query: { status: 1, filters: JSON.stringify({ name: ["a"] }) } },
      { api: "POST /services/create", body: { Name: "s1", TaskTemplate: { ContainerSpec: { Image: "busybox" } } } },
      { api: "GET /services/s1", query: { insertDefaults: 1 } },
      { api: "DELETE /services/s1" },
      { api: "POST /services/s1/update", query: { version: 1 }, body: {} },
      { api: "GET /services/s1/logs", query: { stdout: 1 } },
      { api: "GET /tasks" },
      { api: "GET /tasks/t1" },
      { api: "GET /tasks/t1/logs", query: { stdout: 1 } },
    ],
  },
  {
    name: "swarm/secrets-configs",
    steps: [
      { api: "GET /secrets" },
      { api: "POST /secrets/create", body: { Name: "s", Data: "eA==" } },
      { api: "GET /secrets/s1" },
      { api: "DELETE /secrets/s1" },
      { api: "POST /secrets/s1/update", query: { version: 1 }, body: {} },
      { api: "GET /configs" },
      { api: "POST /configs/create", body: { Name: "c", Data: "eA==" } },
      { api: "GET /configs/c1" },
      { api: "DELETE /configs/c1" },
      { api: "POST /configs/c1/update", query: { version: 1 }, body: {} },
    ],
  },
  {
    name: "plugins/none-installed",
    steps: [
      { api: "GET /plugins" },
      { api: "GET /plugins", query: { filters: JSON.stringify({ enabled: ["true"] }) } },
      { api: "GET /plugins/nosuch/json" },
      { api: "DELETE /plugins/nosuch", query: { force: 1 } },
      { api: "POST /plugins/nosuch/enable", query: { timeout: 1 } },
      { api: "POST /plugins/nosuch/disable", query: { force: 1 } },
      { api: "POST /plugins/nosuch/push" },
      { api: "POST /plugins/nosuch/set", body: ["DEBUG=1"] },
      { api: "POST /plugins/nosuch/upgrade", query: { remote: "127.0.0.1:1/p" }, body: [] },
      { api: "GET /plugins/privileges", query: { remote: "127.0.0.1:1/p" } },
      { api: "POST /plugins/pull", query: { remote: "127.0.0.1:1/p", name: "p" }, body: [] },
      { api: "POST /plugins/create", query: { name: "p2" }, body: "not a tar", headers: { "Content-Type": "application/x-tar" } },
      { cli: ["plugin", "ls"] },
      { cli: ["node", "ls"] },
      { cli: ["service", "ls"] },
    ],
  },
];

const NO_PLUGINS =
  "Berth has no managed plugins: installing one (privileges, pull, create) answers 501 \"Berth does not support plugins\" where dockerd 20.10 tries the registry or the archive and answers 200/500 with the fault it met";

export const allowlist: AllowEntry[] = [
  { scenario: "swarm/not-a-manager", step: 6, where: "body.message", why: "a body that does not decode: both answer 400, each with its own JSON decoder's wording (Go's / JavaScript's)" },
  { scenario: "swarm/not-a-manager", step: 7, where: "body.message", why: "a body that does not decode: both answer 400, each with its own JSON decoder's wording (Go's / JavaScript's)" },
  { scenario: "plugins/none-installed", step: 9, where: "*", why: NO_PLUGINS },
  { scenario: "plugins/none-installed", step: 10, where: "*", why: NO_PLUGINS },
  { scenario: "plugins/none-installed", step: 11, where: "*", why: NO_PLUGINS },
];
