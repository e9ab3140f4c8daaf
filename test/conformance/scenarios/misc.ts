import type { AllowEntry, Scenario, Step } from "../scenario.js";
import { tarOf } from "./archive.js";

const f = (o: Record<string, string[]>): string => JSON.stringify(o);
const ctr = (name: string, v: string, cmd: string[], body: Record<string, unknown> = {}): Step => ({
  api: "POST /containers/create",
  query: { name },
  body: { Image: "busybox", Cmd: cmd, ...body },
  save: { [v]: "Id" },
  compare: "status",
});
const TAR = { "Content-Type": "application/x-tar" };
/** Build steps whose lines name fresh image and container ids: those are normalised, their order is not. */
const build = (query: Record<string, string | number>, dockerfile: string): Step => ({ api: "POST /build", query, body: tarOf("Dockerfile", dockerfile), headers: TAR });

export const scenarios: Scenario[] = [
  {
    name: "events/run-stop-rm-with-filters",
    steps: [
      { mark: "t0" },
      { api: "POST /volumes/create", body: { Name: "evv" }, compare: "status" },
      { api: "POST /networks/create", body: { Name: "evn" }, save: { n: "Id" }, compare: "status" },
      ctr("evc", "c", ["sleep", "600"], { Labels: { k: "v" }, HostConfig: { Binds: ["evv:/data"], NetworkMode: "evn" } }),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "POST /containers/{{c}}/stop", query: { t: 0 }, compare: "status" },
      { api: "DELETE /containers/{{c}}", compare: "status" },
      { api: "DELETE /volumes/evv", compare: "status" },
      { api: "DELETE /networks/evn", compare: "status" },
      { mark: "t1" },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ type: ["container"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ type: ["volume"] }) } },
      // Network events up to the connect: dockerd 20.10 logs a network's disconnect and destroy late now and then (after the call answered), a race of its own.
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ type: ["network"], event: ["create", "connect"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ container: ["evc"], event: ["stop", "destroy"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ label: ["k=v"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ volume: ["evv"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ network: ["evn"], event: ["create", "connect", "start"] }) } },
      { api: "GET /events", query: { since: "{{t1}}", until: "{{t0}}" }, ignore: ["message"] },
      { api: "GET /events", query: { since: "bogus", until: "{{t1}}" } },
      // dockerd ignores an unknown filter (container events only: their order is defined).
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ bogus: ["x"], type: ["container"] }) } },
      { api: "GET /events", query: { since: "{{t0}}", until: "{{t1}}", filters: f({ type: ["bogus"] }) } },
      { cli: ["events", "--since", "{{t0}}", "--until", "{{t1}}", "--filter", "type=container", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"] },
    ],
  },
  {
    name: "system/df-with-volumes",
    steps: [
      { api: "POST /volumes/create", body: { Name: "dfa" }, compare: "status" },
      { api: "POST /volumes/create", body: { Name: "dfb" }, compare: "status" },
      ctr("dfc", "c", ["sh", "-c", "echo hello > /data/f"], { HostConfig: { Binds: ["dfa:/data"] } }),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "POST /containers/{{c}}/wait", compare: "status" },
      { api: "GET /system/df", unordered: true, ignore: ["Images", "Containers", "LayersSize", "Volumes.*.CreatedAt"] },
      { api: "GET /system/df", query: { type: "volume" }, unordered: true, ignore: ["Images", "Containers", "LayersSize", "Volumes.*.CreatedAt"] },
    ],
  },
  {
    name: "images/save-load-round-trip",
    steps: [
      ctr("sl", "c", ["true"]),
      { api: "POST /images/{{image}}/tag", query: { repo: "rt", tag: "1" }, compare: "status" },
      { api: "GET /images/get", query: { names: "rt:1" } },
      { api: "GET /images/get", query: { names: "nosuch:1" } },
      { cli: ["save", "-o", "/tmp/bconf-save-{{c}}.tar", "rt:1"] },
      { api: "DELETE /images/rt:1" },
      { cli: ["load", "-i", "/tmp/bconf-save-{{c}}.tar"] },
      { api: "GET /images/rt:1/json", ignore: ["Metadata", "RootFS.Layers"] },
      { api: "POST /images/load", query: { quiet: 1 }, body: "not a tar", headers: TAR },
      { api: "POST /images/load", body: tarOf("junk.txt", "x"), headers: TAR },
      { cli: ["run", "--rm", "-v", "/tmp:/host", "busybox", "rm", "/host/bconf-save-{{c}}.tar"], compare: "status" },
      // A name without a tag is looked up as an image ("No such image"), a tag as a reference.
      { api: "GET /images/get", query: { names: "nosuch" } },
      { api: "GET /images/nosuch:1/get" },
      { api: "GET /images/get", query: { names: "Bad Name" } },
    ],
  },
  {
    name: "build/legacy-builder",
    steps: [
      build({ t: "bt:1", rm: 1 }, "FROM busybox\nENV A=1\nLABEL x=y\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"),
      { api: "GET /images/bt:1/json", ignore: ["Id", "Created", "Metadata", "Container", "ContainerConfig.Hostname", "Parent", "RootFS", "Size", "VirtualSize", "GraphDriver"] },
      { ...build({ t: "bt:2", q: 1 }, "FROM busybox\nLABEL only=label\n"), ignore: ["stream"] },
      build({}, "FROM busybox\nBOGUS instruction\n"),
      // A registry on loopback that nobody serves: the pull fails without leaving the host.
      build({}, "FROM 127.0.0.1:1/nosuch:zz\n"),
      build({}, "FROM busybox\nRUN exit 7\n"),
      build({ t: "Bad:Tag" }, "FROM busybox\n"),
      build({ dockerfile: "Nope" }, "FROM busybox\n"),
      { api: "POST /build", body: "", headers: TAR },
      { api: "POST /build", query: { buildargs: "{bad" }, body: tarOf("Dockerfile", "FROM busybox\n"), headers: TAR },
      build({ t: "ok:bad tag" }, "FROM busybox\n"),
      build({ t: `ok@sha256:${"a".repeat(64)}` }, "FROM busybox\n"),
    ],
  },
  {
    // Each build step's image is the parent of the next: history names them all, `images -a` lists
    // them (plain `images` does not), and removing the tagged image removes its untagged parents.
    name: "build/parent-chain",
    steps: [
      { ...build({ t: "bp:1", rm: 1 }, "FROM busybox\nENV A=1\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"), compare: "status" },
      { api: "GET /images/bp:1/history", ignore: ["*.Created"] },
      { cli: ["image", "inspect", "--format", "{{.Parent}}", "bp:1"] },
      { api: "GET /images/json", query: { all: 1 }, unordered: true },
      { api: "GET /images/json", unordered: true },
      { api: "DELETE /images/bp:1" },
      { api: "GET /images/json", query: { all: 1 }, unordered: true },
    ],
  },
  {
    // dockerd's legacy builder finds its cache among the images in the store: a step whose image was removed runs
    // again, one whose image stays (the parent of another build's step) is a hit, and `builder prune` changes neither.
    // History lists each step's image id: the same id as before (a hit) normalises to the same placeholder.
    name: "build/cache-follows-images",
    steps: [
      { ...build({ t: "bc:1", rm: 1 }, "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"), compare: "status" },
      { api: "GET /images/bc:1/history", ignore: ["*.Created"] },
      { ...build({ t: "bc:2", rm: 1 }, "FROM busybox\nRUN echo one > /one\nRUN echo three > /three\n"), compare: "status" },
      { api: "GET /images/bc:2/history", ignore: ["*.Created"] },
      { api: "DELETE /images/bc:1" },
      { ...build({ t: "bc:1", rm: 1 }, "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"), compare: "status" },
      { api: "GET /images/bc:1/history", ignore: ["*.Created"] },
      { api: "POST /build/prune", query: { all: 1 }, compare: "status" },
      { ...build({ t: "bc:1", rm: 1 }, "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"), compare: "status" },
      { api: "GET /images/bc:1/history", ignore: ["*.Created"] },
      // From here the ids each engine makes are numbered apart (Berth's RUN layer of the same files is the same
      // layer again, dockerd's is not): the deletions are compared by what they list, not by which ids.
      { api: "DELETE /images/bc:1", ignore: ["*.Deleted"] },
      { api: "DELETE /images/bc:2", ignore: ["*.Deleted"] },
      { ...build({ t: "bc:1", rm: 1 }, "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"), compare: "status" },
      { api: "GET /images/bc:1/history", ignore: ["*.Created", "*.Id"] },
      { api: "DELETE /images/bc:1", ignore: ["*.Deleted"] },
    ],
  },
  {
    name: "images/commit-changes",
    steps: [
      ctr("cm", "c", ["sh", "-c", "echo hi > /committed"]),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "POST /containers/{{c}}/wait", compare: "status" },
      { api: "POST /commit", query: { container: "{{c}}", repo: "cmt", tag: "v1", comment: "a comment", author: "me", changes: "ENV B=2\nCMD [\"cat\",\"/committed\"]" }, save: { i: "Id" } },
      { api: "GET /images/cmt:v1/json", ignore: ["Created", "Metadata", "ContainerConfig.Hostname", "RootFS", "Size", "VirtualSize", "GraphDriver", "Container"] },
      { api: "POST /commit", query: { container: "nosuch" } },
      { api: "POST /commit", query: { container: "{{c}}", repo: "Bad Repo" } },
      { api: "POST /commit", query: { container: "{{c}}", changes: "BOGUS x" } },
      { api: "POST /commit", query: { container: "{{c}}" }, body: { Env: ["FROM_BODY=1"] }, save: { j: "Id" } },
      { api: "GET /images/{{j}}/json", ignore: ["Created", "Metadata", "ContainerConfig.Hostname", "RootFS", "Size", "VirtualSize", "GraphDriver", "Container"] },
      // dockerd makes the image before it parses the name: these leave an untagged image.
      { api: "POST /commit", query: { container: "{{c}}", repo: "ok", tag: "bad tag" } },
      { api: "POST /commit", query: { container: "{{c}}", repo: `ok@sha256:${"a".repeat(64)}` } },
    ],
  },
];

