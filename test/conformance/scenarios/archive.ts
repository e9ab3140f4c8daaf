import type { AllowEntry, Scenario, Step } from "../scenario.js";

const ctr = (name: string, v: string, cmd: string): Step => ({
  api: "POST /containers/create",
  query: { name },
  body: { Image: "busybox", Cmd: ["sh", "-c", cmd], HostConfig: { NetworkMode: "none" } },
  save: { [v]: "Id" },
  compare: "status",
});

/** Run a shell command in {{c}} and wait for it (an attached exec start answers when the command is done). */
const shell = (cmd: string): Step[] => [
  { api: "POST /containers/{{c}}/exec", body: { Cmd: ["sh", "-c", cmd], AttachStdout: true }, save: { x: "Id" }, compare: "status" },
  { api: "POST /exec/{{x}}/start", body: {}, frames: true },
];

/** A tar (ustar, one 512-byte header + data + two zero blocks) of one regular file, as a latin1 string body. */
export function tarOf(name: string, data: string, type: "0" | "3" | "5" = "0"): string {
  const h = Buffer.alloc(512);
  h.write(name, 0, "latin1");
  h.write(type === "5" ? "0000755\0" : "0000644\0", 100, "latin1");
  h.write("0001750\0", 108, "latin1");
  h.write("0001750\0", 116, "latin1");
  h.write(`${(type === "5" ? 0 : data.length).toString(8).padStart(11, "0")}\0`, 124, "latin1");
  h.write("14000000000\0", 136, "latin1");
  h.write("        ", 148, "latin1");
  h.write(type, 156, "latin1");
  h.write("ustar\u000000", 257, "latin1");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  const body = type === "5" ? Buffer.alloc(0) : Buffer.concat([Buffer.from(data, "latin1"), Buffer.alloc((512 - (data.length % 512)) % 512)]);
  return Buffer.concat([h, body, Buffer.alloc(1024)]).toString("latin1");
}

