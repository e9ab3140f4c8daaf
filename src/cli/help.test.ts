import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "./program.js";
import { dockerHelp } from "./help.js";

function find(path: string[]): Command {
  let c: Command = buildProgram();
  for (const n of path) c = c.commands.find((s) => s.name() === n) as Command;
  return c;
}

describe("docker-style help", () => {
  it("lays out a command as docker 28 does: usage, aliases, sorted flags with types and defaults, wrapped at 79 columns", () => {
    // reference: `docker logs --help` of docker 28.2.2, "docker" read as "berth"
    assert.equal(
      dockerHelp(find(["logs"])),
      `Usage:  berth logs [OPTIONS] CONTAINER

Fetch the logs of a container

Aliases:
  berth container logs, berth logs

Options:
      --details        Show extra details provided to logs
  -f, --follow         Follow log output
      --since string   Show logs since timestamp (e.g.
                       "2013-01-02T13:23:37Z") or relative (e.g. "42m"
                       for 42 minutes)
  -n, --tail string    Number of lines to show from the end of the logs
                       (default "all")
  -t, --timestamps     Show timestamps
      --until string   Show logs before a timestamp (e.g.
                       "2013-01-02T13:23:37Z") or relative (e.g. "42m"
                       for 42 minutes)
`,
    );
  });

  it("lists a management command's subcommands without their aliases, with docker's footer", () => {
    const text = dockerHelp(find(["context"]));
    assert.match(text, /^Usage: {2}berth context COMMAND\n\nManage contexts\n\nCommands:\n {2}create {6}Create a context\n/);
    assert.ok(text.includes("  ls          List contexts\n  rm          Remove one or more contexts\n"));
    assert.ok(text.endsWith("\n\nRun 'berth context COMMAND --help' for more information on a command.\n"));
  });

  it("groups the top level into common, management and other commands, then the global options", () => {
    const text = dockerHelp(buildProgram());
    assert.match(text, /^Usage: {2}berth \[OPTIONS\] COMMAND\n\n.*\n\nCommon Commands:\n {2}run {9}Create and run a new container from an image\n {2}exec {8}/);
    assert.match(text, /\n\nManagement Commands:\n {2}completion {2}.*\n {2}container {3}Manage containers\n {2}context {5}Manage contexts\n/);
    assert.match(text, /\n\nGlobal Options:\n {6}--config string {6}Location of client config files/);
    assert.match(text, /\n {2}-c, --context string {5}Name of the context to use to connect to the\n {27}daemon /);
  });
});
