import type { AllowEntry, Scenario, Step } from "../scenario.js";

const run = (name: string, v: string, cmd: string, more: Record<string, unknown> = {}): Step[] => [
  {
    api: "POST /containers/create",
    query: { name },
    body: { Image: "busybox", Cmd: ["sh", "-c", cmd], OpenStdin: true, HostConfig: { NetworkMode: "none" }, ...more },
    save: { [v]: "Id" },
    compare: "status",
  },
  { api: `POST /containers/{{${v}}}/start`, compare: "status" },
];
const ws = (v: string, query: Record<string, string | number>, more: Partial<Step> = {}): Step => ({ api: `GET /containers/{{${v}}}/attach/ws`, query, websocket: true, ...more }) as Step;

export const scenarios: Scenario[] = [
  {
    name: "attach-ws/stdin-frames-to-output-then-close",
    steps: [
      // The pause orders the two pipes' output (dockerd copies stdout and stderr concurrently).
      ...run("wsa", "c", "read l; echo got:$l; sleep 0.3; echo err:$l >&2"),
      ws("c", { stream: 1, stdin: 1, stdout: 1, stderr: 1 }, { stdin: "hello\n" }),
      { api: "POST /containers/{{c}}/wait", ignore: ["Error"] },
      // Logs only: replayed without framing, then the close; the stdout/stderr flags are ignored, as by dockerd.
      ws("c", { logs: 1, stdout: 1 }),
      ws("c", { logs: 1 }, { api: "GET /v1.27/containers/{{c}}/attach/ws", unversioned: true }),
      ws("c", {}),
    ],
  },
  {
    name: "attach-ws/tty-and-detach-keys",
    steps: [
      ...run("wst", "c", "read l; echo got:$l", { Tty: true }),
      ws("c", { stream: 1, detachKeys: "bogus-keys" }),
      ws("c", { stream: 1, detachKeys: "ctrl-x,a" }, { stdin: "hi\n" }),
      { api: "POST /containers/{{c}}/wait", ignore: ["Error"] },
    ],
  },
  {
    name: "attach-ws/refusals",
    steps: [
      ws("c", { stream: 1 }, { api: "GET /containers/nosuch/attach/ws" }),
      ...run("wsr", "c", "sleep 30"),
      { api: "GET /containers/{{c}}/attach/ws", query: { stream: 1 } },
      { api: "POST /containers/{{c}}/attach/ws" },
      { api: "POST /containers/{{c}}/kill", compare: "status" },
    ],
  },
];

export const allowlist: AllowEntry[] = [
  {
    scenario: "attach-ws/*",
    where: "headers.connection",
    why: "Berth answers a refused upgrade request and closes the connection (node hands an upgrade's socket over; Berth does not parse further requests on it), saying so with Connection: close; dockerd's Go server keeps the connection alive",
  },
];
