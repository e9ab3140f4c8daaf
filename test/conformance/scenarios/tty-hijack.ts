/**
 * TTY sessions over the hijacked connection: exec start and attach with a terminal
 * (raw stream, echo, CR/LF, exit code), invalid detach keys, exec resize's parsing.
 */
import type { AllowEntry, Scenario } from "../scenario.js";

export const scenarios: Scenario[] = [
  {
    name: "tty/exec-and-attach",
    steps: [
      { api: "POST /containers/create", query: { name: "t1" }, body: { Image: "busybox", Cmd: ["sh"], Tty: true, OpenStdin: true }, save: { c: "Id" } },
      { api: "POST /containers/{{c}}/start" },
      { api: "POST /containers/{{c}}/exec", body: { Cmd: ["sh", "-c", "read x; echo got $x; exit 7"], Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true }, save: { e: "Id" } },
      // The client half-closes right after "hi\r": dockerd ends a TTY session then (its output so far is
      // timing, not compared); the process goes on and exits 7.
      { api: "POST /exec/{{e}}/start", body: { Tty: true, Detach: false }, upgrade: true, stdin: "hi\r", ignore: ["body"] },
      { api: "GET /exec/{{e}}/json", ignore: ["Pid"] },
      { api: "POST /containers/{{c}}/exec", body: { Cmd: ["sh"], Tty: true }, save: { r: "Id" } },
      { api: "POST /exec/{{r}}/resize", query: { h: "x", w: 100 } },
      { api: "POST /exec/{{r}}/resize", query: { w: 100 } },
      { api: "POST /exec/nosuch/resize", query: { h: 40, w: 100 } },
      { api: "POST /containers/{{c}}/attach", query: { stream: 1, stdin: 1, stdout: 1, detachKeys: "ctrl-" }, upgrade: true },
      { api: "POST /containers/{{c}}/attach", query: { stream: 1, stdin: 1, stdout: 1, detachKeys: "ctrl-x" }, upgrade: true, stdin: "echo a\r\u0018" },
    ],
  },
];

const HALF_CLOSE_RACE =
  "timing on both engines: the stream ends at the client's half-close, before the process reads its input and exits 7; whether an inspect right after sees it still running is a race in dockerd too (it usually has exited there)";

export const allowlist: AllowEntry[] = [
  { scenario: "tty/exec-and-attach", step: 4, where: "body.Running", why: HALF_CLOSE_RACE },
  { scenario: "tty/exec-and-attach", step: 4, where: "body.ExitCode", why: HALF_CLOSE_RACE },
];
