import type { AllowEntry, Scenario } from "../scenario.js";

export const scenarios: Scenario[] = [
  {
    name: "images/list-and-filters",
    steps: [
      { api: "POST /images/busybox/tag", query: { repo: "example.org/team/app", tag: "v1" } },
      { api: "POST /images/busybox/tag", query: { repo: "localapp" } },
      { api: "GET /images/json" },
      { api: "GET /images/json", query: { all: 1 } },
      { api: "GET /images/json", query: { digests: 1 } },
      { api: "GET /images/json", query: { filters: JSON.stringify({ reference: ["localapp"] }) } },
      { api: "GET /images/json", query: { filters: JSON.stringify({ reference: ["example.org/*/*"] }) } },
      { api: "GET /images/json", query: { filters: JSON.stringify({ dangling: ["true"] }) } },
      { api: "GET /images/json", query: { filters: JSON.stringify({ label: ["a=b"] }) } },
      { api: "GET /images/json", query: { filters: JSON.stringify({ bogus: ["x"] }) } },
      { api: "GET /images/json", query: { filters: JSON.stringify({ dangling: ["maybe"] }) } },
      // The CLI orders the rows of one image's tags as it likes.
      { cli: ["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}} {{.Size}}"], unordered: true },
    ],
  },
  {
    name: "images/inspect-history",
    steps: [
      { api: "GET /images/busybox/json" },
      { api: "GET /images/busybox:latest/json", compare: "status" },
      { api: "GET /images/sha256:{{image}}/json", compare: "status" },
      { api: "GET /images/{{image:12}}/json", compare: "status" },
      { api: "GET /images/nosuch/json" },
      { api: "GET /images/nosuch:1.0/json" },
      { api: "GET /images/busybox/history" },
      { api: "GET /images/nosuch/history" },
      { api: "GET /images/Bad_Name/json" },
    ],
  },
  {
    name: "images/tag-errors",
    steps: [
      { api: "POST /images/busybox/tag", query: { repo: "Bad_Repo" } },
      { api: "POST /images/busybox/tag", query: { repo: "ok", tag: "bad tag" } },
      { api: "POST /images/nosuch/tag", query: { repo: "x2" } },
      { api: "POST /images/busybox/tag" },
      { api: "POST /images/busybox/tag", query: { repo: "again", tag: "v1" } },
      { api: "POST /images/busybox/tag", query: { repo: "again", tag: "v1" } },
      // dockerd checks an upper-case path before the grammar, and refuses a 64-hex name as an id.
      { api: "POST /images/busybox/tag", query: { repo: "Bad Repo" } },
      { api: "POST /images/busybox/tag", query: { repo: "a".repeat(64) } },
      { api: "POST /images/busybox/tag", query: { repo: "ok", tag: " " } },
      { api: "POST /images/busybox/tag", query: { repo: `ok@sha256:${"a".repeat(64)}` } },
    ],
  },
  {
    name: "images/remove",
    steps: [
      { api: "POST /images/busybox/tag", query: { repo: "extra", tag: "one" } },
      { api: "DELETE /images/extra:one" },
      { api: "DELETE /images/extra:one" },
      { api: "POST /containers/create", query: { name: "user1" }, body: { Image: "busybox", Cmd: ["true"] }, save: { c: "Id" } },
      { api: "DELETE /images/busybox" },
      { api: "DELETE /images/{{image}}" },
      { api: "POST /images/busybox/tag", query: { repo: "extra", tag: "two" } },
      { api: "DELETE /images/{{image}}" },
      { api: "DELETE /containers/{{c}}" },
      { api: "DELETE /images/{{image}}" },
      { api: "DELETE /images/{{image}}", query: { force: 1 } },
      { api: "GET /images/json" },
      { api: "DELETE /images/nosuch" },
    ],
  },
  {
    name: "images/prune",
    steps: [
      { api: "POST /images/prune" },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ dangling: ["false"] }) } },
      { api: "GET /images/json" },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ bogus: ["1"] }) } },
    ],
  },
  {
    // dockerd 20.10's ImagesPrune applies until, label and label! (and checks dangling's value) before it removes.
    name: "images/prune-filters",
    steps: [
      { api: "POST /containers/create", query: { name: "pf1" }, body: { Image: "busybox", Cmd: ["true"] }, save: { c: "Id" } },
      { api: "POST /commit", query: { container: "pf1", repo: "prunekeep", tag: "a", changes: "LABEL keep=yes" }, ignore: ["Id"] },
      { api: "POST /commit", query: { container: "pf1", repo: "prunedrop", tag: "b", changes: "LABEL drop=yes" }, ignore: ["Id"] },
      { api: "DELETE /containers/{{c}}" },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ dangling: ["false"], label: ["drop=yes"] }) }, ignore: ["ImagesDeleted.*.Deleted", "SpaceReclaimed"] },
      { api: "GET /images/prunedrop:b/json" },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ dangling: ["false"], label: ["keep=yes"], until: ["1h"] }) } },
      { api: "GET /images/prunekeep:a/json", compare: "status" },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ dangling: ["0"], "label!": ["keep=yes"], label: ["keep"] }) } },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ dangling: ["maybe"] }) } },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ until: ["bogus"] }) } },
      { api: "POST /images/prune", query: { filters: JSON.stringify({ until: ["1h", "2h"] }) } },
      { api: "DELETE /images/prunekeep:a", compare: "status" },
    ],
  },
  {
    name: "images/commit",
    steps: [
      { api: "POST /containers/create", query: { name: "cm1" }, body: { Image: "busybox", Cmd: ["sh", "-c", "echo hi > /hello"] }, save: { c: "Id" } },
      { api: "POST /containers/{{c}}/start" },
      { api: "POST /containers/{{c}}/wait" },
      { api: "POST /commit", query: { container: "cm1", repo: "committed", tag: "v1", comment: "c1", author: "me", changes: "ENV X=1" }, save: { i: "Id" }, ignore: ["Id"] },
      { api: "GET /images/committed:v1/json", ignore: ["Id", "Created", "Container", "ContainerConfig.Hostname", "RootFS.Layers.1", "Size", "VirtualSize"] },
      { api: "GET /images/committed:v1/history", ignore: ["*.Id", "*.Created", "*.Size"] },
      { api: "POST /commit", query: { container: "nosuch" } },
    ],
  },
  {
    name: "images/save-load",
    steps: [
      { api: "GET /images/busybox/get", compare: "status" },
      { api: "GET /images/get", query: { names: "busybox" }, compare: "status" },
      { api: "GET /images/nosuch/get" },
      { cli: ["save", "-o", "/dev/null", "busybox"] },
      { api: "POST /images/load", body: "not a tar", headers: { "Content-Type": "application/x-tar" } },
      { api: "POST /images/load", query: { quiet: 1 }, body: "", headers: { "Content-Type": "application/x-tar" } },
    ],
  },
  {
    name: "images/create-errors",
    steps: [
      { api: "POST /images/create", query: { fromImage: "127.0.0.1:1/nosuch", tag: "latest" } },
      { api: "POST /images/create", query: { fromImage: "Bad_Name" } },
      { api: "POST /images/create" },
      { api: "POST /images/127.0.0.1:1/busybox/push", compare: "status" },
      { api: "POST /images/nosuch/push" },
      { api: "GET /distribution/127.0.0.1:1/nosuch/json" },
    ],
  },
];

