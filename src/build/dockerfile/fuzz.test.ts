/**
 * Property-based fuzzing of the Dockerfile front end: whatever the text, parsing
 * either succeeds or fails with a DockerfileError (a 400 naming file, line and
 * column) — never another exception, never a hang. Same for the word lexer and
 * .dockerignore.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { EngineError } from "../../util/errors.js";
import { DockerfileError, IgnoreMatcher, LexError, ShellLex, envFromList, parseDockerignore, parseInstructions } from "./index.js";

const RUNS = process.env["BERTH_LONG"] ? 5000 : 600;

const instruction = fc.constantFrom("FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER", "FRM", "from");
const fragment = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom("busybox", "AS x", "--from=x", "--chown=1:1", '["a","b"]', '["unterminated', "$A", "${A:-x}", "${A", "<<EOF", "EOF", "\\", "`", "# escape=`", "# syntax=x", "\t", "=", "a=b c=d", "NONE", "CMD true", "--interval=1s"),
);
const line = fc.tuple(fc.option(instruction, { nil: undefined }), fc.array(fragment, { maxLength: 4 })).map(([i, frags]) => [i, ...frags].filter((x) => x !== undefined).join(" "));
const dockerfile = fc.array(line, { maxLength: 12 }).map((ls) => ls.join("\n"));

describe("Dockerfile front end under fuzzing", () => {
  it(`parses ${RUNS} generated Dockerfiles or refuses them with a located DockerfileError`, () => {
    fc.assert(
      fc.property(dockerfile, (text) => {
        try {
          parseInstructions(text);
        } catch (e) {
          assert.ok(e instanceof DockerfileError || (e instanceof EngineError && e.kind === "invalid"), `unexpected ${String(e)} for ${JSON.stringify(text)}`);
          if (e instanceof DockerfileError) assert.match(e.message, /Dockerfile:\d+:\d+: /);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("survives arbitrary unicode text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: "grapheme" }), (text) => {
        try {
          parseInstructions(text);
        } catch (e) {
          assert.ok(e instanceof EngineError && e.kind === "invalid", String(e));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("substitutes words or fails with a LexError, for any word and environment", () => {
    const lex = new ShellLex();
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), (word, env) => {
        try {
          lex.process(word, envFromList(env.map((v, i) => `V${i}=${v}`)));
        } catch (e) {
          assert.ok(e instanceof LexError, String(e));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("matches any path against any .dockerignore without throwing", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 40 }), (ignore, p) => {
        try {
          const m = new IgnoreMatcher(parseDockerignore(ignore));
          void m.excluded(p);
        } catch (e) {
          assert.ok(e instanceof EngineError && e.kind === "invalid", String(e));
        }
      }),
      { numRuns: RUNS },
    );
  });
});
