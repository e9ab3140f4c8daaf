import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ShellLex, envFromList } from "./lex.js";

const env = envFromList(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL=", "space=abc  def", "leading=  ab c", "trailing=ab c   "]);

/** [input, expected] — "error" means the word must be rejected. */
const WORD_CASES: [string, string][] = [
  ["hello", "hello"],
  ["he'll'o", "hello"],
  ["he'llo", "error"],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", "error"],
  ["abc\\tdef", "abctdef"],
  ['"abc\\tdef"', "abc\\tdef"],
  ['"abc\\\\tdef"', "abc\\tdef"],
  ["'abc\\tdef'", "abc\\tdef"],
  ["hello\\", "hello"],
  ["hello\\\\", "hello\\"],
  ['"hello', "error"],
  ['"hello\\"', "error"],
  ['"hel\'lo"', "hel'lo"],
  ["'hello", "error"],
  ["'hello\\'", "hello\\"],
  ["'hello\\there'", "hello\\there"],
  ['"\'\'"', "''"],
  ["$.", "$."],
  ["he$1x", "hex"],
  ["he$.x", "he$.x"],
  ["he$pwd.", "he."],
  ["he$PWD", "he/home"],
  ["he\\$PWD", "he$PWD"],
  ["he\\\\$PWD", "he\\/home"],
  ['"he\\$PWD"', "he$PWD"],
  ['"he\\\\$PWD"', "he\\/home"],
  ["\\${}", "${}"],
  ["\\${}aaa", "${}aaa"],
  ["${}", "error"],
  ["he${}xx", "error"],
  ["he${hi}", "he"],
  ["he${hi}xx", "hexx"],
  ["he${PWD}", "he/home"],
  ["he${.}", "error"],
  ["he${XXX:-000}xx", "he000xx"],
  ["he${PWD:-000}xx", "he/homexx"],
  ["he${XXX:-$PWD}xx", "he/homexx"],
  ["he${XXX:-${PWD:-yyy}}xx", "he/homexx"],
  ["he${XXX:-${YYY:-yyy}}xx", "heyyyxx"],
  ["he${XXX:YYY}", "error"],
  ["he${XXX?}", "error"],
  ["he${XXX:?}", "error"],
  ["he${PWD?}", "he/home"],
  ["he${PWD:?}", "he/home"],
  ["he${NULL?}", "he"],
  ["he${NULL:?}", "error"],
  ["he${XXX:+${PWD}}xx", "hexx"],
  ["he${PWD:+${XXX}}xx", "hexx"],
  ["he${PWD:+${SHELL}}xx", "hebashxx"],
  ["he${XXX:+000}xx", "hexx"],
  ["he${PWD:+000}xx", "he000xx"],
  ["'he${XX}'", "he${XX}"],
  ['"he${PWD}"', "he/home"],
  ['"he\'$PWD\'"', "he'/home'"],
  ['"$PWD"', "/home"],
  ["'$PWD'", "$PWD"],
  ["'\\$PWD'", "\\$PWD"],
  ["'\"hello\"'", '"hello"'],
  ["he${PWD", "error"],
  ["he${PWD:=000}xx", "error"],
  ["he${PWD:+${PWD}:}xx", "he/home:xx"],
  ["he${XXX:-\\$PWD:}xx", "he$PWD:xx"],
  ["he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"],
  ["안녕$KOREAN", "안녕한국어"],
  ["안'녕'하세요", "안녕하세요"],
  ["${{aaa}", "error"],
  ["${aaa}}", "}"],
  ["${aaa:-bbb}}", "bbb}"],
  ["${aaa:-bbb", "error"],
  ["${aaa:-bbb {foo}", "bbb {foo"],
  ["${:}", "error"],
  ["${:-bbb}", "error"],
  ["$1", ""],
  ["${1:-bbb}", "bbb"],
  // no-colon forms: only unset (not empty) triggers the default
  ["${NULL-def}", ""],
  ["${NULL:-def}", "def"],
  ["${UNSET-def}", "def"],
  ["${NULL+alt}", "alt"],
  ["${NULL:+alt}", ""],
  ["${UNSET+alt}", ""],
  // prefix / suffix trimming and replacement
  ["${PWD#/}", "home"],
  ["${SHELL%sh}", "ba"],
  ["${SHELL%%*h}", ""],
  ["${SHELL#*a}", "sh"],
  ["${SHELL##*a}", "sh"],
  ["${PWD/o/0}", "/h0me"],
  ["${SHELL//[a]/x}", "bash"],
  ["${KOREAN/국/X}", "한X어"],
];

describe("variable substitution and quote removal (ProcessWord)", () => {
  const lex = new ShellLex("\\");
  for (const [input, want] of WORD_CASES) {
    it(`${input} → ${want}`, () => {
      if (want === "error") assert.throws(() => lex.processWord(input, env));
      else assert.equal(lex.processWord(input, env), want);
    });
  }
});

/** [input, expected words joined with ","] */
const WORDS_CASES: [string, string][] = [
  ["hello", "hello"],
  ["hello${hi}bye", "hellobye"],
  ["hello${space}bye", "helloabc,defbye"],
  ['hello"${space}"bye', "helloabc  defbye"],
  ['hello "${space}"bye', "hello,abc  defbye"],
  ["hello${leading}def", "hello,ab,cdef"],
  ['hello"${leading}" def', "hello  ab c,def"],
  ["hello${trailing}", "helloab,c"],
  ["hello${trailing}d", "helloab,c,d"],
  ['hello"${trailing}"d', "helloab c   d"],
  ['hello" there  "', "hello there  "],
  ["hello there     ", "hello,there"],
  ["hello\\ there", "hello there"],
  ['hello" there', "error"],
  ['hello\\" there', 'hello",there'],
  ['hello"\\\\there"', "hello\\there"],
  ["hello'$there'", "hello$there"],
];

describe("word splitting after substitution (ProcessWords)", () => {
  const lex = new ShellLex("\\");
  for (const [input, want] of WORDS_CASES) {
    it(`${input} → ${want}`, () => {
      if (want === "error") assert.throws(() => lex.processWords(input, env));
      else assert.equal(lex.processWords(input, env).join(","), want);
    });
  }
});

describe("lexer options", () => {
  it("uses the backtick as escape token when the Dockerfile says so", () => {
    const lex = new ShellLex("`");
    assert.equal(lex.processWord("c:\\dir`$PWD", env), "c:\\dir$PWD");
    assert.equal(lex.processWord("a`\"b", env), 'a"b');
  });

  it("keeps unset references with skipUnsetEnv, and quotes with rawQuotes", () => {
    const lex = new ShellLex("\\", { skipUnsetEnv: true, rawQuotes: true });
    assert.equal(lex.processWord("$NOPE ${NOPE:-x} '$PWD'", env), "$NOPE ${NOPE:-x} '$PWD'");
  });

  it("treats quotes as plain characters with skipProcessQuotes (heredoc contents)", () => {
    const lex = new ShellLex("\\", { skipProcessQuotes: true });
    assert.equal(lex.processWord(`echo "$PWD" '$SHELL'\n`, env), `echo "/home" 'bash'\n`);
  });

  it("reports which variables were used", () => {
    const r = new ShellLex("\\").process("$PWD ${MISSING:-x}", env);
    assert.deepEqual([...r.matched], ["PWD"]);
    assert.deepEqual([...r.unmatched], ["MISSING"]);
  });

  it("names the failing word in errors", () => {
    assert.throws(() => new ShellLex("\\").processWord("${X:?must be set}", env), /failed to process "\$\{X:\?must be set\}": X: must be set/);
  });
});