export const scenarios: Scenario[] = [
  {
    name: "archive/head-get-stat",
    steps: [
      ctr("a1", "c", "sleep 600"),
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/etc/hostname" } },
      { api: "POST /containers/{{c}}/start", compare: "status" },
      ...shell("mkdir -p /d/sub; echo hi > /d/f; ln -s /d/f /d/link"),
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d/f" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d/link" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "GET /containers/{{c}}/archive", query: { path: "/d/f" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "GET /containers/{{c}}/archive", query: { path: "/d/" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/nosuch" } },
      { api: "GET /containers/{{c}}/archive", query: { path: "/nosuch" } },
      { api: "GET /containers/{{c}}/archive" },
      { api: "GET /containers/{{c}}/archive", query: { path: "/d/f/" } },
      { api: "GET /containers/nosuch/archive", query: { path: "/" } },
      { api: "HEAD /containers/nosuch/archive", query: { path: "/" } },
    ],
  },
  {
    name: "archive/put",
    steps: [
      ctr("p1", "c", "sleep 600"),
      { api: "POST /containers/{{c}}/start", compare: "status" },
      ...shell("mkdir -p /d; echo x > /file"),
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: tarOf("new.txt", "hello\n"), headers: { "Content-Type": "application/x-tar" } },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d/new.txt" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/nosuch" }, body: tarOf("a", "a"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/file" }, body: tarOf("a", "a"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", body: tarOf("a", "a"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/", noOverwriteDirNonDir: 1 }, body: tarOf("d", "", "0"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/", noOverwriteDirNonDir: 1 }, body: tarOf("file", "", "5"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d", copyUIDGID: 1 }, body: tarOf("owned", "z"), headers: { "Content-Type": "application/x-tar" } },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d/owned" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d", copyUIDGID: "maybe" }, body: tarOf("a", "a"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/nosuch/archive", query: { path: "/" }, body: tarOf("a", "a"), headers: { "Content-Type": "application/x-tar" } },
      { api: "GET /containers/{{c}}/changes", unordered: true },
      // Every other way an extraction can fail, as the reference words it (status and message).
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: "not a tar", headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: "x".repeat(1536), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: "", headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/etc" }, body: tarOf("hostname", "h"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: tarOf("../escape", "e"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: tarOf("/abs", "e"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: tarOf("dev", "", "3"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: tarOf("trunc", "hello").slice(0, 600), headers: { "Content-Type": "application/x-tar" } },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d/abs" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d/trunc" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/d" }, body: tarOf("notrailer", "abc").slice(0, 1024), headers: { "Content-Type": "application/x-tar" } },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/d/notrailer" }, ignore: ["headers.x-docker-container-path-stat.mtime"] },
    ],
  },
  {
    name: "archive/put-read-only",
    steps: [
      {
        api: "POST /containers/create",
        query: { name: "pro" },
        body: { Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "none", ReadonlyRootfs: true, Binds: ["prov:/vol:ro"] } },
        save: { c: "Id" },
        compare: "status",
      },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/" }, body: tarOf("a", "a"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/vol" }, body: tarOf("a", "a"), headers: { "Content-Type": "application/x-tar" } },
      { api: "DELETE /containers/{{c}}", query: { v: 1 }, compare: "status" },
    ],
  },
  {
    // A tar reaching into a read-only mount nested in the (writable) destination: the kernel refuses the write.
    name: "archive/put-into-nested-read-only-mount",
    steps: [
      {
        api: "POST /containers/create",
        query: { name: "nro" },
        body: { Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "none", Binds: ["nrotop:/top", "nroin:/top/inner:ro"] } },
        save: { c: "Id" },
        compare: "status",
      },
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/top" }, body: tarOf("inner/sneaky", "x"), headers: { "Content-Type": "application/x-tar" } },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/top" }, body: tarOf("inner/newdir", "", "5"), headers: { "Content-Type": "application/x-tar" } },
      { api: "HEAD /containers/{{c}}/archive", query: { path: "/top/inner/sneaky" } },
      { api: "POST /containers/{{c}}/stop", query: { t: 0 }, compare: "status" },
      { api: "PUT /containers/{{c}}/archive", query: { path: "/top" }, body: tarOf("inner/sneaky", "x"), headers: { "Content-Type": "application/x-tar" } },
    ],
  },
  {
    name: "archive/export-and-changes",
    steps: [
      ctr("x1", "c", "mkdir /newdir; echo y > /newdir/f; rm /etc/group; echo z >> /etc/passwd"),
      { api: "GET /containers/{{c}}/changes" },
      { api: "GET /containers/{{c}}/export" },
      { api: "POST /containers/{{c}}/start", compare: "status" },
      { api: "POST /containers/{{c}}/wait", compare: "status" },
      { api: "GET /containers/{{c}}/changes", unordered: true },
      { api: "GET /containers/{{c}}/export" },
      { api: "GET /containers/nosuch/export" },
      { api: "GET /containers/nosuch/changes" },
    ],
  },
];

export const allowlist: AllowEntry[] = [
  {
    scenario: "archive/head-get-stat",
    step: 1,
    where: "headers.x-docker-container-path-stat*",
    why: "by nature: before the first start dockerd's /etc/hostname is the init layer's empty 0755 placeholder; Berth's is the file it will bind-mount (the hostname)",
  },
  {
    scenario: "archive/head-get-stat",
    step: 13,
    where: "body.message",
    why: "dockerd names the path inside its overlay2 merged directory on the host; Berth names only the path in the container (it does not reveal host paths)",
  },
  { scenario: "archive/put", step: 7, where: "status", why: "dockerd 20.10 answers an extraction to a path that is not a directory with 500; Berth answers 400 with the same message, since the request is at fault" },
  ...[1, 2].map((step) => ({
    scenario: "archive/put-read-only",
    step,
    where: "status",
    why: "a destination on a read-only root or volume: dockerd 20.10 answers 500; Berth answers 400 with the same message, since the request is at fault",
  })),
  // Every bad input gets a 4xx in Berth (docs/security.md "Bad API input"); dockerd's unpack helper answers 500.
  ...[9, 10, 16, 17, 19, 20, 22].map((step) => ({
    scenario: "archive/put",
    step,
    where: "status",
    why: "a tar dockerd's unpack helper refuses (broken, truncated, hostile names, device files, overwriting a directory): dockerd 20.10 answers 500 \"Error processing tar file(exit status 1): …\"; Berth answers 400 with the same message, since the request is at fault",
  })),
  ...[2, 3, 6].map((step) => ({
    scenario: "archive/put-into-nested-read-only-mount",
    step,
    where: "status",
    why: "a write a read-only mount nested in the destination refuses: dockerd 20.10 answers 500 \"Error processing tar file(exit status 1): … read-only file system\"; Berth answers 400 with the same message, since the request is at fault",
  })),
];
