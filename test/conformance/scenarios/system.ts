import type { Scenario } from "../scenario.js";

export const scenarios: Scenario[] = [
  { name: "system/ping", steps: [{ api: "GET /_ping" }, { api: "HEAD /_ping" }, { api: "GET /_ping", unversioned: true }, { api: "HEAD /_ping", unversioned: true }] },
  {
    name: "system/version",
    steps: [{ api: "GET /version", shape: ["Version", "GitCommit", "GoVersion", "KernelVersion", "BuildTime", "Platform", "Components"] }],
  },
];
