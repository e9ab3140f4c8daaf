import type { BuildService } from "../../engine/index.js";
import { BuildStepError, buildPruneRequestFromQuery, buildRequestFromQuery } from "../../engine/index.js";
import { messageOf } from "../../util/errors.js";
import { type Router, qBool, qFilters, requireRes, startJsonStream } from "../server.js";

/** What the build routes use of the engine. */
export interface BuildBackend {
  build: Pick<BuildService, "build" | "prune">;
}

/**
 * `POST /build` (legacy builder): the context tar is the body; the answer is
 * Docker's JSON message stream, started lazily so that errors before the
 * first message (bad parameters, a missing Dockerfile, parse errors) are
 * plain HTTP errors, as with dockerd. With `q=1` everything is held back and
 * only the image id is sent (or, on failure, what was held back and the error).
 */
export function buildRoutes(r: Router, engine: BuildBackend): void {
  r.post("/build", async (ctx) => {
    const res = requireRes(ctx);
    const body = ctx.stream();
    let req;
    try {
      req = buildRequestFromQuery(ctx.query);
      const rc = ctx.req.headers["x-registry-config"];
      if (typeof rc === "string" && rc !== "") req.registryConfig = rc;
    } catch (e) {
      body.resume();
      throw e;
    }
    let started = false;
    const held: string[] = [];
    const write = (line: string): void => {
      if (req.quiet) {
        held.push(line);
        return;
      }
      if (!started) {
        startJsonStream(res);
        started = true;
      }
      if (!res.writableEnded) res.write(line);
    };
    const ac = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) ac.abort(new Error("client went away"));
    });
    try {
      const result = await engine.build.build(
        body,
        req,
        {
          stdout: (text) => write(`${JSON.stringify({ stream: text })}\n`),
          stderr: (text) => write(`${JSON.stringify({ stream: `\u001b[91m${text}\u001b[0m` })}\n`),
          aux: (value) => write(`${JSON.stringify({ aux: value })}\n`),
          message: (m) => write(`${JSON.stringify(m)}\n`),
          backpressure: () => {
            if (!started || !res.writableNeedDrain) return undefined;
            return new Promise<void>((resolve) => {
              const done = (): void => {
                res.off("drain", done);
                res.off("close", done);
                resolve();
              };
              res.on("drain", done);
              res.on("close", done);
            });
          },
        },
        ac.signal,
      );
      if (req.quiet) {
        startJsonStream(res);
        res.end(`${JSON.stringify({ stream: `${result.imageId}\n` })}\n`);
      } else {
        if (!started) startJsonStream(res);
        res.end();
      }
    } catch (e) {
      body.resume();
      if (req.quiet && held.length > 0) {
        req.quiet = false;
        for (const l of held) write(l);
      }
      if (!started) throw e;
      const message = messageOf(e);
      const detail = e instanceof BuildStepError ? { code: e.code, message } : { message };
      if (!res.writableEnded) res.end(`${JSON.stringify({ errorDetail: detail, error: message })}\n`);
    }
  });

  r.post("/build/prune", async (ctx) => {
    ctx.json(200, await engine.build.prune(buildPruneRequestFromQuery(ctx.query, qFilters(ctx.query), qBool(ctx.query, "all"))));
  });
}
