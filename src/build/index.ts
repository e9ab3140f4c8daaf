/**
 * The build subsystem: `docker build` with the legacy builder protocol. A pure
 * Dockerfile language in dockerfile/ (parser, instructions, substitution,
 * .dockerignore) and the builder in builder/ (context, steps, RUN containers,
 * cache). Other folders import from here only.
 */
export { parseDuration } from "./dockerfile/index.js";
export { Builder, BuildStepError, type BuildRequest, type BuildOutput, type BuildResult, type BuilderOptions } from "./builder/builder.js";
export type { BuildNetwork, BuildNetworkAttachment } from "./builder/run.js";
export { parseInstructions, parseDockerfile, parseDockerignore, IgnoreMatcher, DockerfileError, type Dockerfile, type Stage, type Command } from "./dockerfile/index.js";
