import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chompHeredocContent, extractBuilderFlags, parseDockerfile, parseHeredoc, parseWords } from "./parser.js";
import {
  type Command,
  type Dockerfile,
  expandCommand,
  expandExposePorts,
  expandHeredocContent,
  makeExpander,
  parseCommandLine,
  parseDuration,
  parseInstructions,
} from "./instructions.js";
import { DockerfileError } from "./errors.js";
import { envFromList } from "./lex.js";

function only(df: Dockerfile, i = 0): Command {
  const c = df.stages[0]?.commands[i];
  assert.ok(c, `no command ${i}`);
  return c;
}

function parseErr(text: string): DockerfileError {
  try {
    parseInstructions(text);
  } catch (e) {
    assert.ok(e instanceof DockerfileError, `not a DockerfileError: ${String(e)}`);
    return e;
  }
  assert.fail("expected a parse error");
}

describe("Dockerfile parser: lines, comments, continuations", () => {
  it("splits instructions and records their lines", () => {
    const r = parseDockerfile("FROM busybox\n\n# a comment\nRUN echo a \\\n  && echo b\nCMD [\"sh\"]\n");
    assert.deepEqual(
      r.nodes.map((n) => [n.cmd, n.startLine, n.endLine]),
      [
        ["FROM", 1, 1],
        ["RUN", 4, 5],
        ["CMD", 6, 6],
      ],
    );
    assert.equal(r.nodes[1]?.original, "RUN echo a   && echo b");
    assert.deepEqual(r.nodes[1]?.comments, ["a comment"]);
  });

  it("skips comment lines inside a continuation and warns about empty continuation lines", () => {
    const r = parseDockerfile("FROM x\nRUN echo a \\\n# inside\n  b \\\n\n  c\n");
    assert.equal(r.nodes[1]?.original, "RUN echo a   b   c");
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0] ?? "", /Empty continuation line/);
  });

  it("keeps a doubled escape at the end of a line literal (no continuation)", () => {
    const r = parseDockerfile("FROM x\nRUN echo a\\\\\nRUN b\n");
    assert.equal(r.nodes.length, 3);
    assert.equal(r.nodes[1]?.args[0], "echo a\\\\");
  });

  it("accepts instructions in any case, leading whitespace, CRLF line ends and a BOM", () => {
    const r = parseDockerfile("\uFEFF  from busybox\r\n\trun echo hi\r\n");
    assert.deepEqual(
      r.nodes.map((n) => [n.cmd, n.args, n.column]),
      [
        ["from", ["busybox"], 3],
        ["run", ["echo hi"], 2],
      ],
    );
  });

  it("reads a file without a final newline", () => {
    const df = parseInstructions("FROM a\nCMD x");
    assert.deepEqual(only(df), { kind: "cmd", code: "CMD x", loc: { file: "Dockerfile", line: 2, endLine: 2, column: 1 }, cmd: { cmdLine: ["x"], files: [], prependShell: true } });
  });
});

