import { EngineError } from "../../util/errors.js";

/** Where an instruction (or the problem in it) is in the Dockerfile; lines and columns count from 1. */
export interface Location {
  file: string;
  line: number;
  endLine: number;
  column: number;
}

/**
 * A syntax or semantic error in a Dockerfile. The message names the file, line
 * and column, e.g. `Dockerfile:3:1: unknown instruction: FRM (...)`.
 */
export class DockerfileError extends EngineError {
  readonly reason: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;

  constructor(reason: string, loc: { file: string; line: number; column?: number }) {
    const column = loc.column ?? 1;
    super("invalid", `dockerfile parse error on line ${loc.line}: ${loc.file}:${loc.line}:${column}: ${reason}`);
    this.name = "DockerfileError";
    this.reason = reason;
    this.file = loc.file;
    this.line = loc.line;
    this.column = column;
  }
}
