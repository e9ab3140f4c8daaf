import type { AllowEntry, Scenario, Step } from "../scenario.js";

const f = (o: Record<string, string[]>): string => JSON.stringify(o);
const vol = (body: Record<string, unknown>, v?: string): Step => ({ api: "POST /volumes/create", body, ...(v ? { save: { [v]: "Name" } } : {}) });
const ctr = (name: string, v: string, body: Record<string, unknown>): Step => ({
  api: "POST /containers/create",
  query: { name },
  body: { Image: "busybox", Cmd: ["sleep", "600"], ...body, HostConfig: { NetworkMode: "none", ...((body["HostConfig"] as object | undefined) ?? {}) } },
  save: { [v]: "Id" },
  compare: "status",
});
/** Only what a container's inspect says about its mounts. */
const mounts = (v: string, more: string[] = []): Step => ({ api: `GET /containers/{{${v}}}/json`, unordered: true, ignore: [...more, "State", "NetworkSettings", "Config", "GraphDriver", "Created", "Path", "Args", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Platform", "Driver", "Name", "Id", "ExecIDs", "RestartCount", "ProcessLabel", "MountLabel", "AppArmorProfile"] });

export const scenarios: Scenario[] = [
  {
    name: "volumes/create-inspect-list",
    steps: [
      vol({ Name: "v1", Labels: { team: "a" } }, "a"),
      vol({ Name: "v2", Driver: "local", DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" } }),
      vol({ Name: "v1" }),
      { api: "GET /volumes/v1" },
      { api: "GET /volumes/v2" },
      { api: "GET /volumes", unordered: true },
      { api: "GET /volumes", query: { filters: f({ name: ["v1"] }) } },
      { api: "GET /volumes", query: { filters: f({ label: ["team=a"] }) } },
      { api: "GET /volumes", query: { filters: f({ label: ["team"] }) } },
      { api: "GET /volumes", query: { filters: f({ driver: ["local"] }) }, unordered: true },
      { api: "GET /volumes", query: { filters: f({ dangling: ["true"] }) }, unordered: true },
      { api: "GET /volumes", query: { filters: f({ dangling: ["maybe"] }) } },
      { api: "GET /volumes", query: { filters: f({ bogus: ["x"] }) } },
      { cli: ["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Labels}}"], unordered: true },
      vol({}, "anon"),
      { api: "GET /volumes/{{anon}}" },
    ],
  },
  {
    name: "volumes/create-errors",
    steps: [
      vol({ Name: "bad name!" }),
      // (An unknown driver is left out: dockerd retries the plugin lookup for 15 s; networks/create-errors covers the same lookup.)
      vol({ Name: "y", DriverOpts: { bogus: "1" } }),
      { api: "POST /volumes/create", body: "{not json" },
      { api: "POST /volumes/create", body: { Name: 5 } },
      { api: "GET /volumes/nosuch" },
      { api: "DELETE /volumes/nosuch" },
    ],
  },
  {
    name: "volumes/remove-in-use-and-force",
    steps: [
      vol({ Name: "used" }),
      ctr("vu", "c", { HostConfig: { Binds: ["used:/data"] } }),
      { api: "DELETE /volumes/used" },
      { api: "DELETE /volumes/used", query: { force: 1 } },
      { api: "DELETE /containers/{{c}}", compare: "status" },
      { api: "DELETE /volumes/used" },
      { api: "DELETE /volumes/used", query: { force: 1 } },
      { api: "GET /volumes/used" },
    ],
  },
  {
    name: "volumes/prune",
    steps: [
      vol({ Name: "keep", Labels: { keep: "yes" } }),
      vol({ Name: "named" }),
      vol({}, "anon"),
      vol({ Name: "inuse" }),
      ctr("pu", "c", { HostConfig: { Binds: ["inuse:/data"] } }),
      { api: "POST /volumes/prune", query: { filters: f({ label: ["keep=no"] }) } },
      { api: "POST /volumes/prune", query: { filters: f({ "label!": ["keep"] }) } },
      { api: "GET /volumes", unordered: true },
      { api: "POST /volumes/prune", query: { filters: f({ all: ["true"] }) }, unordered: true, ignore: ["SpaceReclaimed"] },
      { api: "GET /volumes", unordered: true },
      { api: "POST /volumes/prune", query: { filters: f({ bogus: ["x"] }) } },
    ],
  },
  {
    name: "volumes/container-mounts",
    steps: [
      vol({ Name: "mv" }),
      ctr("m1", "c", {
        Volumes: { "/anon": {} },
        HostConfig: {
          Binds: ["mv:/named:ro", "/tmp:/hostbind:rw"],
          Mounts: [
            { Type: "volume", Source: "mv2", Target: "/mnt/v2", VolumeOptions: { Labels: { x: "y" } } },
            { Type: "bind", Source: "/etc", Target: "/mnt/etc", ReadOnly: true },
            { Type: "tmpfs", Target: "/mnt/tmp", TmpfsOptions: { SizeBytes: 1048576, Mode: 448 } },
          ],
        },
      }),
      // The anonymous volume's name is random: its place among the sorted mounts may differ, so names and sources are compared below, by destination.
      mounts("c", ["Mounts.*.Name", "Mounts.*.Source"]),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      mounts("c", ["Mounts.*.Name", "Mounts.*.Source"]),
      { cli: ["inspect", "-f", '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{ end }}{{ end }}', "m1"], save: { anon: "" }, compare: "none" },
      { cli: ["inspect", "-f", "{{range .Mounts}}{{.Destination}} {{.Type}} {{.Name}} {{.Source}}\n{{ end }}", "m1"], unordered: true },
      { api: "GET /volumes/mv2" },
      { api: "GET /volumes", query: { filters: f({ dangling: ["false"] }) }, unordered: true, ignore: ["Volumes.*.Name", "Volumes.*.Mountpoint"] },
      { api: "POST /containers/create", body: { Image: "busybox", HostConfig: { Mounts: [{ Type: "bind", Source: "/nonexistent/path", Target: "/x" }] } } },
      { api: "POST /containers/create", body: { Image: "busybox", HostConfig: { Mounts: [{ Type: "volume", Target: "relative" }] } } },
      { api: "POST /containers/create", body: { Image: "busybox", HostConfig: { Mounts: [{ Type: "bogus", Target: "/x" }] } } },
      { api: "POST /containers/create", body: { Image: "busybox", HostConfig: { Binds: ["/a:/b:/c:/d"] } } },
      { cli: ["volume", "rm", "mv"] },
    ],
  },
];

const GO_DECODER = "the message of a body that does not decode is each engine's own parser's (Go's encoding/json vs Berth's schema); both answer 400";
const ANON_LABEL = "moby 23+ labels anonymous volumes com.docker.volume.anonymous (at every API version) so that prune (API 1.42+) can tell them from named ones; Berth does the same";

export const allowlist: AllowEntry[] = [
  { scenario: "volumes/*", where: "body.Labels", why: ANON_LABEL },
  { scenario: "volumes/*", where: "body.Volumes.*.Labels", why: ANON_LABEL },
  { scenario: "volumes/create-errors", step: 2, where: "body.message", why: GO_DECODER },
  { scenario: "volumes/create-errors", step: 3, where: "body.message", why: GO_DECODER },
  { scenario: "volumes/container-mounts", where: "body.HostConfig.MaskedPaths.length", why: "Berth masks /proc/interrupts and /sys/devices/virtual/powercap too, as newer moby's default list does" },
  {
    scenario: "volumes/container-mounts",
    step: 12,
    where: "status",
    why: "dockerd 20.10 answers a -v spec with too many fields with 500; Berth answers 400 with the same message, since the request is at fault",
  },
];
