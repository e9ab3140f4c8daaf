/** Container filesystem routes: docker cp (archive HEAD/GET/PUT), export, changes (diff) and commit. */
import { PassThrough } from "node:stream";
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { type ArchiveService, ContainerCreateSchema, type PathStat } from "../../engine/index.js";
import { invalid, messageOf } from "../../util/errors.js";
import type { Logger } from "../../util/log.js";
import { type Ctx, type Router, qBool, requireRes, startStream } from "../server.js";
import { validate } from "../body.js";

const STAT_HEADER = "X-Docker-Container-Path-Stat";

/** What the container filesystem routes use of the engine. */
export interface ArchiveBackend {
  archive: Pick<ArchiveService, "stat" | "archive" | "extract" | "export" | "changes" | "commit">;
  log: Logger;
}

export function archiveRoutes(r: Router, engine: ArchiveBackend): void {
  const as = engine.archive;
  const log = engine.log;

  // HEAD first: the router answers HEAD with a GET route registered before it.
  r.head("/containers/{id}/archive", async (ctx) => {
    const res = requireRes(ctx);
    const stat = await as.stat(ctx.params["id"] ?? "", archivePath(ctx));
    res.setHeader(STAT_HEADER, encodePathStat(stat));
    ctx.status(200);
  });

  r.get("/containers/{id}/archive", async (ctx) => {
    const res = requireRes(ctx);
    await as.archive(ctx.params["id"] ?? "", archivePath(ctx), async (stat, tar) => {
      res.setHeader(STAT_HEADER, encodePathStat(stat));
      startStream(res, "application/x-tar");
      await sendStream(res, tar, log);
    });
  });

  r.put("/containers/{id}/archive", async (ctx) => {
    const p = archivePath(ctx);
    // The extractor destroys its input on failure; give it a stream of its own so the
    // request's socket survives to carry the error response.
    const body = new PassThrough();
    const req = ctx.stream();
    req.pipe(body);
    // pipe() forwards neither errors nor an aborted request: without this, a client that
    // stops mid-upload would leave the extraction (and the frozen container) waiting forever.
    const broken = (e?: Error): void => {
      if (!ctx.req.complete) body.destroy(e ?? invalid("the request body ended before its length"));
    };
    body.on("error", () => undefined); // reported by the extraction reading it
    req.once("error", broken);
    req.once("close", () => broken());
    try {
      await as.extract(ctx.params["id"] ?? "", p, body, {
        noOverwriteDirNonDir: qBool(ctx.query, "noOverwriteDirNonDir"),
        copyUIDGID: qBool(ctx.query, "copyUIDGID"),
      });
    } catch (e) {
      req.unpipe(body);
      body.destroy();
      req.resume(); // drain what the client still sends
      throw e;
    }
    ctx.status(200);
  });

  r.get("/containers/{id}/export", async (ctx) => {
    const res = requireRes(ctx);
    await as.export(ctx.params["id"] ?? "", async (tar) => {
      startStream(res, "application/octet-stream");
      await sendStream(res, tar, log);
    });
  });

  r.get("/containers/{id}/changes", async (ctx) => {
    const changes = await as.changes(ctx.params["id"] ?? "");
    // dockerd's list is nil (null) when nothing changed.
    ctx.json(200, changes.length > 0 ? changes : null);
  });

  r.post("/commit", async (ctx) => {
    const q = ctx.query;
    const raw = await ctx.body();
    let config;
    if (raw !== undefined && raw !== null) {
      const { HostConfig: _hc, NetworkingConfig: _nc, ...rest } = validate(ContainerCreateSchema, raw, "container config");
      config = rest;
    }
    const id = await as.commit({
      container: q.get("container") ?? "",
      repo: q.get("repo") ?? "",
      tag: q.get("tag") ?? "",
      comment: q.get("comment") ?? "",
      author: q.get("author") ?? "",
      pause: qBool(q, "pause", true),
      changes: q.getAll("changes"),
      config: config as Parameters<typeof as.commit>[0]["config"],
    });
    ctx.json(201, { Id: id });
  });
}

/** Docker's ArchiveFormValues: the path must be given. */
function archivePath(ctx: Ctx): string {
  const p = ctx.query.get("path");
  if (p === null || p === "") throw invalid("bad parameter: pathcannot be empty");
  return p;
}

function encodePathStat(st: PathStat): string {
  return Buffer.from(JSON.stringify({ name: st.name, size: st.size, mode: st.mode, mtime: st.mtime, linkTarget: st.linkTarget })).toString("base64");
}

/** Pipe a stream into the response; resolves when it is sent or the client went away. */
async function sendStream(res: ServerResponse, stream: Readable, log: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve();
    };
    stream.on("error", (e) => {
      log.warn(`archive stream: ${messageOf(e)}`);
      // Mid-stream failure: the status line is gone; cut the connection so the client sees a broken archive.
      res.destroy();
      finish();
    });
    res.on("close", () => {
      stream.destroy();
      finish();
    });
    res.on("finish", finish);
    stream.pipe(res);
  });
}
