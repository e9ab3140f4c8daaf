import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fullRunConfig } from "./config.js";

describe("image run config", () => {
  it("serializes as dockerd's container Config: every plain field, in Go's order, empty ones omitted where Go omits them", () => {
    const c = fullRunConfig({ Cmd: ["sh"], Env: ["A=1"], ExposedPorts: {}, Shell: [], ArgsEscaped: false });
    // The JSON dockerd 20.10 writes for this config (its container.Config struct).
    assert.equal(
      JSON.stringify(c),
      '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1"],"Cmd":["sh"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}',
    );
  });

  it("keeps the container fields a commit carries, and the optional ones that are set", () => {
    const c = fullRunConfig({ Hostname: "h", Image: "busybox", Tty: true, OpenStdin: true, AttachStdout: true, ArgsEscaped: true, NetworkDisabled: true, StopTimeout: 0, StopSignal: "SIGINT", Labels: {} });
    assert.equal(c.Hostname, "h");
    assert.equal(c.Image, "busybox");
    assert.equal(c.Tty, true);
    assert.equal(c.OpenStdin, true);
    assert.equal(c.AttachStdout, true);
    assert.equal(c.ArgsEscaped, true);
    assert.equal(c.NetworkDisabled, true);
    assert.equal(c.StopTimeout, 0);
    assert.equal(c.StopSignal, "SIGINT");
    assert.deepEqual(c.Labels, {});
    assert.deepEqual(Object.keys(c).slice(0, 2), ["Hostname", "Domainname"]);
  });
});
