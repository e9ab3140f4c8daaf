import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { normalizeBoolArgs } from "./runopts.js";
import { buildProgram, locateCommand } from "./program.js";

/** Parse argv with the real command tree, capturing the action's arguments instead of running it. */
async function parse(args: string[]): Promise<{ path: string[]; captured: unknown[] }> {
  const program = buildProgram();
  const { cmd, path, start } = locateCommand(program, args);
  assert.ok(cmd, `no command for ${args.join(" ")}`);
  let captured: unknown[] = [];
  (cmd as Command).action((...a: unknown[]) => {
    captured = a.slice(0, -1);
  });
  const normalized = [...args.slice(0, start), ...normalizeBoolArgs(cmd as Command, args.slice(start))];
  await program.parseAsync(normalized, { from: "user" });
  return { path, captured };
}

describe("command tree", () => {
  it("parses docker-style run arguments", async () => {
    const { path, captured } = await parse(["run", "-it", "--rm", "-e", "A", "--name=web", "busybox", "sh", "-c", "echo hi; ls -l"]);
    assert.deepEqual(path, ["run"]);
    const [image, command, opts] = captured as [string, string[], Record<string, unknown>];
    assert.equal(image, "busybox");
    assert.deepEqual(command, ["sh", "-c", "echo hi; ls -l"]);
    assert.equal(opts["interactive"], true);
    assert.equal(opts["tty"], true);
    assert.equal(opts["rm"], true);
    assert.deepEqual(opts["env"], ["A"]);
    assert.equal(opts["name"], "web");
  });

  it("keeps container flags after the image for the container", async () => {
    const { captured } = await parse(["run", "--detach=false", "busybox", "ls", "-la", "--rm"]);
    const [, command, opts] = captured as [string, string[], Record<string, unknown>];
    assert.deepEqual(command, ["ls", "-la", "--rm"]);
    assert.equal(opts["detach"], undefined);
    assert.equal(opts["rm"], undefined);
  });

  it("finds grouped commands and aliases", async () => {
    assert.deepEqual((await parse(["-H", "unix:///x", "container", "ls", "-a"])).path, ["container", "ls"]);
    assert.deepEqual((await parse(["container", "ps"])).path, ["container", "ls"]);
    assert.deepEqual((await parse(["image", "rm", "-f", "x"])).path, ["image", "rm"]);
    assert.deepEqual((await parse(["image", "make-busybox", "-o", "/tmp/x.tar"])).path, ["image", "make-busybox"]);
  });

  it("parses exec with the command's own flags", async () => {
    const { path, captured } = await parse(["exec", "-it", "-e", "A=1", "web", "sh", "-c", "ls -l"]);
    assert.deepEqual(path, ["exec"]);
    const [container, command, opts] = captured as [string, string[], Record<string, unknown>];
    assert.equal(container, "web");
    assert.deepEqual(command, ["sh", "-c", "ls -l"]);
    assert.deepEqual(opts["env"], ["A=1"]);
    assert.equal(opts["tty"], true);
  });

  it("collects repeatable options", async () => {
    const { captured } = await parse(["ps", "--filter", "status=exited", "-f", "name=web", "-q"]);
    const [opts] = captured as [Record<string, unknown>];
    assert.deepEqual(opts["filter"], ["status=exited", "name=web"]);
    assert.equal(opts["quiet"], true);
  });
});
