import type { AllowEntry, Scenario, Step } from "../scenario.js";

const prune = (query: Record<string, string | number>): Step => ({ api: "POST /build/prune", query });
const f = (o: unknown): string => JSON.stringify(o);

export const scenarios: Scenario[] = [
  {
    name: "buildprune/nothing-to-prune",
    steps: [
      prune({}),
      prune({ all: 1 }),
      prune({ "keep-storage": 1000, all: "true" }),
      prune({ filters: f({ until: ["24h"] }) }),
      prune({ filters: f({ "unused-for": ["1h"], id: ["x"], label: ["a", "b"] }) }),
      prune({ filters: f({ until: { "1h": true } }) }),
    ],
  },
  {
    name: "buildprune/bad-parameters",
    steps: [
      prune({ filters: f({ bogus: ["x"] }) }),
      prune({ filters: f({ dangling: ["true"] }) }),
      prune({ filters: f({ until: ["1h"], "unused-for": ["1h"] }) }),
      prune({ filters: f({ until: ["1h", "2h"] }) }),
      prune({ filters: f({ id: ["a", "b"] }) }),
      prune({ filters: f({ until: ["bogus"] }) }),
      prune({ "keep-storage": "abc" }),
      prune({ "keep-storage": "99999999999999999999" }),
      prune({ filters: "notjson" }),
    ],
  },
];

const S500 = "dockerd 20.10 answers this bad parameter with 500 (an untyped Go error); Berth answers 400 with the same message (the client's error)";
export const allowlist: AllowEntry[] = [
  { scenario: "buildprune/bad-parameters", step: 5, where: "status", why: S500 },
  { scenario: "buildprune/bad-parameters", step: 6, where: "status", why: S500 },
  { scenario: "buildprune/bad-parameters", step: 7, where: "status", why: S500 },
  { scenario: "buildprune/bad-parameters", step: 8, where: "*", why: "filters that are not JSON: dockerd 20.10 answers 500 with Go's decoder message; Berth answers 400 in its own words" },
];