const STATUS_500 = "dockerd 20.10 answers 500 for a malformed reference or tag (a Go error that was never typed); Berth answers 400 with the same message (the client's error: docs/security.md; moby 23+ too)";

export const allowlist: AllowEntry[] = [
  {
    scenario: "images/inspect-history",
    where: "body.message",
    why: "dockerd 20.10 wraps image inspect's not-found message twice (\"no such image: x: No such image: x:latest\"); Berth says \"No such image: x:latest\" as its history, tag and rmi do (and moby 23+); clients match \"No such image\"",
  },
  { scenario: "images/tag-errors", where: "status", why: STATUS_500 },
  { scenario: "images/prune-filters", step: 5, where: "body.message", why: "image inspect's not-found wording: see images/inspect-history" },
  {
    scenario: "images/prune-filters",
    where: "status",
    why: "a bad or repeated `until` prune filter: dockerd 20.10 answers 500 (an untyped Go error), Berth 400 with the same message (the client's error; docs/security.md)",
  },
  { scenario: "images/commit", step: 4, where: "body.DockerVersion", why: "by nature: the version of the daemon that made the image (docker_version; Berth writes its own)" },
  { scenario: "images/save-load", step: 5, where: "body.error*", why: "the in-band error names the fault in each engine's own terms (dockerd: a file missing in its temp dir; Berth: an empty archive)" },
  { scenario: "images/create-errors", step: 2, where: "*", why: "POST /images/create with neither fromImage nor fromSrc: dockerd 20.10 answers 500 from an empty registry URL; Berth answers 400 \"either fromSrc or fromImage must be given\"" },
];
