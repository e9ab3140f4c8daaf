/** The Dockerfile language: pure parsing, instruction typing, variable substitution and .dockerignore matching. */
export { DockerfileError, type Location } from "./errors.js";
export { ShellLex, LexError, envFromList, emptyEnv, type EnvGetter, type LexOptions } from "./lex.js";
export { parseDockerfile, parseHeredoc, chompHeredocContent, INSTRUCTIONS, type Node, type Heredoc, type ParseResult } from "./parser.js";
export {
  parseInstructions,
  parseCommandLine,
  parseDuration,
  expandCommand,
  expandExposePorts,
  expandHeredocContent,
  makeExpander,
  labelCommand,
  type Dockerfile,
  type Stage,
  type Command,
  type CommandLine,
  type KeyValue,
  type ArgDef,
  type InlineFile,
  type SourcesAndDest,
  type HealthConfig,
  type Expander,
  type AddCommand,
  type CopyCommand,
  type RunCommand,
  type ArgCommand,
  type ExposeCommand,
} from "./instructions.js";
export { parseDockerignore, IgnoreMatcher, cleanPath } from "./ignore.js";
