/**
 * Distribution routes: pull, push, /distribution, import (fromSrc), /auth,
 * search, save (several names) and load. Both engines talk to the same two
 * registries on 127.0.0.1, Debian's docker-registry (distribution 2.8): one
 * open, one behind htpasswd. They are started when this file is loaded (only
 * if CONF_FILTER can pick a scenario of it) and killed when the process exits.
 * Each engine pushes to a repository of its own (named after a container id
 * it made, which the normaliser then replaces), so the two never race.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import bcrypt from "bcryptjs";
import type { AllowEntry, Scenario } from "../scenario.js";


async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a !== null ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

async function waitListening(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, "127.0.0.1", () => {
        c.end();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`registry on 127.0.0.1:${port} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const USER = "conf";
export const PASSWORD = "conf-secret";

async function startRegistries(): Promise<{ open: number; auth: number }> {
  const dir = mkdtempSync("/tmp/bconf-registry-");
  const [open, auth] = [await freePort(), await freePort()];
  writeFileSync(path.join(dir, "htpasswd"), `${USER}:${bcrypt.hashSync(PASSWORD, 5)}\n`);
  const config = (port: number, name: string, withAuth: boolean): string => {
    const f = path.join(dir, `${name}.yml`);
    const lines = [
      "version: 0.1",
      "log:",
      "  level: error",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${path.join(dir, name)}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      ...(withAuth ? ["auth:", "  htpasswd:", "    realm: basic-realm", `    path: ${path.join(dir, "htpasswd")}`] : []),
    ];
    writeFileSync(f, `${lines.join("\n")}\n`);
    return f;
  };
  const children = [spawn("docker-registry", ["serve", config(open, "open", false)], { stdio: "ignore" }), spawn("docker-registry", ["serve", config(auth, "auth", true)], { stdio: "ignore" })];
  for (const c of children) c.unref();
  process.on("exit", () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  await Promise.all([waitListening(open, 20_000), waitListening(auth, 20_000)]);
  return { open, auth };
}


/**
 * A tar of the files given (text only, so that it travels as a string body),
 * made by GNU tar with fixed owner and times: the same bytes on every run.
 */
