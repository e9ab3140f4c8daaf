import type { AllowEntry, Scenario } from "../scenario.js";

export const scenarios: Scenario[] = [
  {
    // Cluster volumes (API 1.42+): dockerd 20.10 has no such route, whatever the version prefix.
    name: "volumes/put-cluster-volume-is-404",
    steps: [
      { api: "POST /volumes/create", body: { Name: "cv" }, compare: "none" },
      { api: "PUT /volumes/cv", body: { Spec: {} } },
      { api: "PUT /volumes/cv", body: { Spec: {} }, unversioned: true },
      { api: "PUT /v1.42/volumes/cv", body: { Spec: {} }, unversioned: true },
      { api: "PUT /volumes/nosuch", query: { version: 1 }, body: { Spec: { Availability: "active" } } },
    ],
  },
  {
    name: "session/without-upgrade-is-400",
    steps: [
      { api: "POST /session" },
      { api: "POST /session", unversioned: true, headers: { "X-Docker-Expose-Session-Uuid": "abc" } },
    ],
  },
  {
    name: "session/h2c-upgrade",
    steps: [{ api: "POST /session", headers: { Connection: "Upgrade", Upgrade: "h2c", "X-Docker-Expose-Session-Uuid": "s1", "X-Docker-Expose-Session-Name": "t" }, readMs: 1000 }],
  },
];

export const allowlist: AllowEntry[] = [
  {
    scenario: "session/h2c-upgrade",
    where: "*",
    why: "dockerd 20.10 always runs BuildKit's session manager: it answers 101 h2c and opens an HTTP/2 (gRPC) session over the connection. Berth has no BuildKit, so a session would serve nothing: it refuses with 501 and says to use the legacy builder",
  },
];
