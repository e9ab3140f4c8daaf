/**
 * `docker build` (legacy builder, DOCKER_BUILDKIT=0) with the real docker CLI
 * against a private berthd: multi-stage builds, heredocs, ARG/ENV substitution,
 * .dockerignore, failures with exit codes, the persistent cache, the built
 * image's run config, and hostile contexts that try to read outside.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";
import { DOCKER, type RunResult, leftovers, run, withDaemon } from "./harness.js";
import bcrypt from "bcryptjs";
import { startRegistry } from "../../src/registry/index.js";

describe("docker build (legacy builder) against berthd", () => {
  const d = withDaemon();
  const work = mkdtempSync("/tmp/bbuild-");
  let ctxN = 0;

  const build = (args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> =>
    run(DOCKER, ["build", ...args], { env: { ...d.env, DOCKER_BUILDKIT: "0" }, timeoutMs: opts.timeoutMs ?? 60_000 });

  /** A fresh context directory with the given files (a value of {link} makes a symlink). */
  async function context(files: Record<string, string | { link: string }>): Promise<string> {
    const dir = path.join(work, `ctx${++ctxN}`);
    for (const [name, content] of Object.entries(files)) {
      const p = path.join(dir, name);
      await fs.mkdir(path.dirname(p), { recursive: true });
      if (typeof content === "string") await fs.writeFile(p, content);
      else await fs.symlink(content.link, p);
    }
    return dir;
  }

  const steps = (out: string): string[] => out.split("\n").filter((l) => l.startsWith("Step "));
  const usingCache = (out: string): number => out.split("\n").filter((l) => l === " ---> Using cache").length;

  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it("builds a multi-stage Dockerfile: a shell-script stage compiles a file, the busybox stage copies it; unneeded stages are skipped", async () => {
    const dir = await context({
      Dockerfile: [
        "FROM busybox AS build",
        "WORKDIR /src",
        "COPY compile.sh input.txt ./",
        "RUN sh compile.sh input.txt > /out.bin && test -s /out.bin",
        "",
        "FROM busybox AS unused",
        "RUN echo this stage must not run; exit 1",
        "",
        "FROM busybox",
        "COPY --from=build /out.bin /app/out.bin",
        'CMD ["cat", "/app/out.bin"]',
        "",
      ].join("\n"),
      "compile.sh": 'echo "compiled from $(wc -l < "$1") lines:"; tr a-z A-Z < "$1"\n',
      "input.txt": "hello\nworld\n",
    });
    const r = await build(["-t", "multi:1", dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(steps(r.stdout), [
      "Step 1/7 : FROM busybox AS build",
      "Step 2/7 : WORKDIR /src",
      "Step 3/7 : COPY compile.sh input.txt ./",
      "Step 4/7 : RUN sh compile.sh input.txt > /out.bin && test -s /out.bin",
      "Step 5/7 : FROM busybox",
      "Step 6/7 : COPY --from=build /out.bin /app/out.bin",
      'Step 7/7 : CMD ["cat", "/app/out.bin"]',
    ]);
    assert.doesNotMatch(r.stdout, /must not run/);
    assert.match(r.stdout, /^Successfully built [0-9a-f]{12}$/m); // reference: dockerd 20.10
    assert.match(r.stdout, /^Successfully tagged multi:1$/m);
    const out = await d.docker(["run", "--rm", "multi:1"]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "compiled from 2 lines:\nHELLO\nWORLD\n");
    // Every step is an image; the steps below a result only show with -a. As with Docker's legacy
    // builder, the "build" stage's result stays behind as a dangling <none> image.
    const imgs = await d.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert.deepEqual(imgs.stdout.trim().split("\n").sort(), ["<none>:<none>", "busybox:latest", "multi:1"]);
    const all = await d.docker(["images", "-a", "-q"]);
    assert.equal(all.stdout.trim().split("\n").length, 1 + 3 + 2, all.stdout);
  });

  it("builds FROM scratch with COPY --from=<image>, --target for an earlier stage, several tags; metadata steps add no layer", async () => {
    const dir = await context({
      Dockerfile: [
        "FROM scratch AS tiny",
        "COPY --from=busybox /bin/busybox /bin/busybox",
        "ENV IN=scratch",
        'ENTRYPOINT ["/bin/busybox"]',
        'CMD ["echo", "scratch ok"]',
        "",
        "FROM busybox AS later",
        "COPY --from=0 /bin/busybox /copy-of-busybox",
        "",
      ].join("\n"),
    });
    const r = await build(["--target", "tiny", "-t", "tiny:a", "-t", "tiny:b", dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(steps(r.stdout).length, 5);
    assert.match(r.stdout, /^Successfully tagged tiny:a\nSuccessfully tagged tiny:b$/m); // reference: dockerd 20.10
    const out = await d.docker(["run", "--rm", "tiny:b"]);
    assert.equal(out.stdout, "scratch ok\n", out.stderr);
    const ins = await d.docker(["image", "inspect", "-f", "{{len .RootFS.Layers}} {{.Config.Env}}", "tiny:a"]);
    assert.equal(ins.stdout.trim(), "1 [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin IN=scratch]"); // reference: dockerd 20.10
    const hist = await d.docker(["history", "--format", "{{.Size}}|{{.CreatedBy}}", "tiny:a"]);
    assert.match(hist.stdout, /^0B\|\/bin\/sh -c #\(nop\) {2}ENV IN=scratch$/m); // reference: dockerd 20.10
    const all = await build([dir]);
    assert.equal(all.code, 0, all.stdout + all.stderr);
    assert.match(all.stdout, /^Step 6\/7 : FROM busybox AS later$/m);
  });

  it("runs RUN heredocs (shell and #! scripts) and writes COPY heredocs with variables expanded", async () => {
    const dir = await context({
      Dockerfile: [
        "FROM busybox",
        "ENV WHO=heredoc",
        "RUN <<EOF",
        "echo first line",
        "echo second $WHO > /one.txt",
        "EOF",
        "RUN <<'SCRIPT'",
        "#!/bin/sh",
        'echo "script $0 says $WHO" > /two.txt',
        "SCRIPT",
        "COPY <<-EOT <<'RAW' /etc/",
        "\tname=${WHO}",
        "\tEOT",
        "raw=${WHO}",
        "RAW",
        "RUN cat <<A > /three.txt && cat <<B >> /three.txt",
        "a $WHO",
        "A",
        "b",
        "B",
        "",
      ].join("\n"),
    });
    const r = await build(["-t", "heredoc", dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^first line$/m);
    const out = await d.docker(["run", "--rm", "heredoc", "cat", "/one.txt", "/two.txt", "/etc/EOT", "/etc/RAW", "/three.txt"]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "second heredoc\nscript /dev/pipes/SCRIPT says heredoc\nname=heredoc\nraw=${WHO}\na heredoc\nb\n");
  });

  it("substitutes ARG and ENV like Docker: defaults, alternatives, --build-arg overrides, global ARGs in FROM", async () => {
    const dir = await context({
      Dockerfile: [
        "ARG BASE=busybox",
        "ARG VERSION=1.0",
        "FROM ${BASE}:latest",
        "ARG VERSION",
        "ARG NAME=default-name",
        "ARG EMPTY",
        "ENV APP_DIR=/opt/${NAME} UNSET_DEFAULT=${NOPE:-fallback} SET_ALT=${VERSION:+v$VERSION} EMPTY_DASH=${EMPTY-dash} EMPTY_COLON=${EMPTY:-colon}",
        'ENV QUOTED="two words" ESCAPED=\\$VERSION',
        "WORKDIR $APP_DIR",
        'RUN echo "run sees NAME=$NAME VERSION=$VERSION proxy=$HTTP_PROXY" > /run.txt',
        "",
      ].join("\n"),
    });
    const r = await build(["--build-arg", "NAME=custom", "--build-arg", "UNUSED=1", "--build-arg", "HTTP_PROXY=http://proxy:3128", "-t", "args", dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/); // reference: dockerd 20.10
    const env = await d.docker(["image", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}{{.Config.WorkingDir}}", "args"]);
    assert.equal(
      env.stdout,
      [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "APP_DIR=/opt/custom",
        "UNSET_DEFAULT=fallback",
        "SET_ALT=v1.0",
        "EMPTY_DASH=dash",
        "EMPTY_COLON=colon",
        "QUOTED=two words",
        "ESCAPED=$VERSION",
        "/opt/custom",
        "",
      ].join("\n"),
    );
    const out = await d.docker(["run", "--rm", "args", "cat", "/run.txt"]);
    assert.equal(out.stdout, "run sees NAME=custom VERSION=1.0 proxy=http://proxy:3128\n");
    // Build args in use are recorded with the RUN step, as Docker does; the predefined proxy args are not.
    const hist = await d.docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", "args"]);
    assert.match(hist.stdout, /^\|2 NAME=custom VERSION=1\.0 \/bin\/sh -c echo/m); // reference: dockerd 20.10
    assert.doesNotMatch(hist.stdout, /proxy:3128/);
  });

  it("applies .dockerignore (**, ! exceptions, leading /) to what COPY sees", async () => {
    const dir = await context({
      Dockerfile: "FROM busybox\nCOPY . /ctx/\n",
      ".dockerignore": "# build junk\n**/*.log\n/secret.env\ndocs\n!docs/keep.md\nDockerfile\n",
      "app.txt": "app",
      "secret.env": "TOKEN=1",
      "sub/secret.env": "kept: only the top-level one is excluded",
      "logs/a.log": "x",
      "sub/deep/b.log": "x",
      "docs/keep.md": "keep",
      "docs/drop.md": "drop",
    });
    const r = await build(["-t", "ignore", dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = await d.docker(["run", "--rm", "ignore", "find", "/ctx", "-type", "f"]);
    assert.deepEqual(out.stdout.trim().split("\n").sort(), ["/ctx/.dockerignore", "/ctx/app.txt", "/ctx/docs/keep.md", "/ctx/sub/secret.env"]);
  });

  it("builds with a Dockerfile outside the context (-f), which the CLI appends to the context tar", async () => {
    const ctx = await context({ "data.txt": "outside-df\n" });
    const dfDir = await context({ Dockerfile: "FROM busybox\nCOPY data.txt /data.txt\nCMD [\"cat\", \"/data.txt\"]\n" });
    const r = await build(["-q", "-t", "outside:df", "-f", path.join(dfDir, "Dockerfile"), ctx]);
    assert.equal(r.code, 0, r.stderr);
    const out = await d.docker(["run", "--rm", "outside:df"]);
    assert.equal(out.stdout, "outside-df\n");
  });

  it("reports a failing RUN with its exit code, and parse errors with file, line and column", async () => {
    const dir = await context({ Dockerfile: "FROM busybox\nRUN echo partial output\nRUN exit 3\nRUN echo never\n" });
    const r = await build([dir]);
    assert.equal(r.code, 3, r.stdout + r.stderr); // reference: dockerd 20.10
    assert.match(r.stdout, /^partial output$/m);
    assert.match(r.stderr, /^The command '\/bin\/sh -c exit 3' returned a non-zero code: 3$/m); // reference: dockerd 20.10
    assert.doesNotMatch(r.stdout, /never/);

    const bad = await context({ "Dockerfile.dev": "FROM busybox\n\n  COPPY a b\n" });
    const p = await build(["-f", path.join(bad, "Dockerfile.dev"), bad]);
    assert.equal(p.code, 1); // reference: dockerd 20.10
    // reference: dockerd 20.10 says "dockerfile parse error line 3: unknown instruction: COPPY"; Berth keeps the
    // wording of the parser moby 23+ vendors (file:line:column, a suggestion).
    assert.match(p.stderr, /dockerfile parse error on line 3: Dockerfile\.dev:3:3: unknown instruction: COPPY \(did you mean COPY\?\)/);
  });

  it("reuses every step of an unchanged context from the cache, also after a daemon restart", async () => {
    const dir = await context({
      Dockerfile: "FROM busybox\nENV X=1\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCMD [\"cat\", \"/b.txt\"]\n",
      "a.txt": "cached\n",
    });
    const first = await build(["-t", "cached", dir]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(usingCache(first.stdout), 0);
    const id1 = /Successfully built (\w+)/.exec(first.stdout)?.[1];
    const second = await build(["-t", "cached", dir]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(usingCache(second.stdout), 4, second.stdout);
    assert.equal(/Successfully built (\w+)/.exec(second.stdout)?.[1], id1);
    await d.stop();
    await d.start();
    const third = await build(["-t", "cached", dir]);
    assert.equal(third.code, 0, third.stderr);
    assert.equal(usingCache(third.stdout), 4, third.stdout);
    // --no-cache ignores it.
    const fresh = await build(["--no-cache", "-t", "cached", dir]);
    assert.equal(usingCache(fresh.stdout), 0);
    assert.notEqual(/Successfully built (\w+)/.exec(fresh.stdout)?.[1], id1);
  });

  it("rebuilds from the changed COPY step only", async () => {
    const dir = await context({
      Dockerfile: "FROM busybox\nCOPY one.txt /one.txt\nRUN echo step3 > /s3\nCOPY two.txt /two.txt\nRUN cat /one.txt /two.txt > /both\n",
      "one.txt": "1\n",
      "two.txt": "2\n",
    });
    assert.equal((await build(["-t", "partial", dir])).code, 0);
    await fs.writeFile(path.join(dir, "two.txt"), "2 changed\n");
    const r = await build(["-t", "partial", dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    const cachedSteps = lines.flatMap((l, i) => (l === " ---> Using cache" ? [lines.slice(0, i).reverse().find((x) => x.startsWith("Step "))] : []));
    assert.deepEqual(cachedSteps, ["Step 2/5 : COPY one.txt /one.txt", "Step 3/5 : RUN echo step3 > /s3"]);
    const out = await d.docker(["run", "--rm", "partial", "cat", "/both"]);
    assert.equal(out.stdout, "1\n2 changed\n");
    // A mode change is a change too.
    await fs.chmod(path.join(dir, "one.txt"), 0o755);
    const m = await build(["-t", "partial", dir]);
    assert.equal(usingCache(m.stdout), 0, m.stdout);
  });

  it("produces an image that runs with its CMD, ENTRYPOINT, ENV, USER and WORKDIR", async () => {
    const dir = await context({
      Dockerfile: [
        "FROM busybox",
        "ENV GREETING=hi TARGET=world",
        "WORKDIR /home/app",
        "RUN chown nobody /home/app",
        "USER nobody",
        'ENTRYPOINT ["sh", "-c", "echo \\"$GREETING $TARGET from $(id -un) in $(pwd): $0 $*\\""]',
        'CMD ["default-arg"]',
        "LABEL org.example.kind=test",
        "EXPOSE 8080/tcp",
        "STOPSIGNAL SIGINT",
        "",
      ].join("\n"),
    });
    const r = await build(["-t", "runcfg", "--label", "extra=yes", dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Step 11\/11 : LABEL extra=yes$/m);
    const out = await d.docker(["run", "--rm", "runcfg"]);
    assert.equal(out.stdout, "hi world from nobody in /home/app: default-arg \n");
    const over = await d.docker(["run", "--rm", "-e", "TARGET=you", "runcfg", "x", "y"]);
    assert.equal(over.stdout, "hi you from nobody in /home/app: x y\n");
    const ins = await d.docker(["image", "inspect", "-f", "{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{.Config.StopSignal}}", "runcfg"]);
    assert.equal(ins.stdout.trim(), '{nobody}|/home/app|{"extra":"yes","org.example.kind":"test"}|{"8080/tcp":{}}|SIGINT'.replace("{nobody}", "nobody"));
  });

  it("puts RUN on the default bridge like dockerd (a container there answers), a user network by name with --network, loopback only with none, the host's with host", async () => {
    const web = await d.docker(["run", "-d", "--name", "buildweb", "busybox", "sh", "-c", "echo from-web > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]);
    assert.equal(web.code, 0, web.stderr);
    const ip = (await d.docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "buildweb"])).stdout.trim();
    const dir = await context({
      Dockerfile: "FROM busybox\nARG TARGET\nRUN echo \"links: $(ls /sys/class/net | tr '\\n' ' ')\"; wget -qO- http://$TARGET/index.html || echo unreachable\n",
    });
    const bridged = await build(["--no-cache", "--build-arg", `TARGET=${ip}`, dir]);
    assert.equal(bridged.code, 0, bridged.stdout + bridged.stderr);
    assert.match(bridged.stdout, /^links: eth0 lo $/m);
    assert.match(bridged.stdout, /^from-web$/m);

    assert.equal((await d.docker(["network", "create", "buildnet"])).code, 0);
    assert.equal((await d.docker(["network", "connect", "--alias", "webalias", "buildnet", "buildweb"])).code, 0);
    const named = await build(["--no-cache", "--network", "buildnet", "--build-arg", "TARGET=webalias", dir]);
    assert.equal(named.code, 0, named.stdout + named.stderr);
    assert.match(named.stdout, /^from-web$/m, "names resolve on a user network");

    const none = await build(["--no-cache", "--network", "none", "--build-arg", `TARGET=${ip}`, dir]);
    assert.equal(none.code, 0, none.stdout + none.stderr);
    assert.match(none.stdout, /^links: lo $/m);
    assert.match(none.stdout, /unreachable$/m);

    const before = await fs.readdir("/sys/class/net");
    const host = await build(["--no-cache", "--network", "host", "--build-arg", "TARGET=127.0.0.1:1", dir]);
    assert.equal(host.code, 0, host.stdout + host.stderr);
    const links = /^links: (.*)$/m.exec(host.stdout)?.[1]?.trim().split(" ") ?? [];
    // The host's interfaces that were there throughout (other tests create and remove veths and bridges).
    const after = await fs.readdir("/sys/class/net");
    const stable = before.filter((n) => after.includes(n) && !n.startsWith("veth"));
    assert.ok(links.includes("lo"), host.stdout);
    for (const n of stable) assert.ok(links.includes(n), `${n} missing from ${host.stdout}`);
    await d.docker(["rm", "-f", "buildweb"]);
    assert.equal((await d.docker(["network", "rm", "buildnet"])).code, 0, "no build container holds the network any more");
  });

  it("streams RUN output as it happens", async () => {
    const tar = Buffer.concat([tarEntry("Dockerfile", "FROM busybox\nRUN echo early; sleep 1.5; echo late\n"), Buffer.alloc(1024)]);
    const seen: Record<string, number> = {};
    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath: d.sock, path: "/v1.47/build?nocache=1", method: "POST", headers: { "Content-Type": "application/x-tar" } }, (res) => {
        res.on("data", (c: Buffer) => {
          for (const w of ["early", "late"]) if (seen[w] === undefined && c.toString().includes(`"${w}\\n"`)) seen[w] = Date.now() - t0;
        });
        res.on("end", resolve);
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(tar);
    });
    assert.ok(seen["early"] !== undefined && seen["late"] !== undefined, JSON.stringify(seen));
    assert.ok((seen["late"] as number) - (seen["early"] as number) >= 1000, JSON.stringify(seen));
  });

  it("keeps a hostile context inside: symlinks out of the context and ../ paths read nothing outside", async () => {
    const outside = path.join(work, "outside-secret");
    await fs.writeFile(outside, "HOST SECRET\n");
    const dir = await context({
      "abs-link": { link: outside },
      "rel-link": { link: "../../../../../../../../" + outside.slice(1) },
      "root-link": { link: "/" },
      "dir/inner-link": { link: outside },
      Dockerfile: "FROM busybox\n",
    });
    for (const src of ["abs-link", "rel-link", `root-link${outside}`, `../../..${outside}`, "abs-*"]) {
      await fs.writeFile(path.join(dir, "Dockerfile"), `FROM busybox\nCOPY ${src} /got\nRUN cat /got\n`);
      const r = await build([dir]);
      assert.notEqual(r.code, 0, `COPY ${src} should fail:\n${r.stdout}`);
      assert.doesNotMatch(r.stdout + r.stderr, /HOST SECRET/);
      // reference: dockerd 20.10 (links resolve inside the context; only a lexical ../ escape is "forbidden")
      const why = src.startsWith("../") ? `forbidden path outside the build context: ${src} \\(\\)` : `file not found in build context or excluded by \\.dockerignore: stat ${src.replace("*", "link")}: file does not exist`;
      assert.match(r.stderr, new RegExp(`^COPY failed: ${why}$`, "m"));
    }
    // A directory copy keeps the symlink itself; it dangles inside the image.
    await fs.writeFile(path.join(dir, "Dockerfile"), "FROM busybox\nCOPY dir /d\nRUN readlink /d/inner-link && ! cat /d/inner-link\n");
    const ok = await build([dir]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.doesNotMatch(ok.stdout, /HOST SECRET/);

    // A hand-made context tar with a path escaping through a symlink is refused before anything runs.
    const tar = Buffer.concat([tarEntry("Dockerfile", "FROM busybox\nCOPY . /c\n"), tarEntry("esc", "", "2", path.dirname(outside)), tarEntry("esc/written-outside", "pwned"), Buffer.alloc(1024)]);
    const res = await post(d.sock, "/v1.47/build", tar);
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, /escapes through symlink/);
    await assert.rejects(fs.stat(path.join(path.dirname(outside), "written-outside")));
  });

  it("prints only the image id with -q, writes --iidfile, and keeps a step cached exactly while its image exists, builder prune or not", async () => {
    const dir = await context({ Dockerfile: "FROM busybox\nRUN echo quiet > /q\n" });
    const iid = path.join(work, "iid");
    const r = await build(["-q", "--iidfile", iid, dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/); // reference: dockerd 20.10
    assert.equal((await fs.readFile(iid, "utf8")).trim(), r.stdout.trim());
    const prune = await d.docker(["builder", "prune", "-a", "-f"]);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /Total reclaimed space/); // reference: dockerd 20.10
    // dockerd 20.10's legacy builder finds its cache among the images: prune leaves it (reference: "Using cache").
    const again = await build([dir]);
    assert.equal(usingCache(again.stdout), 1, again.stdout);
    // Without the step's image, the step runs again (reference: dockerd 20.10).
    assert.equal((await d.docker(["rmi", r.stdout.trim()])).code, 0);
    const rebuilt = await build([dir]);
    assert.equal(usingCache(rebuilt.stdout), 0, rebuilt.stdout);
    // The tagged images built earlier survive.
    const img = await d.docker(["run", "--rm", "multi:1"]);
    assert.equal(img.code, 0, img.stderr);
  });

  it("records in each step's image its container, that container's #(nop) config and the parent image, as dockerd 20.10 (API < 1.45)", async () => {
    const dir = await context({ Dockerfile: "FROM busybox\nENV LEGACY=1\nRUN echo x > /x\nCMD [\"true\"]\n" });
    const r = await build(["--rm", "-t", "legacy:1", dir]);
    assert.equal(r.code, 0, r.stderr);
    const inspect = (ref: string, format: string) => run(DOCKER, ["image", "inspect", "--format", format, ref], { env: { ...d.env, DOCKER_API_VERSION: "1.41" } });
    const top = await inspect("legacy:1", "{{.Parent}}|{{.Config.Image}}|{{.Container}}|{{.ContainerConfig.Hostname}}|{{json .ContainerConfig.Cmd}}|{{.DockerVersion}}");
    assert.equal(top.code, 0, top.stderr);
    const [parent, image, container, hostname, cmd, version] = top.stdout.trim().split("|");
    assert.match(parent ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.equal(image, parent, "Config.Image names the parent, as dockerd's");
    assert.match(container ?? "", /^[0-9a-f]{64}$/);
    assert.equal(hostname, container?.slice(0, 12));
    assert.equal(cmd, '["/bin/sh","-c","#(nop) ","CMD [\\"true\\"]"]'); // reference: dockerd 20.10
    assert.equal(version, "0.1.0");
    // The parent is the RUN step: its container config holds the command it ran; its Config the image's.
    const run1 = await inspect(parent ?? "", "{{json .ContainerConfig.Cmd}}|{{json .Config.Cmd}}|{{.Config.Hostname}}");
    assert.equal(run1.stdout.trim(), '["/bin/sh","-c","echo x > /x"]|null|'); // the harness's busybox has no CMD
    // history names every step's image through the parents.
    const hist = await d.docker(["history", "-q", "--no-trunc", "legacy:1"]);
    assert.equal(hist.stdout.trim().split("\n")[1], parent);
  });

  it("pulls a base image that is not in the store, with the client's registry credentials (FROM a loopback registry)", async () => {
    const htpasswd = path.join(work, "htpasswd");
    await fs.writeFile(htpasswd, `builder:${bcrypt.hashSync("s3cret", 4).replace(/^\$2b\$/, "$2y$")}\n`);
    const reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(work, "registry"), htpasswd });
    try {
      const ref = `${reg.addr}/base:1`;
      const login = await d.docker(["login", "-u", "builder", "--password-stdin", reg.addr], { input: "s3cret\n" });
      assert.equal(login.code, 0, login.stderr);
      assert.equal((await d.docker(["tag", "busybox", ref])).code, 0);
      const push = await d.docker(["push", ref]);
      assert.equal(push.code, 0, push.stderr);
      assert.equal((await d.docker(["rmi", ref])).code, 0);
      const dir = await context({ Dockerfile: `FROM ${ref}\nRUN echo on the pulled base\n` });
      const r = await build([dir]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^Status: (Downloaded newer image|Image is up to date) for ${ref.replace(/[.]/g, "\\.")}$`, "m"));
      assert.match(r.stdout, /^on the pulled base$/m);
    } finally {
      await reg.close();
    }
  });

  it("measures a 4-step build cold (--no-cache) and fully cached", async (t) => {
    const dir = await context({
      Dockerfile: "FROM busybox\nCOPY f.txt /f.txt\nRUN sed s/a/b/ /f.txt > /g.txt\nENV DONE=1\n",
      "f.txt": "abc\n",
    });
    const time = async (args: string[]): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const r = await build(args);
      assert.equal(r.code, 0, r.stderr);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const cold = await time(["--no-cache", "-t", "timed", dir]);
    const warm = await time(["-t", "timed", dir]);
    t.diagnostic(`4-step build: cold ${cold.toFixed(0)} ms, cached ${warm.toFixed(0)} ms (docker CLI round trip included)`);
    assert.ok(warm < cold, `cached (${warm} ms) should be faster than cold (${cold} ms)`);
  });

  it("leaves no mounts, runtime containers or monitors behind", async () => {
    const l = await leftovers(d);
    assert.deepEqual(l.runtime, []);
    assert.deepEqual(l.monitors, []);
    assert.deepEqual(
      l.mounts.filter((m) => m.includes("/snapshots/build-")),
      [],
    );
  });
});

/** A ustar entry: type "0" file (with content) or "2" symlink. */
function tarEntry(name: string, content: string, type = "0", linkname = ""): Buffer {
  const data = Buffer.from(content);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write(type, 156);
  h.write(linkname, 157, 100);
  h.write("ustar\u000000", 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}

function post(sock: string, p: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path: p, method: "POST", headers: { "Content-Type": "application/x-tar", "Content-Length": body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