describe("Dockerfile parser: directives", () => {
  it("switches the escape token to backtick", () => {
    const r = parseDockerfile("# escape=`\nFROM x\nRUN dir c:\\ `\n  /b\n");
    assert.equal(r.escapeToken, "`");
    assert.equal(r.nodes[1]?.original, "RUN dir c:\\   /b");
  });

  it("records syntax and tolerates spacing and case", () => {
    const r = parseDockerfile("#  SYNTAX = docker/dockerfile:1\n# escape = \\\nFROM x\n");
    assert.equal(r.syntax, "docker/dockerfile:1");
    assert.equal(r.escapeToken, "\\");
  });

  it("treats directives after a comment, blank line or instruction as comments", () => {
    assert.equal(parseDockerfile("# hello\n# escape=`\nFROM x\n").escapeToken, "\\");
    assert.equal(parseDockerfile("\n# escape=`\nFROM x\n").escapeToken, "\\");
    assert.equal(parseDockerfile("FROM x\n# escape=`\n").escapeToken, "\\");
    assert.equal(parseDockerfile("# unknown=1\n# escape=`\nFROM x\n").escapeToken, "\\");
  });

  it("rejects a repeated or invalid directive with its line", () => {
    assert.throws(() => parseDockerfile("# escape=`\n# escape=`\nFROM x\n"), /Dockerfile:2:1: only one escape parser directive can be used/);
    assert.throws(() => parseDockerfile("# escape=x\nFROM x\n"), /Dockerfile:1:1: invalid escape token 'x' does not match ` or \\/);
  });

  it("does not turn directive lines into comments of the first instruction", () => {
    const r = parseDockerfile("# syntax=x\n# about from\nFROM x\n");
    assert.deepEqual(r.nodes[0]?.comments, ["about from"]);
  });
});

describe("Dockerfile parser: argument forms", () => {
  it("parses exec form as JSON and falls back to shell form", () => {
    const df = parseInstructions('FROM x\nRUN ["echo", "a b"]\nRUN [not json\nCMD ["a"] trailing\nENTRYPOINT []\n');
    assert.deepEqual((only(df, 0) as Extract<Command, { kind: "run" }>).cmd, { cmdLine: ["echo", "a b"], files: [], prependShell: false });
    assert.deepEqual((only(df, 1) as Extract<Command, { kind: "run" }>).cmd.cmdLine, ["[not json"]);
    assert.deepEqual((only(df, 2) as Extract<Command, { kind: "cmd" }>).cmd, { cmdLine: ['["a"] trailing'], files: [], prependShell: true });
    assert.equal((only(df, 3) as Extract<Command, { kind: "entrypoint" }>).cmd.cmdLine, null);
  });

  it("rejects JSON arrays of non-strings", () => {
    const e = parseErr("FROM x\nCMD [1, 2]\n");
    assert.equal(e.line, 2);
    assert.match(e.message, /arrays must be comprised of strings only/);
  });

  it("parses ENV in both forms, with quotes kept for substitution", () => {
    const df = parseInstructions('FROM x\nENV A=1 B="two words" C=\nENV D  old form value\n');
    const e1 = only(df, 0) as Extract<Command, { kind: "env" }>;
    assert.deepEqual(e1.env, [
      { key: "A", value: "1", noDelim: false },
      { key: "B", value: '"two words"', noDelim: false },
      { key: "C", value: "", noDelim: false },
    ]);
    const e2 = only(df, 1) as Extract<Command, { kind: "env" }>;
    assert.deepEqual(e2.env, [{ key: "D", value: "old form value", noDelim: true }]);
    const x = makeExpander(envFromList([]));
    assert.equal(expandCommand(e1, x).env[1]?.value, "two words");
  });

  it("rejects ENV without a value and pairs without =", () => {
    assert.match(parseErr("FROM x\nENV A\n").message, /Dockerfile:2:1: ENV must have two arguments/);
    assert.match(parseErr("FROM x\nENV A=1 B\n").message, /can't find = in "B"/);
  });

  it("parses LABEL with quoted keys and escaped newlines", () => {
    const df = parseInstructions('FROM x\nLABEL "com.example.vendor"="ACME Inc" version=1.0 \\\n  description="a \\\n b"\n');
    const l = expandCommand(only(df) as Extract<Command, { kind: "label" }>, makeExpander(envFromList([])));
    assert.deepEqual(
      l.labels.map((p) => [p.key, p.value]),
      [
        ["com.example.vendor", "ACME Inc"],
        ["version", "1.0"],
        ["description", "a  b"],
      ],
    );
  });

  it("parses ARG with and without defaults", () => {
    const df = parseInstructions("ARG V=1\nARG EMPTY= NODEF\nFROM x\nARG IN=\"q d\"\n");
    assert.equal(df.metaArgs.length, 2);
    assert.deepEqual(df.metaArgs[1]?.args, [{ key: "EMPTY", value: "" }, { key: "NODEF" }]);
    assert.deepEqual((only(df) as Extract<Command, { kind: "arg" }>).args, [{ key: "IN", value: '"q d"' }]);
  });

  it("parses FROM with platform and stage names (lower-cased)", () => {
    const df = parseInstructions("FROM --platform=linux/amd64 busybox AS Build\nFROM build as final\nFROM scratch\n");
    assert.deepEqual(
      df.stages.map((s) => [s.name, s.baseName, s.platform, s.code]),
      [
        ["build", "busybox", "linux/amd64", "FROM --platform=linux/amd64 busybox AS Build"],
        ["final", "build", "", "FROM build as final"],
        ["", "scratch", "", "FROM scratch"],
      ],
    );
  });

  it("rejects bad FROM lines with what was expected", () => {
    assert.match(parseErr("FROM a b\n").message, /line 1: Dockerfile:1:1: FROM requires either one or three arguments \(expected FROM <image> \[AS <name>\]\)/);
    assert.match(parseErr("FROM a AS 1st\n").message, /invalid name for build stage: "1st"/);
    assert.equal(parseErr("FROM a AS 1st\n").column, 11);
  });

  it("parses COPY/ADD flags, JSON sources and whitespace lists", () => {
    const df = parseInstructions('FROM x\nCOPY --from=build --chown=1:2 --chmod=755 --link a b /dst/\nADD ["with space", "/d"]\nCOPY --exclude=*.md --exclude=x . /app\n');
    const c = only(df, 0) as Extract<Command, { kind: "copy" }>;
    assert.equal(c.from, "build");
    assert.equal(c.chown, "1:2");
    assert.equal(c.chmod, "755");
    assert.equal(c.link, true);
    assert.deepEqual(c.sd, { dest: "/dst/", sources: ["a", "b"], contents: [] });
    const a = only(df, 1) as Extract<Command, { kind: "add" }>;
    assert.deepEqual(a.sd.sources, ["with space"]);
    assert.deepEqual((only(df, 2) as Extract<Command, { kind: "copy" }>).exclude, ["*.md", "x"]);
  });

  it("rejects unknown, duplicate and value-less flags, pointing at the flag", () => {
    const e = parseErr("FROM x\nCOPY --form=a b c\n");
    assert.match(e.message, /unknown flag: --form \(expected one of --chown, --from, --chmod, --link, --exclude, --parents\)/);
    assert.equal(e.column, 6);
    assert.match(parseErr("FROM x\nCOPY --from=a --from=b c d\n").message, /duplicate flag specified: --from/);
    assert.match(parseErr("FROM x\nCOPY --from c d\n").message, /missing a value on flag: --from/);
    assert.match(parseErr("FROM x\nWORKDIR --x=1 /a\n").message, /unknown flag: --x \(WORKDIR takes no flags\)/);
  });

  it("requires a destination for COPY and ADD", () => {
    assert.match(parseErr("FROM x\nCOPY onlyone\n").message, /COPY requires at least two arguments, but only one was provided/);
  });

  it("parses HEALTHCHECK with durations in nanoseconds", () => {
    const df = parseInstructions('FROM x\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --retries=3 CMD curl -f http://localhost/\nHEALTHCHECK CMD ["true"]\nHEALTHCHECK NONE\n');
    assert.deepEqual((only(df, 0) as Extract<Command, { kind: "healthcheck" }>).health, {
      Test: ["CMD-SHELL", "curl -f http://localhost/"],
      Interval: 30e9,
      Timeout: 90e9,
      StartPeriod: 500e6,
      StartInterval: 0,
      Retries: 3,
    });
    assert.deepEqual((only(df, 1) as Extract<Command, { kind: "healthcheck" }>).health.Test, ["CMD", "true"]);
    assert.deepEqual((only(df, 2) as Extract<Command, { kind: "healthcheck" }>).health, { Test: ["NONE"] });
    assert.match(parseErr("FROM x\nHEALTHCHECK --interval=1us CMD x\n").message, /cannot be less than 1ms/);
    assert.match(parseErr("FROM x\nHEALTHCHECK FOO x\n").message, /Unknown type "FOO" in HEALTHCHECK \(try CMD\)/);
    assert.match(parseErr("FROM x\nHEALTHCHECK NONE x\n").message, /HEALTHCHECK NONE takes no arguments/);
  });

  it("parses Go durations", () => {
    assert.equal(parseDuration("1h2m3.5s"), 3723.5e9);
    assert.equal(parseDuration("0"), 0);
    assert.throws(() => parseDuration("10"), /missing unit/);
    assert.throws(() => parseDuration("abc"), /invalid duration/);
  });

  it("parses EXPOSE (sorted) and splits substituted words", () => {
    const df = parseInstructions("FROM x\nEXPOSE 8080/udp $PORTS 80\n");
    const e = only(df) as Extract<Command, { kind: "expose" }>;
    assert.deepEqual(e.ports, ["$PORTS", "80", "8080/udp"]);
    assert.deepEqual(expandExposePorts(e, envFromList(["PORTS=443 8443/tcp"])), ["443", "8443/tcp", "80", "8080/udp"]);
  });

  it("parses VOLUME as JSON or a list, USER, WORKDIR, STOPSIGNAL, MAINTAINER", () => {
    const df = parseInstructions('FROM x\nVOLUME ["/a", "/b c"]\nVOLUME /d /e\nUSER app:app\nWORKDIR /some dir\nSTOPSIGNAL SIGTERM\nMAINTAINER me <me@x>\n');
    assert.deepEqual((only(df, 0) as Extract<Command, { kind: "volume" }>).volumes, ["/a", "/b c"]);
    assert.deepEqual((only(df, 1) as Extract<Command, { kind: "volume" }>).volumes, ["/d", "/e"]);
    assert.equal((only(df, 2) as Extract<Command, { kind: "user" }>).user, "app:app");
    assert.equal((only(df, 3) as Extract<Command, { kind: "workdir" }>).path, "/some dir");
    assert.equal((only(df, 4) as Extract<Command, { kind: "stopsignal" }>).signal, "SIGTERM");
    assert.equal((only(df, 5) as Extract<Command, { kind: "maintainer" }>).maintainer, "me <me@x>");
    assert.match(parseErr("FROM x\nUSER\n").message, /USER requires exactly one argument/);
  });

  it("accepts SHELL only in JSON form", () => {
    const df = parseInstructions('FROM x\nSHELL ["/bin/bash", "-c"]\n');
    assert.deepEqual((only(df) as Extract<Command, { kind: "shell" }>).shell, ["/bin/bash", "-c"]);
    assert.match(parseErr("FROM x\nSHELL /bin/bash -c\n").message, /SHELL requires the arguments to be in JSON form/);
  });

  it("parses ONBUILD and refuses chained or FROM triggers", () => {
    const df = parseInstructions("FROM x\nONBUILD RUN echo built\nONBUILD COPY --chown=1 . /app\n");
    assert.equal((only(df, 0) as Extract<Command, { kind: "onbuild" }>).expression, "RUN echo built");
    assert.equal((only(df, 1) as Extract<Command, { kind: "onbuild" }>).expression, "COPY --chown=1 . /app");
    assert.match(parseErr("FROM x\nONBUILD ONBUILD RUN x\n").message, /Chaining ONBUILD/);
    assert.match(parseErr("FROM x\nONBUILD FROM y\n").message, /FROM isn't allowed as an ONBUILD trigger/);
    const trig = parseCommandLine("COPY --chown=1 . /app", "Dockerfile");
    assert.equal(trig.kind, "copy");
  });

  it("reports unknown instructions with a suggestion and the list of valid ones", () => {
    const e = parseErr("FROM x\n\n  FRUM y\n");
    assert.equal(e.line, 3);
    assert.equal(e.column, 3);
    assert.match(e.message, /^dockerfile parse error on line 3: Dockerfile:3:3: unknown instruction: FRUM \(did you mean FROM\?\); expected one of ADD, ARG, CMD/);
  });

  it("requires FROM before other instructions (ARG allowed) and at least one instruction", () => {
    assert.match(parseErr("RUN x\nFROM y\n").message, /Dockerfile:1:1: no build stage in current context: expected FROM before RUN/);
    assert.match(parseErr("# just a comment\n\n").message, /file with no instructions/);
  });

  it("uses the given file name in errors", () => {
    assert.throws(() => parseInstructions("FROM\n", "build/Dockerfile.dev"), /build\/Dockerfile\.dev:1:1: FROM requires/);
  });
});

describe("Dockerfile parser: heredocs", () => {
  it("reads RUN heredocs as inline files", () => {
    const df = parseInstructions("FROM x\nRUN <<EOF\necho one\necho two\nEOF\nRUN echo after\n");
    const r = only(df, 0) as Extract<Command, { kind: "run" }>;
    assert.deepEqual(r.cmd, { cmdLine: ["<<EOF"], files: [{ name: "EOF", data: "echo one\necho two\n", chomp: false, expand: true }], prependShell: true });
    assert.equal(r.loc.line, 2);
    assert.equal(r.loc.endLine, 5);
    assert.equal(r.code, "RUN <<EOF");
    assert.equal((only(df, 1) as Extract<Command, { kind: "run" }>).cmd.cmdLine?.[0], "echo after");
  });

  it("handles several heredocs, <<- tab stripping of the terminator and quoted terminators", () => {
    const df = parseInstructions("FROM x\nRUN cat <<A <<-'B'\na $X\nA\n\tb $X\n\tB\n");
    const r = only(df) as Extract<Command, { kind: "run" }>;
    assert.deepEqual(r.cmd.files, [
      { name: "A", data: "a $X\n", chomp: false, expand: true },
      { name: "B", data: "\tb $X\n", chomp: true, expand: false },
    ]);
  });

  it("turns COPY heredocs into file contents, chomped and expandable", () => {
    const df = parseInstructions("FROM x\nCOPY <<-EOF <<\"RAW\" /etc/\n\thello $NAME\n\tEOF\nraw $NAME\nRAW\n");
    const c = only(df) as Extract<Command, { kind: "copy" }>;
    assert.deepEqual(c.sd, {
      dest: "/etc/",
      sources: [],
      contents: [
        { path: "EOF", data: "hello $NAME\n", expand: true },
        { path: "RAW", data: "raw $NAME\n", expand: false },
      ],
    });
    assert.equal(expandHeredocContent("hello $NAME \"q\"\n", envFromList(["NAME=world"])), 'hello world "q"\n');
  });

  it("does not read heredocs for exec-form or other instructions", () => {
    const df = parseInstructions('FROM x\nRUN ["sh", "-c", "cat <<EOF"]\nLABEL a=<<EOF\n');
    assert.equal(df.stages[0]?.commands.length, 2);
  });

  it("rejects an unterminated heredoc and a heredoc destination", () => {
    const e = parseErr("FROM x\nRUN <<EOF\necho\n");
    assert.equal(e.line, 2);
    assert.match(e.message, /unterminated heredoc: expected a line "EOF"/);
    assert.match(parseErr("FROM x\nCOPY a <<EOF\nx\nEOF\n").message, /COPY cannot accept a heredoc as a destination/);
  });

  it("keeps ONBUILD heredocs in the trigger expression", () => {
    const df = parseInstructions("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n");
    const o = only(df) as Extract<Command, { kind: "onbuild" }>;
    assert.equal(o.expression, "RUN <<EOF\necho hi\nEOF");
    const t = parseCommandLine(o.expression, "Dockerfile") as Extract<Command, { kind: "run" }>;
    assert.equal(t.cmd.files[0]?.data, "echo hi\n");
  });
});

describe("Dockerfile parser: syntax details", () => {
  const node = (text: string, i = 0) => {
    const n = parseDockerfile(text).nodes[i];
    assert.ok(n, `no node ${i}`);
    return n;
  };

  it("keeps comments across blank lines, drops them at a bare # and after each instruction", () => {
    const r = parseDockerfile("# a\n\n# b\nFROM x\n# c\n#\n# d\nRUN y\nRUN z\n");
    assert.deepEqual(
      r.nodes.map((n) => n.comments),
      [["a", "b"], ["d"], []],
    );
  });

  it("continues lines when the escape is followed by blanks, not when it is escaped", () => {
    assert.equal(node("FROM x\nRUN a \\  \t\n b\n", 1).original, "RUN a  b");
    assert.equal(node("FROM x\nRUN a\\\\  \nRUN b\n", 1).original, "RUN a\\\\  ");
    // a lone escape line joins the lines around it
    assert.deepEqual(
      [node("FROM x\nRUN a \\\n\\\n  b\n", 1).original, node("FROM x\nRUN a \\\n\\\n  b\n", 1).endLine],
      ["RUN a   b", 4],
    );
  });

  it("ends a continuation at the end of the file", () => {
    const r = parseDockerfile("FROM x\nRUN a \\\n");
    assert.deepEqual([r.nodes[1]?.original, r.nodes[1]?.endLine], ["RUN a ", 2]);
  });

  it("counts lines the same with CRLF endings, and keeps CRLF in heredoc bodies", () => {
    const r = parseDockerfile("FROM x\r\nRUN a \\\r\n  b\r\nRUN <<EOF\r\nline\r\nEOF\r\nCMD c\r\n");
    assert.deepEqual(
      r.nodes.map((n) => [n.original, n.startLine, n.endLine]),
      [
        ["FROM x", 1, 1],
        ["RUN a   b", 2, 3],
        ["RUN <<EOF", 4, 6],
        ["CMD c", 7, 7],
      ],
    );
    assert.equal(r.nodes[2]?.heredocs[0]?.content, "line\r\n");
  });

  it("reads directives with leading blanks, ends them at the first other line", () => {
    const r = parseDockerfile("  # Escape = `\n# check=skip=all\n# syntax = a b\n# other=1\n# escape=\\\nFROM x\n");
    assert.equal(r.escapeToken, "`");
    assert.equal(r.syntax, "a b");
    assert.deepEqual(r.nodes[0]?.comments, ["other=1", "escape=\\"]);
  });

  it("takes a directive value of only blanks as that blank (an invalid escape), like Docker", () => {
    assert.throws(() => parseDockerfile("# escape= \nFROM x\n"), /Dockerfile:1:1: invalid escape token ' ' does not match/);
    assert.equal(parseDockerfile("# escape=\nFROM x\n").nodes[0]?.comments.length, 1);
  });

  it("splits the keyword at ASCII blanks only and trims Unicode blanks around the line", () => {
    assert.deepEqual([node("RUN\u00a0x\n").cmd, node("RUN\u00a0x\n").args], ["RUN\u00a0x", []]);
    assert.deepEqual([node("\u00a0FROM a\u0085\n").cmd, node("\u00a0FROM a\u0085\n").args, node("\u00a0FROM a\u0085\n").column], ["FROM", ["a"], 2]);
  });

  it("reads builder flags: quotes and escapes resolved, -- ends them", () => {
    assert.deepEqual(extractBuilderFlags(`--a="x y" --b='p\\'q' --c=z\\ w src dst`, "\\"), ["src dst", ["--a=x y", "--b=p'q", "--c=z w"]]);
    assert.deepEqual(extractBuilderFlags("--a=1 -- --not-a-flag dst", "\\"), [" --not-a-flag dst", ["--a=1"]]);
    assert.deepEqual(extractBuilderFlags("--a=1 --", "\\"), ["", ["--a=1"]]);
    assert.deepEqual(extractBuilderFlags("-a --b", "\\"), ["-a --b", []]);
    assert.deepEqual(extractBuilderFlags("--a=`  b", "`"), ["b", ["--a= "]]);
    const n = node("FROM x\nCOPY --chown=1 -- --dash /d\n", 1);
    assert.deepEqual([n.flags, n.args], [["--chown=1"], ["--dash", "/d"]]);
  });

  it("splits ARG/ENV/LABEL words keeping quotes and escapes", () => {
    assert.deepEqual(parseWords(`a="b c" d='e \\' f g\\ h "i \\" j" 'k`, "\\"), [`a="b c"`, `d='e \\'`, "f", `g\\ h`, `"i \\" j"`, "'k"]);
    assert.deepEqual(parseWords("a\u00a0b\tc ", "\\"), ["a", "b", "c"]);
    assert.deepEqual(parseWords("a`  b\\", "`"), ["a` ", "b\\"]);
    assert.deepEqual(node("FROM x\nENV A=1 \\\n  B='2 3'\n", 1).args, ["A", "1", "=", "B", "'2 3'", "="]);
    assert.deepEqual(node("FROM x\nLABEL name  the   value\n", 1).args, ["name", "the   value", ""]);
  });

  it("shapes HEALTHCHECK, EXPOSE, VOLUME and ONBUILD arguments", () => {
    const hc = node('FROM x\nHEALTHCHECK --retries=2 CMD  ["a", "b"]\n', 1);
    assert.deepEqual([hc.flags, hc.args, hc.json], [["--retries=2"], ["CMD", "a", "b"], true]);
    assert.deepEqual(node("FROM x\nHEALTHCHECK CMD  curl -f x\n", 1).args, ["CMD", "curl -f x"]);
    assert.deepEqual(node("FROM x\nEXPOSE 80\t\t443  53/udp\n", 1).args, ["80", "443", "53/udp"]);
    assert.deepEqual([node("FROM x\nVOLUME []\n", 1).args, node("FROM x\nVOLUME []\n", 1).json], [[], true]);
    const ob = node("FROM x\nONBUILD  COPY --from=a b c\n", 1);
    assert.deepEqual([ob.args, ob.sub?.cmd, ob.sub?.flags, ob.sub?.args], [["COPY", "b", "c"], "COPY", ["--from=a"], ["b", "c"]]);
  });

  it("parses heredoc markers", () => {
    assert.deepEqual(parseHeredoc("<<EOF"), { name: "EOF", fileDescriptor: 0, chomp: false, expand: true });
    assert.deepEqual(parseHeredoc("3<<-'END'"), { name: "END", fileDescriptor: 3, chomp: true, expand: false });
    assert.deepEqual(parseHeredoc('<<E"O"F'), { name: "EOF", fileDescriptor: 0, chomp: false, expand: false });
    assert.deepEqual(parseHeredoc('<<\\"EOF'), { name: '"EOF', fileDescriptor: 0, chomp: false, expand: true });
    for (const w of ["EOF", "cat<<EOF", "<<", "<<<EOF", "<<a<b", "<<'a' b"]) assert.equal(parseHeredoc(w), undefined, w);
  });

  it("treats a marker that is not valid shell syntax as an ordinary word", () => {
    assert.equal(parseHeredoc("<<${"), undefined);
    const df = parseInstructions("FROM x\nCOPY a <<${\n");
    const c = only(df) as Extract<Command, { kind: "copy" }>;
    assert.deepEqual(c.sd, { dest: "<<${", sources: ["a"], contents: [] });
    assert.throws(() => expandCommand(c, makeExpander(envFromList([]))), DockerfileError);
  });

  it("reads heredocs named on a continuation line, in order, after the whole instruction", () => {
    const r = parseDockerfile("FROM x\nRUN cat \\\n  <<A <<-B\na\nA\n\tb\n\tB\nRUN next\n");
    const n = r.nodes[1];
    assert.deepEqual(
      n?.heredocs.map((h) => [h.name, h.content, h.chomp]),
      [
        ["A", "a\n", false],
        ["B", "\tb\n", true],
      ],
    );
    assert.deepEqual([n?.startLine, n?.endLine, r.nodes[2]?.startLine], [2, 7, 8]);
  });

  it("does not take comments or continuations inside heredoc bodies", () => {
    const n = node("FROM x\nRUN <<EOF\n# not a comment \\\n\nEOF\n", 1);
    assert.equal(n.heredocs[0]?.content, "# not a comment \\\n\n");
  });

  it("strips leading tabs of every line of a chomped heredoc", () => {
    assert.equal(chompHeredocContent("\t\ta\n b\n\tc\r\n\t"), "a\n b\nc\r\n");
  });
});

describe("variable substitution in instructions", () => {
  const env = envFromList(["DIR=/srv", "USERNAME=app", "EMPTY=", "SIG=SIGINT"]);
  const x = makeExpander(env);

  it("expands COPY sources, destination and flags but not RUN", () => {
    const df = parseInstructions("FROM x\nCOPY --chown=${USERNAME}:${GROUP:-staff} ${DIR}/a $DIR/b/\nRUN echo $DIR\n");
    const c = expandCommand(only(df, 0) as Extract<Command, { kind: "copy" }>, x);
    assert.equal(c.chown, "app:staff");
    assert.deepEqual(c.sd.sources, ["/srv/a"]);
    assert.equal(c.sd.dest, "/srv/b/");
    const r = expandCommand(only(df, 1), x) as Extract<Command, { kind: "run" }>;
    assert.deepEqual(r.cmd.cmdLine, ["echo $DIR"]);
  });

  it("expands WORKDIR, USER, VOLUME, STOPSIGNAL, ARG and ENV with defaults and alternatives", () => {
    const df = parseInstructions(
      "FROM x\nWORKDIR ${DIR:-/default}/sub\nUSER ${USERNAME:+u-}$USERNAME\nVOLUME ${EMPTY:-/vol} ${EMPTY-/novol}\nSTOPSIGNAL $SIG\nARG A=${DIR}/x\nENV P=${UNSET:-fallback} Q=${DIR:+set}\n",
    );
    const cmds = (df.stages[0]?.commands ?? []).map((c) => expandCommand(c, x));
    assert.equal((cmds[0] as Extract<Command, { kind: "workdir" }>).path, "/srv/sub");
    assert.equal((cmds[1] as Extract<Command, { kind: "user" }>).user, "u-app");
    assert.deepEqual((cmds[2] as Extract<Command, { kind: "volume" }>).volumes, ["/vol", ""]);
    assert.equal((cmds[3] as Extract<Command, { kind: "stopsignal" }>).signal, "SIGINT");
    assert.deepEqual((cmds[4] as Extract<Command, { kind: "arg" }>).args, [{ key: "A", value: "/srv/x" }]);
    assert.deepEqual(
      (cmds[5] as Extract<Command, { kind: "env" }>).env.map((e) => `${e.key}=${e.value}`),
      ["P=fallback", "Q=set"],
    );
  });

  it("reports bad substitutions at the instruction's location", () => {
    const df = parseInstructions("FROM x\n\nWORKDIR ${DIR\n");
    assert.throws(() => expandCommand(only(df), x), (e: unknown) => e instanceof DockerfileError && e.line === 3 && /missing '}'/.test(e.message));
  });
});
