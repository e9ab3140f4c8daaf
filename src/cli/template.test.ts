import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TemplateError, parseTemplate, printValue } from "./template.js";

const run = (src: string, data: unknown): string => parseTemplate(src).execute(data);

const container = {
  Id: "2547b9c126cc",
  Name: "/web",
  State: { Status: "exited", Running: false, ExitCode: 3, Pid: 0 },
  Config: { Cmd: ["sh", "-c", "exit 3"], Env: ["A=1", "B=2"], Labels: { "com.example": "x" }, Entrypoint: null },
};

describe("Go template subset", () => {
  it("evaluates field chains", () => {
    assert.equal(run("{{.State.ExitCode}}", container), "3");
    assert.equal(run("{{.Id}}", container), "2547b9c126cc");
    assert.equal(run("id={{.Id}} name={{.Name}}", container), "id=2547b9c126cc name=/web");
  });

  it("prints values like Go's %v", () => {
    assert.equal(run("{{.Config.Cmd}}", container), "[sh -c exit 3]");
    assert.equal(run("{{.Config.Labels}}", container), "map[com.example:x]");
    assert.equal(run("{{.State.Running}}", container), "false");
    assert.equal(run("{{.Config.Entrypoint}}", container), "<nil>");
    assert.equal(printValue({ b: 1, a: [true, "x"] }), "map[a:[true x] b:1]");
    assert.equal(printValue(1.5), "1.5");
  });

  it("json", () => {
    assert.equal(run("{{json .Config.Cmd}}", container), '["sh","-c","exit 3"]');
    assert.equal(run("{{json .State}}", container), '{"Status":"exited","Running":false,"ExitCode":3,"Pid":0}');
    assert.equal(run("{{.Config.Cmd | json}}", container), '["sh","-c","exit 3"]');
  });

  it("index, join, len, upper, lower, printf", () => {
    assert.equal(run('{{index .Config.Labels "com.example"}}', container), "x");
    assert.equal(run('{{index .Config.Labels "missing"}}', container), "");
    assert.equal(run("{{index .Config.Cmd 2}}", container), "exit 3");
    assert.equal(run('{{join .Config.Env ","}}', container), "A=1,B=2");
    assert.equal(run("{{len .Config.Env}}", container), "2");
    assert.equal(run("{{upper .State.Status}} {{lower .Name}}", container), "EXITED /web");
    assert.equal(run('{{printf "%s:%d" .Name .State.ExitCode}}', container), "/web:3");
    assert.equal(run('{{pad .Name 1 2}}|{{truncate .Id 4}}', container), " /web  |2547");
    assert.equal(run('{{split "a,b" ","}}', container), "[a b]");
    assert.equal(run("{{title .State.Status}}", container), "Exited");
  });

  it("if / else / with / range", () => {
    assert.equal(run("{{if .State.Running}}up{{else}}down{{end}}", container), "down");
    assert.equal(run("{{if eq .State.ExitCode 3}}three{{else if eq .State.ExitCode 4}}four{{else}}other{{end}}", container), "three");
    assert.equal(run("{{range .Config.Env}}[{{.}}]{{end}}", container), "[A=1][B=2]");
    assert.equal(run("{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}", container), "0=A=1 1=B=2 ");
    assert.equal(run("{{range $k, $v := .Config.Labels}}{{$k}}->{{$v}}{{end}}", container), "com.example->x");
    assert.equal(run("{{with .State}}{{.Status}}{{end}}", container), "exited");
    assert.equal(run("{{range .Config.Entrypoint}}x{{else}}none{{end}}", container), "none");
    assert.equal(run("{{$n := .Name}}{{with .State}}{{$n}}:{{.Status}}{{end}}", container), "/web:exited");
  });

  it("trims whitespace with {{- and -}}", () => {
    assert.equal(run("a  {{- .Name -}}  b", container), "a/webb");
    assert.equal(run("{{/* comment */}}x", container), "x");
  });

  it("parenthesised pipelines and comparisons", () => {
    assert.equal(run('{{if and (eq .State.Status "exited") (gt .State.ExitCode 0)}}failed{{end}}', container), "failed");
    assert.equal(run("{{(index .Config.Cmd 0)}}", container), "sh");
    assert.equal(run("{{not .State.Running}}", container), "true");
  });

  it("calls method-like fields with arguments", () => {
    const ctx = { Label: (k: unknown) => ({ a: "1" } as Record<string, string>)[String(k)] ?? "" };
    assert.equal(run('{{.Label "a"}}|{{.Label "b"}}', ctx), "1|");
  });

  it("reports errors", () => {
    assert.throws(() => parseTemplate("{{.Name"), TemplateError);
    assert.throws(() => parseTemplate("{{if .X}}"), TemplateError);
    assert.throws(() => run("{{nofunc .Name}}", container), /function "nofunc" not defined/);
    assert.throws(() => run("{{.Missing}}", container), /map has no entry for key "Missing"/);
  });

  it("header mode renders header names", () => {
    const t = parseTemplate("{{.ID}}\t{{.Label \"com.example.some-label\"}}\t{{.Unknown}}");
    assert.equal(t.execute({ ID: "CONTAINER ID", Label: "LABEL" }, { headerMode: true }), "CONTAINER ID\tsome label\t");
  });
});
