import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Command } from "commander";
import { FlagValueError, StatusError } from "./context.js";
import { buildCreateRequest, normalizeBoolArgs, parseKeyValueFile, parsePublish, parseRestartPolicy, resolveEnv } from "./runopts.js";

const ctx = {
  lookupEnv: (n: string) => ({ HOME: "/root", FOO: "bar" } as Record<string, string>)[n],
  readFile: (p: string) => {
    if (p === "env.list") return "# comment\nA=1\n\n  B=two words\nFOO\nMISSING\n";
    throw Object.assign(new Error("nope"), { code: "ENOENT" });
  },
};

describe("buildCreateRequest", () => {
  it("builds docker's body for a plain run", () => {
    const { name, body } = buildCreateRequest("busybox", ["echo", "hello"], {}, ctx);
    assert.equal(name, undefined);
    assert.equal(body.Image, "busybox");
    assert.deepEqual(body.Cmd, ["echo", "hello"]);
    assert.equal(body.AttachStdout, true);
    assert.equal(body.AttachStderr, true);
    assert.equal(body.AttachStdin, false);
    assert.equal(body.OpenStdin, false);
    assert.equal(body.Tty, false);
    assert.equal(body.Entrypoint, null);
    assert.equal(body.HostConfig["AutoRemove"], false);
    assert.deepEqual(body.HostConfig["RestartPolicy"], { Name: "no", MaximumRetryCount: 0 });
    assert.equal(body.HostConfig["NetworkMode"], "default");
  });

  it("maps run flags", () => {
    const { name, body } = buildCreateRequest(
      "busybox",
      [],
      {
        interactive: true,
        tty: true,
        rm: true,
        name: "web",
        env: ["X=1", "HOME", "UNSET"],
        envFile: ["env.list"],
        workdir: "/tmp",
        user: "1000:1000",
        entrypoint: "",
        label: ["a=b", "c"],
        hostname: "h",
        addHost: ["db:10.0.0.2", "cache=10.0.0.3"],
        logDriver: "json-file",
        logOpt: ["max-size=10m"],
        privileged: true,
        readOnly: true,
        capAdd: ["NET_ADMIN"],
        capDrop: ["ALL"],
        stopSignal: "SIGINT",
        stopTimeout: "5",
        runtime: "runc",
        init: true,
        memory: "64m",
        cpus: "1.5",
        pidsLimit: "100",
      },
      { ...ctx, consoleSize: [24, 80] },
    );
    assert.equal(name, "web");
    assert.equal(body.Cmd, null);
    assert.deepEqual(body.Env, ["A=1", "B=two words", "FOO=bar", "X=1", "HOME=/root", "UNSET"]);
    assert.equal(body.AttachStdin, true);
    assert.equal(body.OpenStdin, true);
    assert.equal(body.StdinOnce, true);
    assert.equal(body.Tty, true);
    assert.equal(body.WorkingDir, "/tmp");
    assert.equal(body.User, "1000:1000");
    assert.deepEqual(body.Entrypoint, [""]);
    assert.deepEqual(body.Labels, { a: "b", c: "" });
    assert.equal(body.Hostname, "h");
    assert.equal(body.StopSignal, "SIGINT");
    assert.equal(body.StopTimeout, 5);
    const hc = body.HostConfig;
    assert.equal(hc["AutoRemove"], true);
    assert.deepEqual(hc["ExtraHosts"], ["db:10.0.0.2", "cache:10.0.0.3"]);
    assert.deepEqual(hc["LogConfig"], { Type: "json-file", Config: { "max-size": "10m" } });
    assert.equal(hc["Privileged"], true);
    assert.equal(hc["ReadonlyRootfs"], true);
    assert.deepEqual(hc["CapAdd"], ["CAP_NET_ADMIN"]);
    assert.deepEqual(hc["CapDrop"], ["ALL"]);
    assert.equal(hc["Runtime"], "runc");
    assert.equal(hc["Init"], true);
    assert.equal(hc["Memory"], 64 * 1024 * 1024);
    assert.equal(hc["NanoCpus"], 1_500_000_000);
    assert.equal(hc["PidsLimit"], 100);
    assert.deepEqual(hc["ConsoleSize"], [24, 80]);
  });

  it("detached runs attach nothing", () => {
    const { body } = buildCreateRequest("busybox", ["top"], { detach: true, interactive: true }, ctx);
    assert.equal(body.AttachStdin, false);
    assert.equal(body.AttachStdout, false);
    assert.equal(body.AttachStderr, false);
    assert.equal(body.OpenStdin, true);
    assert.equal(body.StdinOnce, false);
  });

  it("publishes ports and mounts volumes", () => {
    const { body } = buildCreateRequest("busybox", [], { publish: ["8080:80", "127.0.0.1:53:53/udp"], volume: ["/data", "/host:/c:ro"] }, ctx);
    assert.deepEqual(body.ExposedPorts, { "80/tcp": {}, "53/udp": {} });
    assert.deepEqual(body.HostConfig["PortBindings"], { "80/tcp": [{ HostIp: "", HostPort: "8080" }], "53/udp": [{ HostIp: "127.0.0.1", HostPort: "53" }] });
    assert.deepEqual(body.Volumes, { "/data": {} });
    assert.deepEqual(body.HostConfig["Binds"], ["/host:/c:ro"]);
  });

  it("rejects bad flags with status 125", () => {
    const bad = (f: Parameters<typeof buildCreateRequest>[2], re: RegExp) =>
      assert.throws(() => buildCreateRequest("busybox", [], f, ctx), (e: unknown) => ((e instanceof StatusError && e.status === 125) || e instanceof FlagValueError) && re.test((e as Error).message));
    bad({ rm: true, restart: "always" }, /conflicting options: cannot specify both --restart and --rm/);
    bad({ memory: "lots" }, /invalid argument "lots" for "-m, --memory" flag/);
    bad({ cpus: "x" }, /--cpus/);
    bad({ stopTimeout: "soon" }, /--stop-timeout/);
    bad({ logOpt: ["novalue"] }, /invalid key value pair format in log-opt/);
    bad({ addHost: ["nohost"] }, /bad format for add-host/);
    bad({ envFile: ["missing.env"] }, /open missing.env: no such file or directory/);
  });
});