function tarOf(files: Record<string, string>): string {
  const dir = mkdtempSync("/tmp/bconf-tar-");
  try {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    const out = execFileSync("tar", ["--format=ustar", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--sort=name", "-cf", "-", "-C", dir, ...Object.keys(files)]);
    const s = out.toString("latin1");
    if ([...out].some((b) => b > 0x7f)) throw new Error("tarOf: not ASCII");
    return s;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LAYER = tarOf({ "hello.txt": "hello from a layer\n", "etc/motd": "conformance\n" });
const sha = (s: string): string => createHash("sha256").update(Buffer.from(s, "latin1")).digest("hex");
const CONFIG = JSON.stringify({
  architecture: "amd64",
  os: "linux",
  config: { Cmd: ["/hello.txt"], Env: ["A=1"] },
  created: "2020-01-01T00:00:00Z",
  rootfs: { type: "layers", diff_ids: [`sha256:${sha(LAYER)}`] },
  history: [{ created: "2020-01-01T00:00:00Z", created_by: "conformance" }],
});
const CONFIG_ID = sha(CONFIG);
/** A `docker save` archive (manifest.json layout) of a one-layer image tagged loaded:v1. */
const SAVED = tarOf({
  [`${CONFIG_ID}.json`]: CONFIG,
  "layer1/layer.tar": LAYER,
  "layer1/VERSION": "1.0",
  "manifest.json": JSON.stringify([{ Config: `${CONFIG_ID}.json`, RepoTags: ["loaded:v1"], Layers: ["layer1/layer.tar"] }]),
});
/** The pre-1.10 layout: one directory per layer (VERSION, json, layer.tar) and a `repositories` file. */
const LEGACY_ID = "a".repeat(63) + "1";
const LEGACY = tarOf({
  [`${LEGACY_ID}/VERSION`]: "1.0",
  [`${LEGACY_ID}/json`]: JSON.stringify({ id: LEGACY_ID, created: "2015-01-01T00:00:00Z", os: "linux", architecture: "amd64", config: { Cmd: ["/hello.txt"] }, container_config: { Cmd: ["/bin/sh"] } }),
  [`${LEGACY_ID}/layer.tar`]: LAYER,
  repositories: JSON.stringify({ legacy: { v1: LEGACY_ID } }),
});
const TAR = { "Content-Type": "application/x-tar" };

const SEARCH_RESULTS = [
  { name: "team/app", description: "an app", star_count: 12, is_official: false, is_automated: true },
  { name: "base", description: "official", star_count: 300, is_official: true, is_automated: false },
  { name: "team/tool", description: "", star_count: 1, is_official: false, is_automated: false },
];

/**
 * fromSrc=<URL>: a loopback web server with the layer at /layer.tar; it is also a
 * registry v1 index (/v1/_ping, /v1/search) for search; anything else is a 404.
 */
async function serveLayer(): Promise<number> {
  const server = http.createServer((req, res) => {
    if (req.url === "/layer.tar") return void res.end(Buffer.from(LAYER, "latin1"));
    if (req.url === "/moved") return void res.writeHead(302, { Location: "/layer.tar" }).end();
    if (req.url === "/v1/_ping") return void res.writeHead(200, { "Content-Type": "application/json" }).end("true");
    if (req.url?.startsWith("/v1/search?")) {
      const q = new URL(req.url, "http://x").searchParams;
      return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ num_results: 3, query: q.get("q"), page_size: Number(q.get("n")), results: SEARCH_RESULTS }));
    }
    res.writeHead(404).end("no such file\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  const a = server.address();
  return typeof a === "object" && a !== null ? a.port : 1;
}

/** The scenarios, given the loopback ports of the registries and the web server. */
function build(p: { open: number; auth: number; web: number }): Scenario[] {
  const REG = `127.0.0.1:${p.open}`;
  const AUTHREG = `127.0.0.1:${p.auth}`;
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");
  const NOAUTH = { "X-Registry-Auth": b64({}) };
  const GOODAUTH = { "X-Registry-Auth": b64({ username: USER, password: PASSWORD, serveraddress: AUTHREG }) };
  const BADAUTH = { "X-Registry-Auth": b64({ username: USER, password: "wrong", serveraddress: AUTHREG }) };
  const WEB = `127.0.0.1:${p.web}`;
  /** A container made and removed only for its id: the name of this engine's own repository. */
  const OWN_REPO = [
    { api: "POST /containers/create", body: { Image: "busybox", Cmd: ["true"] }, save: { c: "Id" }, compare: "none" as const },
    { api: "DELETE /containers/{{c}}", compare: "none" as const },
  ];

  return [
    {
      name: "distribution/push-pull-by-tag-and-digest",
      steps: [
        ...OWN_REPO,
        { api: "POST /images/busybox/tag", query: { repo: `${REG}/p{{c:12}}`, tag: "v1" } },
        { api: `POST /images/${REG}/p{{c:12}}/push`, query: { tag: "v1" }, headers: NOAUTH },
        { api: `GET /distribution/${REG}/p{{c:12}}:v1/json` },
        { api: `DELETE /images/${REG}/p{{c:12}}:v1` },
        { api: "DELETE /images/busybox" },
        { api: "POST /images/create", query: { fromImage: `${REG}/p{{c:12}}`, tag: "v1" } },
        { api: "POST /images/create", query: { fromImage: `${REG}/p{{c:12}}`, tag: "v1" } },
        { api: `GET /images/${REG}/p{{c:12}}:v1/json`, save: { digest: "RepoDigests.0" }, ignore: ["Created"] },
        { api: `DELETE /images/${REG}/p{{c:12}}:v1` },
        { api: "POST /images/create", query: { fromImage: `${REG}/p{{c:12}}@sha256:{{digest}}` } },
        { api: "GET /images/json", query: { digests: 1 } },
        // Quiet: the CLI's per-layer lines show dockerd's timing (see collapseProgress); the API step above has the stream.
        { cli: ["pull", "-q", `${REG}/p{{c:12}}:v1`] },
        { cli: ["push", `${REG}/p{{c:12}}:v1`] },
        { api: "DELETE /images/{{image}}" },
      ],
    },
    {
      name: "distribution/pull-errors",
      steps: [
        { api: "POST /images/create", query: { fromImage: `${REG}/nosuchrepo`, tag: "latest" } },
        { api: "POST /images/create", query: { fromImage: `${REG}/nosuchrepo`, tag: "bad tag" } },
        { api: "POST /images/create", query: { fromImage: `${REG}/nosuchrepo@sha256:${"0".repeat(64)}` } },
        { api: "POST /images/create", query: { fromImage: `${AUTHREG}/private`, tag: "v1" } },
        { api: "POST /images/create", query: { fromImage: `${AUTHREG}/private`, tag: "v1" }, headers: BADAUTH },
        { api: "POST /images/create", query: { fromImage: `${AUTHREG}/private`, tag: "v1" }, headers: GOODAUTH },
        { api: "POST /images/create", query: { fromImage: "nosuchhost.invalid/x", tag: "v1" } },
        { api: `GET /distribution/${REG}/nosuchrepo:latest/json` },
        { api: `GET /distribution/${AUTHREG}/private:v1/json` },
        { cli: ["pull", `${REG}/nosuchrepo`] },
      ],
    },
    {
      name: "distribution/push-errors",
      steps: [
        ...OWN_REPO,
        { api: `POST /images/${REG}/p{{c:12}}/push`, query: { tag: "v1" }, headers: NOAUTH },
        { api: "POST /images/busybox/tag", query: { repo: `${REG}/p{{c:12}}`, tag: "v1" } },
        { api: `POST /images/${REG}/p{{c:12}}/push`, query: { tag: "v2" }, headers: NOAUTH },
        // Set-up: the fixture's layer is then in this scenario's repository -a last (each engine mounted it from where it pushed it before).
        { api: "POST /images/busybox/tag", query: { repo: `${REG}/p{{c:12}}-a`, tag: "v1" }, compare: "none" },
        { api: `POST /images/${REG}/p{{c:12}}-a/push`, query: { tag: "v1" }, headers: NOAUTH, compare: "none" },
        // Every tag; an auth header that does not decode is ignored; the layer is mounted from the repository it went to last.
        { api: `POST /images/${REG}/p{{c:12}}/push`, headers: { "X-Registry-Auth": "not base64 json" } },
        { api: "POST /images/busybox/tag", query: { repo: `${AUTHREG}/p{{c:12}}`, tag: "v1" } },
        { api: `POST /images/${AUTHREG}/p{{c:12}}/push`, query: { tag: "v1" }, headers: NOAUTH },
        { api: `POST /images/${AUTHREG}/p{{c:12}}/push`, query: { tag: "v1" }, headers: BADAUTH },
        { api: `POST /images/${AUTHREG}/p{{c:12}}/push`, query: { tag: "v1" }, headers: GOODAUTH },
        { cli: ["push", `${REG}/p{{c:12}}:nosuchtag`] },
      ],
    },
    {
      // dockerd remembers where a layer's blob went (its v2 metadata) after the layer is gone: the next push mounts it.
      name: "distribution/push-mounts-a-removed-layer",
      steps: [
        ...OWN_REPO,
        { api: "POST /images/create", query: { fromSrc: "-", repo: "gone", tag: "v1" }, body: LAYER, headers: TAR, compare: "none" },
        { api: "POST /images/gone:v1/tag", query: { repo: `${REG}/p{{c:12}}-a`, tag: "v1" } },
        { api: `POST /images/${REG}/p{{c:12}}-a/push`, query: { tag: "v1" }, headers: NOAUTH },
        { api: "DELETE /images/gone:v1", compare: "none" },
        { api: `DELETE /images/${REG}/p{{c:12}}-a:v1`, compare: "none" },
        { api: "GET /images/json", query: { all: 1 }, ignore: ["*.Created", "*.Id", "*.Size", "*.VirtualSize", "*.SharedSize"] },
        { api: "POST /images/create", query: { fromSrc: "-", repo: "back", tag: "v1" }, body: LAYER, headers: TAR, compare: "none" },
        { api: "POST /images/back:v1/tag", query: { repo: `${REG}/p{{c:12}}-b`, tag: "v1" } },
        { api: `POST /images/${REG}/p{{c:12}}-b/push`, query: { tag: "v1" }, headers: NOAUTH },
        { api: `GET /distribution/${REG}/p{{c:12}}-b:v1/json` },
      ],
    },
    {
      name: "distribution/auth",
      steps: [
        { api: "POST /auth", body: { username: USER, password: PASSWORD, serveraddress: AUTHREG } },
        { api: "POST /auth", body: { username: USER, password: "wrong", serveraddress: AUTHREG } },
        { api: "POST /auth", body: { username: USER, password: PASSWORD, serveraddress: REG } },
        { api: "POST /auth", body: "not json", headers: { "Content-Type": "application/json" } },
      ],
    },
    {
      name: "distribution/import-from-src",
      steps: [
        { api: "POST /images/create", query: { fromSrc: "-", repo: "imported", tag: "v1", message: "from a tar", changes: "CMD [\"/hello.txt\"]" }, body: LAYER, headers: TAR, save: { i: "status" } },
        { api: "GET /images/imported:v1/json", ignore: ["Created", "DockerVersion"] },
        { api: "GET /images/imported:v1/history", ignore: ["*.Created"] },
        { api: "POST /images/create", query: { fromSrc: "-" }, body: LAYER, headers: TAR, save: { i3: "status" } },
        { api: "POST /images/create", query: { fromSrc: "-", repo: "imported2", changes: "BOGUS x" }, body: LAYER, headers: TAR },
        { api: "POST /images/create", query: { fromSrc: "-", repo: "Bad_Repo" }, body: LAYER, headers: TAR },
        { api: "POST /images/create", query: { fromSrc: "-", repo: "imported3" }, body: "not a tar", headers: TAR },
        { api: "POST /images/create", query: { fromSrc: "http://127.0.0.1:1/x.tar", repo: "imported4" } },
        { api: "POST /images/create", query: { fromSrc: `http://${WEB}/layer.tar`, repo: "fromurl", tag: "v1", changes: "ENV U=1" }, ignore: ["jsonLines.2.status"] },
        { api: "GET /images/fromurl:v1/json", ignore: ["Id", "Created", "DockerVersion"] },
        // Ids: each engine numbers the ids it met differently by here (GraphDriver data); the inspect steps compare the images.
        { api: "POST /images/create", query: { fromSrc: `${WEB}/moved`, repo: "fromurl", tag: "v2" }, ignore: ["jsonLines.2.status"] },
        { api: "POST /images/create", query: { fromSrc: `http://${WEB}/nosuch.tar`, repo: "fromurl", tag: "v3" } },
        { api: "POST /images/create", query: { fromSrc: "ftp://127.0.0.1/x.tar" } },
        { cli: ["import", "--change", "ENV B=2", "-m", "cli import", "-", "imported5:v5"], stdin: LAYER, save: { i5: "" } },
        { api: "GET /images/imported5:v5/json", ignore: ["Created", "DockerVersion"] },
        { api: "GET /images/{{i3}}/json", ignore: ["Created", "DockerVersion"] },
        { api: "GET /images/fromurl:v2/history", ignore: ["*.Id", "*.Created"] },
      ],
    },
    {
      name: "distribution/search",
      steps: [
        { api: "GET /images/search", query: { term: `${REG}/anything` } },
        { api: "GET /images/search", query: { term: "nosuchhost.invalid/x" } },
        { api: "GET /images/search" },
        { api: "GET /images/search", query: { term: "busybox", limit: 0 } },
        { api: "GET /images/search", query: { term: "busybox", filters: JSON.stringify({ bogus: ["1"] }) } },
        { api: "GET /images/search", query: { term: `${WEB}/team`, limit: 5 } },
        { api: "GET /images/search", query: { term: `${WEB}/team`, filters: JSON.stringify({ "is-official": ["true"] }) } },
        { api: "GET /images/search", query: { term: `${WEB}/team`, filters: JSON.stringify({ "is-automated": ["true"], stars: ["3"] }) } },
        { api: "GET /images/search", query: { term: `${WEB}/team`, filters: JSON.stringify({ stars: ["many"] }) } },
        { api: "GET /images/search", query: { term: `${WEB}/team`, filters: JSON.stringify({ "is-official": ["yes"] }) } },
        { cli: ["search", "--no-trunc", `${WEB}/team`] },
      ],
    },
    {
      name: "distribution/save-several-and-load",
      steps: [
        { api: "POST /images/busybox/tag", query: { repo: "second", tag: "v2" } },
        { api: "GET /images/get", query: { names: "busybox" }, compare: "status" },
        { cli: ["save", "-o", "/dev/null", "busybox", "second:v2"] },
        { api: "GET /images/get?names=busybox&names=nosuch" },
        { api: "GET /images/get?names=busybox&names=second:v2", compare: "status" },
        { api: "POST /images/load", body: SAVED, headers: TAR },
        { api: "DELETE /images/loaded:v1" },
        { api: "POST /images/load", query: { quiet: 1 }, body: SAVED, headers: TAR },
        { api: "POST /images/load", query: { quiet: 1 }, body: SAVED, headers: TAR },
        { api: "GET /images/loaded:v1/json" },
        { api: "POST /images/load", body: tarOf({ "manifest.json": "[{\"Config\":\"missing.json\",\"Layers\":[]}]" }), headers: TAR },
        { api: "POST /images/load", body: tarOf({ "manifest.json": "not json" }), headers: TAR },
        { api: "POST /images/load", body: tarOf({ "hello.txt": "no manifest" }), headers: TAR },
        { api: "POST /images/load", body: LEGACY, headers: TAR },
        { api: "GET /images/legacy:v1/json", ignore: ["Id", "Created", "DockerVersion"] },
        { api: "GET /images/legacy:v1/history", ignore: ["*.Id", "*.Created"] },
      ],
    },
  ];
}

const filter = process.env.CONF_FILTER ?? "";
/** Start the registries only when CONF_FILTER picks a scenario of this file. */
const wanted = filter === "" || build({ open: 1, auth: 1, web: 1 }).some((s) => s.name.includes(filter));
export const scenarios: Scenario[] = wanted ? build({ ...(await startRegistries()), web: await serveLayer() }) : build({ open: 1, auth: 1, web: 1 });

const OWN_TERMS = "the in-band error names the fault in each engine's own terms (dockerd: a Go error about its temp dir or JSON decoder; Berth: what is wrong with the archive)";
const LEGACY_LOAD = "fixed on branch conf-known (docker load of the pre-1.10 layout: per-layer directories and a repositories file)";

export const allowlist: AllowEntry[] = [
  { scenario: "distribution/auth", step: 1, where: "status", why: "Berth types a registry's refusal of the credentials as 401 (the client's error); dockerd 20.10 answers 500 with the same message" },
  { scenario: "distribution/auth", step: 3, where: "*", why: "a body that is not JSON is the client's error: Berth answers 400 in its own words; dockerd 20.10 answers 500 with Go's decoder message" },
  { scenario: "distribution/import-from-src", step: 6, where: "*", why: "a body that is not a tar is the client's error: Berth answers 400 in its own words; dockerd 20.10 answers 500 with its tar helper's exit status" },
  { scenario: "distribution/save-several-and-load", step: 10, where: "body.error*", why: OWN_TERMS },
  { scenario: "distribution/save-several-and-load", step: 11, where: "body.error*", why: OWN_TERMS },
  { scenario: "distribution/save-several-and-load", step: 12, where: "body.error*", why: OWN_TERMS },
  { scenario: "distribution/save-several-and-load", step: 13, where: "*", why: LEGACY_LOAD },
  { scenario: "distribution/save-several-and-load", step: 14, where: "*", why: LEGACY_LOAD },
  { scenario: "distribution/save-several-and-load", step: 15, where: "*", why: LEGACY_LOAD },
];
