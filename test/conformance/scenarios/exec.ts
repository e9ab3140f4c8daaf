import type { AllowEntry, Scenario, Step } from "../scenario.js";

const ctr = (name: string, v: string, body: Record<string, unknown> = {}): Step => ({
  api: "POST /containers/create",
  query: { name },
  body: { Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "none" }, ...body },
  save: { [v]: "Id" },
  compare: "status",
});
const exec = (c: string, v: string, body: Record<string, unknown>): Step => ({ api: `POST /containers/{{${c}}}/exec`, body: { AttachStdout: true, AttachStderr: true, ...body }, save: { [v]: "Id" } });

export const scenarios: Scenario[] = [
  {
    name: "exec/create-errors",
    steps: [
      ctr("e1", "c"),
      { api: "POST /containers/{{c}}/exec", body: { Cmd: ["true"] } },
      { api: "POST /containers/nosuch/exec", body: { Cmd: ["true"] } },
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "POST /containers/{{c}}/exec", body: {} },
      { api: "POST /containers/{{c}}/exec", body: { Cmd: [] } },
      { api: "POST /containers/{{c}}/exec", body: "{not json" },
      { api: "POST /containers/{{c}}/exec", body: { Cmd: "true" } },
      { api: "POST /containers/{{c}}/pause", compare: "status" },
      { api: "POST /containers/{{c}}/exec", body: { Cmd: ["true"] } },
      { api: "POST /containers/{{c}}/unpause", compare: "status" },
      { api: "POST /containers/{{c}}/exec", body: { Cmd: ["true"], User: "nosuchuser" } },
      { api: "GET /exec/nosuch/json" },
      { api: "POST /exec/nosuch/start", body: {} },
    ],
  },
  {
    name: "exec/inspect-before-and-after",
    steps: [
      ctr("e2", "c"),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      exec("c", "x", { Cmd: ["sh", "-c", "echo out; exit 3"], Env: ["A=1"], WorkingDir: "/tmp", User: "1:2" }),
      { api: "GET /exec/{{x}}/json" },
      { api: "POST /exec/{{x}}/start", body: { Detach: false, Tty: false }, frames: true },
      { api: "GET /exec/{{x}}/json", ignore: ["Pid"] },
      { api: "POST /exec/{{x}}/start", body: {} },
      { api: "GET /containers/{{c}}/json", ignore: ["State", "NetworkSettings", "HostConfig", "Config", "GraphDriver", "Created", "Path", "Args", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Platform", "Driver", "Mounts"] },
    ],
  },
  {
    name: "exec/start-hijacked-and-detached",
    steps: [
      ctr("e3", "c"),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      // One stream per exec: the order of frames from two pipes is not defined.
      exec("c", "x", { Cmd: ["sh", "-c", "echo two >&2"] }),
      { api: "POST /exec/{{x}}/start", body: { Detach: false, Tty: false }, upgrade: true, frames: true },
      exec("c", "y", { Cmd: ["sh", "-c", "cat; echo done"], AttachStdin: true }),
      { api: "POST /exec/{{y}}/start", body: { Detach: false, Tty: false }, upgrade: true, frames: true, stdin: "hello\n" },
      exec("c", "d", { Cmd: ["sleep", "600"], AttachStdout: false, AttachStderr: false }),
      { api: "POST /exec/{{d}}/start", body: { Detach: true } },
      { api: "GET /exec/{{d}}/json", ignore: ["Pid"] },
      { api: "POST /exec/{{d}}/start", body: { Detach: true } },
      { api: "POST /exec/{{d}}/resize", query: { h: 10, w: 10 } },
      { api: "POST /exec/{{d}}/resize", query: { h: "x", w: 10 } },
      { api: "POST /exec/nosuch/resize", query: { h: 10, w: 10 } },
      exec("c", "t", { Cmd: ["true"], Tty: true }),
      { api: "POST /exec/{{t}}/resize", query: { h: 10, w: 10 } },
      { api: "POST /exec/{{x}}/start", body: "{not json" },
      // x ran and ended: dockerd 20.10 answers 404 "no such exec" (containerd has no such process any more).
      { api: "POST /exec/{{x}}/resize", query: { h: 10, w: 10 } },
    ],
  },
];

const GO_DECODER = "the message of a body that does not decode is each engine's own parser's (Go's encoding/json vs Berth's schema); both answer 400";

const MOBY23_WORDING = "Berth keeps moby 23+'s wording (\"container <id> is not running\", \"exec command <id> has already run\" / \"is already running\"); dockerd 20.10 says \"Container …\" and \"Error: Exec command …\"";

export const allowlist: AllowEntry[] = [
  { scenario: "exec/create-errors", step: 1, where: "body.message", why: MOBY23_WORDING },
  { scenario: "exec/inspect-before-and-after", step: 6, where: "body", why: MOBY23_WORDING },
  { scenario: "exec/start-hijacked-and-detached", step: 9, where: "body.message", why: MOBY23_WORDING },
  { scenario: "exec/create-errors", step: 6, where: "body.message", why: GO_DECODER },
  { scenario: "exec/create-errors", step: 7, where: "body.message", why: GO_DECODER },
  { scenario: "exec/start-hijacked-and-detached", step: 15, where: "body.message", why: GO_DECODER },
];