const GO_DECODER = "the message of a body that does not decode is each engine's own parser's (Go's encoding/json vs JSON.parse); both answer 400";
const BAD_INPUT_500 = "dockerd 20.10 answers this bad input with 500; Berth answers 400, since the request is at fault";
const BAD_NAME_400 =
  "dockerd 20.10 answers a malformed name or tag with 500 (an untyped Go error); Berth answers 400 with the same message: bad input is the client's error (docs/security.md, \"Bad API input\"; moby 23+ answers 400)";
const DAEMON_VERSION = "by nature: the version of the daemon that made the image (docker_version; Berth writes its own)";
const STEP_FRAMING =
  "the legacy builder's stream: dockerd 20.10 sends each \"Step n/m : …\" and its newline as two messages and says \"Removing intermediate container\"; Berth sends one message per line and uses moby 23+'s \" ---> Removed intermediate container\" (clients print the concatenation)";

export const allowlist: AllowEntry[] = [
  // events
  { scenario: "events/run-stop-rm-with-filters", step: 18, where: "status", why: BAD_INPUT_500 },
  // build
  { scenario: "build/legacy-builder", step: 0, where: "body.jsonLines*", why: STEP_FRAMING },
  { scenario: "build/legacy-builder", step: 4, where: "body.jsonLines*", why: STEP_FRAMING },
  { scenario: "build/legacy-builder", step: 5, where: "body.jsonLines*", why: STEP_FRAMING },
  { scenario: "build/legacy-builder", step: 1, where: "body.DockerVersion", why: DAEMON_VERSION },
  {
    scenario: "build/legacy-builder",
    step: 3,
    where: "body.message",
    why: "Berth parses Dockerfiles with moby 23+'s parser wording (\"dockerfile parse error on line 2: …; expected one of …\"); dockerd 20.10 says \"dockerfile parse error line 2: unknown instruction: BOGUS\"",
  },
  { scenario: "build/legacy-builder", step: 6, where: "status", why: BAD_NAME_400 },
  { scenario: "build/legacy-builder", step: 7, where: "status", why: BAD_INPUT_500 },
  { scenario: "build/legacy-builder", step: 8, where: "status", why: BAD_INPUT_500 },
  { scenario: "build/legacy-builder", step: 9, where: "body.message", why: GO_DECODER },
  { scenario: "build/legacy-builder", step: 10, where: "status", why: BAD_NAME_400 },
  { scenario: "build/legacy-builder", step: 11, where: "status", why: BAD_NAME_400 },
  // save / load
  { scenario: "images/save-load-round-trip", step: 13, where: "status", why: BAD_NAME_400 },
  {
    scenario: "images/save-load-round-trip",
    step: 8,
    where: "*",
    why: "Berth reads the archive before it answers and refuses a broken one with 400; dockerd 20.10 answers 200 and reports the error in the stream",
  },
  {
    scenario: "images/save-load-round-trip",
    step: 9,
    where: "*",
    why: "Berth reads the archive before it answers and refuses a broken one with 400; dockerd 20.10 answers 200 and reports the error in the stream",
  },
  // commit
  { scenario: "images/commit-changes", where: "body.DockerVersion", why: DAEMON_VERSION },
  { scenario: "images/commit-changes", step: 6, where: "status", why: BAD_NAME_400 },
  { scenario: "images/commit-changes", step: 10, where: "status", why: BAD_NAME_400 },
];