describe("small parsers", () => {
  it("restart policies", () => {
    assert.deepEqual(parseRestartPolicy("on-failure:3"), { Name: "on-failure", MaximumRetryCount: 3 });
    assert.deepEqual(parseRestartPolicy("always"), { Name: "always", MaximumRetryCount: 0 });
    // docker 28 leaves the policy's name and count to the daemon; only the syntax is checked here.
    assert.deepEqual(parseRestartPolicy("sometimes"), { Name: "sometimes", MaximumRetryCount: 0 });
    assert.throws(() => parseRestartPolicy(":3"), /no policy provided before colon/);
    assert.throws(() => parseRestartPolicy("on-failure:x"), /maximum retry count must be an integer/);
  });

  it("env values", () => {
    assert.equal(resolveEnv("A=1", ctx.lookupEnv), "A=1");
    assert.equal(resolveEnv("FOO", ctx.lookupEnv), "FOO=bar");
    assert.equal(resolveEnv("NOPE", ctx.lookupEnv), "NOPE");
    assert.throws(() => resolveEnv("=x", ctx.lookupEnv));
  });

  it("env files", () => {
    assert.deepEqual(parseKeyValueFile("A=1\n#x\nB\n", "f", () => undefined), ["A=1"]);
    assert.throws(() => parseKeyValueFile("BAD NAME=1\n", "f"), /contains whitespaces/);
  });

  it("publish specs", () => {
    assert.deepEqual(parsePublish("80"), { port: "80/tcp", binding: { HostIp: "", HostPort: "" } });
    assert.deepEqual(parsePublish("[::1]:8080:80"), { port: "80/tcp", binding: { HostIp: "::1", HostPort: "8080" } });
  });
});

describe("normalizeBoolArgs", () => {
  const cmd = new Command("run")
    .option("-d, --detach")
    .option("-i, --interactive")
    .option("-t, --tty")
    .option("--rm")
    .option("--no-sig-proxy")
    .option("-e, --env <list>")
    .option("--name <string>");

  it("rewrites boolean assignments before the image", () => {
    assert.deepEqual(normalizeBoolArgs(cmd, ["--detach=false", "--rm=true", "busybox", "--rm=false"]), ["--rm", "busybox", "--rm=false"]);
    assert.deepEqual(normalizeBoolArgs(cmd, ["--sig-proxy=false", "busybox"]), ["--no-sig-proxy", "busybox"]);
    assert.deepEqual(normalizeBoolArgs(cmd, ["--sig-proxy=true", "busybox"]), ["busybox"]);
    assert.deepEqual(normalizeBoolArgs(cmd, ["-d=true", "busybox"]), ["--detach", "busybox"]);
  });

  it("skips option values and clusters", () => {
    assert.deepEqual(normalizeBoolArgs(cmd, ["-e", "--rm=true", "busybox"]), ["-e", "--rm=true", "busybox"]);
    assert.deepEqual(normalizeBoolArgs(cmd, ["-it", "--name", "web", "busybox", "sh", "-c", "x"]), ["-it", "--name", "web", "busybox", "sh", "-c", "x"]);
    assert.deepEqual(normalizeBoolArgs(cmd, ["-ite", "A=1", "--tty=false", "busybox"]), ["-ite", "A=1", "busybox"]);
    assert.deepEqual(normalizeBoolArgs(cmd, ["-e=A=1", "busybox"]), ["-e", "A=1", "busybox"]);
  });

  it("rejects non-boolean values", () => {
    assert.throws(() => normalizeBoolArgs(cmd, ["--rm=maybe", "busybox"]), /strconv.ParseBool/);
  });
});
