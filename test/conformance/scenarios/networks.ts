import type { AllowEntry, Scenario, Step } from "../scenario.js";

const net = (name: string, v: string, body: Record<string, unknown> = {}): Step => ({ api: "POST /networks/create", body: { Name: name, ...body }, save: { [v]: "Id" } });
const ctr = (name: string, v: string, body: Record<string, unknown> = {}): Step => ({
  api: "POST /containers/create",
  query: { name },
  body: { Image: "busybox", Cmd: ["sleep", "600"], ...body },
  save: { [v]: "Id" },
  compare: "status",
});
const f = (o: Record<string, string[]>): string => JSON.stringify(o);

export const scenarios: Scenario[] = [
  {
    name: "networks/create-and-inspect",
    steps: [
      net("n1", "n", {
        Driver: "bridge",
        Internal: true,
        Attachable: true,
        Labels: { team: "a" },
        Options: { "com.docker.network.bridge.enable_icc": "true" },
        IPAM: { Driver: "default", Config: [{ Subnet: "10.231.0.0/16", Gateway: "10.231.0.1", IPRange: "10.231.5.0/24" }] },
      }),
      { api: "GET /networks/{{n}}" },
      { api: "GET /networks/n1", query: { verbose: 1 } },
      { api: "GET /networks/{{n:12}}", query: { scope: "local" } },
      { api: "GET /networks/n1", query: { scope: "swarm" } },
      net("n2", "m"),
      { api: "GET /networks/n2" },
      { api: "GET /networks/bridge", ignore: ["Containers", "Options", "IPAM.Config"] },
      { api: "GET /networks/nosuch" },
    ],
  },
  {
    name: "networks/create-errors",
    steps: [
      net("dupnet", "n", { IPAM: { Config: [{ Subnet: "10.232.0.0/24" }] } }),
      { api: "POST /networks/create", body: { Name: "dupnet", CheckDuplicate: true } },
      { api: "POST /networks/create", body: { Name: "other", IPAM: { Config: [{ Subnet: "10.232.0.0/25" }] } } },
      { api: "POST /networks/create", body: { Name: "baddrv", Driver: "nosuchdriver" } },
      { api: "POST /networks/create", body: { Name: "badsub", IPAM: { Config: [{ Subnet: "10.233.0.0/33" }] } } },
      { api: "POST /networks/create", body: { Name: "badgw", IPAM: { Config: [{ Subnet: "10.234.0.0/24", Gateway: "10.235.0.1" }] } } },
      { api: "POST /networks/create", body: { Name: "badrange", IPAM: { Config: [{ Subnet: "10.236.0.0/24", IPRange: "10.237.0.0/24" }] } } },
      { api: "POST /networks/create", body: "{not json" },
      { api: "POST /networks/create", body: {} },
      { api: "POST /networks/create", body: { Name: "bridge" } },
      { api: "POST /networks/create", body: { Name: "host" } },
      { api: "POST /networks/create", body: { Name: "typo", Internal: "yes" } },
      { api: "GET /networks", query: { filters: f({ name: ["dupnet", "other", "baddrv", "badsub", "badgw", "badrange"] }) } },
    ],
  },
  {
    name: "networks/list-filters",
    steps: [
      net("la", "a", { Labels: { tier: "web" } }),
      net("lb", "b", { Labels: { tier: "db" } }),
      ctr("lc", "c", { HostConfig: { NetworkMode: "la" } }),
      { api: "GET /networks", query: { filters: f({ name: ["la"] }) }, unordered: true },
      { api: "GET /networks", query: { filters: f({ id: ["{{b}}"] }) } },
      { api: "GET /networks", query: { filters: f({ label: ["tier=db"] }) } },
      { api: "GET /networks", query: { filters: f({ label: ["tier"] }) }, unordered: true },
      { api: "GET /networks", query: { filters: f({ driver: ["bridge"], type: ["custom"] }) }, unordered: true },
      { api: "GET /networks", query: { filters: f({ type: ["builtin"] }) }, unordered: true, ignore: ["*.Id", "*.Options", "*.IPAM.Config"] },
      // Unordered as the other lists: dockerd 20.10 lists networks in its store's key order (their random ids).
      { api: "GET /networks", query: { filters: f({ dangling: ["true"], type: ["custom"] }) }, unordered: true },
      { api: "GET /networks", query: { filters: f({ dangling: ["false"], type: ["custom"] }) } },
      { api: "GET /networks", query: { filters: f({ type: ["bogus"] }) } },
      { api: "GET /networks", query: { filters: f({ dangling: ["maybe"] }) } },
      { api: "GET /networks", query: { filters: f({ bogus: ["x"] }) } },
      { api: "GET /networks", query: { filters: "{bad" } },
      { cli: ["network", "ls", "--filter", "type=custom", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}"], unordered: true },
      // Created on a user network, never started: not joined yet, so no short id among its Aliases.
      { api: "GET /containers/{{c}}/json", ignore: ["State", "HostConfig", "Config", "GraphDriver", "Created", "Path", "Args", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Platform", "Driver"] },
    ],
  },
  {
    name: "networks/connect-disconnect",
    steps: [
      net("cn", "n", { IPAM: { Config: [{ Subnet: "10.238.0.0/24" }] } }),
      ctr("cc", "c"),
      { api: "POST /networks/{{n}}/connect", body: { Container: "{{c}}", EndpointConfig: { Aliases: ["web"], IPAMConfig: { IPv4Address: "10.238.0.9" } } } },
      { api: "GET /containers/{{c}}/json", ignore: ["State", "HostConfig", "Config", "GraphDriver", "Created", "Path", "Args", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Platform", "Driver"] },
      { api: "POST /networks/{{n}}/connect", body: { Container: "{{c}}" } },
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "GET /networks/{{n}}", ignore: ["Containers.*.EndpointID"] },
      { api: "POST /networks/{{n}}/connect", body: { Container: "{{c}}" } },
      { api: "POST /networks/{{n}}/disconnect", body: { Container: "{{c}}" } },
      { api: "POST /networks/{{n}}/disconnect", body: { Container: "{{c}}" } },
      { api: "POST /networks/{{n}}/connect", body: { Container: "nosuch" } },
      { api: "POST /networks/nosuch/connect", body: { Container: "{{c}}" } },
      { api: "POST /networks/{{n}}/connect", body: { Container: "{{c}}", EndpointConfig: { IPAMConfig: { IPv4Address: "10.99.0.9" } } } },
      { api: "POST /networks/{{n}}/connect", body: "{not json" },
      { api: "POST /networks/{{n}}/disconnect", body: { Container: "{{c}}", Force: true } },
      { api: "POST /networks/none/connect", body: { Container: "{{c}}" } },
    ],
  },
  {
    name: "networks/remove-and-prune",
    steps: [
      net("ra", "a"),
      net("rb", "b", { Labels: { keep: "yes" } }),
      net("rc", "d"),
      ctr("rcc", "c", { HostConfig: { NetworkMode: "ra" } }),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "DELETE /networks/{{a}}" },
      { api: "DELETE /networks/nosuch" },
      { api: "DELETE /networks/bridge" },
      { api: "POST /networks/prune", query: { filters: f({ label: ["keep=yes"] }) } },
      { api: "POST /networks/prune", query: { filters: f({ "label!": ["keep"] }) } },
      { api: "POST /networks/prune" },
      { api: "POST /networks/prune", query: { filters: f({ bogus: ["x"] }) } },
      { api: "DELETE /networks/{{d}}" },
      { cli: ["network", "rm", "ra"] },
    ],
  },
];

const MALFORMED = "dockerd 20.10 answers malformed JSON with 500 and Go's decoder message; Berth answers 400 (bad input is the client's error; moby 23+ also says 400)";
const GO_DECODER = "the message of a body that does not decode is each engine's own parser's (Go's encoding/json vs Berth's schema); both answer 400";
const BAD_INPUT_500 = "dockerd 20.10 answers this bad input with 500 (an untyped libnetwork error); Berth answers 400 with the same message, since the request is at fault";
const NOT_CONNECTED_500 = "dockerd 20.10 answers 500 (an untyped libnetwork error); Berth answers 403 (forbidden) as moby does for the same conflict on a running container, with the same message";

export const allowlist: AllowEntry[] = [
  {
    scenario: "networks/list-filters",
    where: "body.*.IPAM.Config.0.Subnet",
    why: "by nature: the subnet each engine picks by itself depends on the pools the other engine's bridges and the earlier scenarios' networks hold on the shared host (after the create/ipv6 scenarios dockerd 20.10 moves on to the 192.168.x.0/20 pools); run alone, both pick alike — networks/create-and-inspect compares the pick",
  },
  { scenario: "networks/create-errors", step: 4, where: "status", why: BAD_INPUT_500 },
  { scenario: "networks/create-errors", step: 5, where: "status", why: BAD_INPUT_500 },
  {
    scenario: "networks/create-errors",
    step: 6,
    where: "*",
    why: "dockerd 20.10 creates a network whose ip-range lies outside its subnet (and can then allocate no address from it); Berth refuses it with 400",
  },
  { scenario: "networks/create-errors", step: 12, where: "body.length", why: "the network dockerd 20.10 created with an ip-range outside its subnet (step 6) is listed" },
  { scenario: "networks/create-errors", step: 7, where: "body.message", why: GO_DECODER },
  { scenario: "networks/create-errors", step: 11, where: "body.message", why: GO_DECODER },
  { scenario: "networks/create-errors", step: 8, where: "*", why: "dockerd 20.10 answers an empty network name with 500 \"invalid name: \"; Berth answers 400 \"network name must not be empty\"" },
  { scenario: "networks/list-filters", step: 11, where: "status", why: BAD_INPUT_500 },
  { scenario: "networks/list-filters", step: 14, where: "*", why: MALFORMED },
  { scenario: "networks/connect-disconnect", step: 12, where: "status", why: BAD_INPUT_500 },
  { scenario: "networks/connect-disconnect", step: 13, where: "body.message", why: GO_DECODER },
  { scenario: "networks/connect-disconnect", step: 9, where: "status", why: NOT_CONNECTED_500 },
  { scenario: "networks/connect-disconnect", step: 14, where: "status", why: NOT_CONNECTED_500 },
  {
    scenario: "networks/connect-disconnect",
    step: 4,
    where: "*",
    why: "dockerd 20.10 accepts a second connect of a stopped container to the same network (silently replacing its endpoint settings); Berth refuses it with 403 as it does for a running one",
  },
];
