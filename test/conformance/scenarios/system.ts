import type { AllowEntry, Scenario } from "../scenario.js";

export const scenarios: Scenario[] = [
  { name: "system/ping", steps: [{ api: "GET /_ping" }, { api: "HEAD /_ping" }, { api: "GET /_ping", unversioned: true }, { api: "HEAD /_ping", unversioned: true }] },
  {
    name: "system/version",
    steps: [{ api: "GET /version", shape: ["Version", "GitCommit", "GoVersion", "KernelVersion", "BuildTime", "Platform", "Components"] }],
  },
  {
    name: "system/version-negotiation-errors",
    steps: [
      { api: "GET /v1.99/version", unversioned: true },
      { api: "GET /v1.11/version", unversioned: true },
      { api: "GET /nosuchroute" },
      { api: "GET /nosuchroute", unversioned: true },
      { api: "PUT /containers/json" },
    ],
  },
  { name: "system/info", steps: [{ api: "GET /info", shape: ["body"] }] },
  {
    name: "system/df",
    steps: [
      { api: "POST /containers/create", query: { name: "dfc" }, body: { Image: "busybox", Cmd: ["true"] }, save: { c: "Id" }, compare: "status" },
      { api: "GET /system/df", ignore: ["Images.*.Created", "Images.*.SharedSize", "Containers.*.Created", "Containers.*.SizeRw", "Containers.*.SizeRootFs", "LayersSize"] },
    ],
  },
  {
    name: "system/auth-errors",
    steps: [
      { api: "POST /auth", body: "{not json" },
      { api: "POST /auth", body: { username: "u", password: "p", serveraddress: "127.0.0.1:1" } },
    ],
  },
  {
    name: "system/events-since-until",
    steps: [
      { mark: "t0" },
      { api: "POST /containers/create", query: { name: "ev1" }, body: { Image: "busybox", Cmd: ["true"], Labels: { a: "b" } }, save: { c: "Id" }, compare: "status" },
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "POST /containers/{{c}}/wait", compare: "status" },
      { api: "DELETE /containers/{{c}}", compare: "status" },
      { mark: "t1" },
      // Container events only: dockerd 20.10 sends the network disconnect after the wait answers (a race of its own).
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: JSON.stringify({ type: ["container"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: JSON.stringify({ event: ["start", "die"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: JSON.stringify({ type: ["image"] }) } },
      { api: "GET /events", query: { filters: "{bad" } },
    ],
  },
];

const MALFORMED = "dockerd 20.10 answers malformed JSON with 500 and Go's decoder message; Berth answers 400 (bad input is the client's error; moby 23+ also says 400)";

export const allowlist: AllowEntry[] = [
  { scenario: "system/version-negotiation-errors", step: 0, where: "body.message", why: "the maximum API version in the message is each daemon's own (1.41 / 1.47)" },
  { scenario: "system/version-negotiation-errors", step: 1, where: "body", why: "the minimum API version in the message is each daemon's own (1.12 / 1.24)" },
  { scenario: "system/info", where: "body.DriverStatus.length", why: "Berth reports overlay2's status as moby 24+ does, with \"Using metacopy\"" },
  { scenario: "system/info", where: "body.Plugins.Network.length", why: "Berth has the bridge, host and null network drivers only (no ipvlan, macvlan, overlay)" },
  { scenario: "system/info", where: "body.Plugins.Log.length", why: "Berth has the journald, json-file, local and syslog log drivers (and none) only" },
  { scenario: "system/info", where: "body.RegistryConfig.InsecureRegistryCIDRs.length", why: "Berth also trusts ::1/128 as moby 26+ does (plain HTTP to a registry on IPv6 loopback)" },
  { scenario: "system/info", where: "body.Runtimes*", why: "Berth runs OCI runtimes directly (runc, crun), not through containerd's shims" },
  { scenario: "system/auth-errors", step: 0, where: "*", why: MALFORMED },
  { scenario: "system/events-since-until", step: 9, where: "*", why: MALFORMED },
];
