/**
 * The helper process of cpview.ts: started by the daemon under `unshare --mount
 * --propagation private`, so it has a mount namespace of its own. It mounts the
 * container's volumes and binds into its root filesystem (visible to this process
 * only), runs one `docker cp` operation on that view and exits; the namespace and
 * its mounts end with it.
 */
import fss from "node:fs";
import { pipeline } from "node:stream/promises";
import { isEngineError, messageOf } from "../util/errors.js";
import { IdMap } from "../util/idmap.js";
import { ScopedRoot } from "../image/index.js";
import { mountView } from "../volume/index.js";
import { archivePath, extractInto, statPath } from "./cpcore.js";
import type { ViewReply, ViewRequest } from "./cpview.js";

const CTL_FD = 3;

function reply(m: ViewReply): void {
  const data = Buffer.from(`${JSON.stringify(m)}\n`);
  let off = 0;
  while (off < data.length) {
    try {
      off += fss.writeSync(CTL_FD, data, off);
    } catch (e) {
      if ((e as { code?: string }).code !== "EAGAIN") throw e;
    }
  }
}

async function main(req: ViewRequest): Promise<void> {
  await mountView(req.rootfs, req.mounts, { stageDir: req.stageDir, ...(req.owner ? { owner: req.owner } : {}) });
  const idMap = req.idMap ? new IdMap(req.idMap.uids, req.idMap.gids) : undefined;
  const root = ScopedRoot.open(req.rootfs);
  try {
    switch (req.op) {
      case "stat":
        reply({ stat: statPath(root, req.etc, req.path, req.idOrName) });
        break;
      case "archive": {
        const a = archivePath(root, req.etc, req.path, req.idOrName, idMap);
        try {
          reply({ stat: a.stat });
          await pipeline(a.tar, process.stdout);
        } finally {
          a.close();
        }
        break;
      }
      case "extract": {
        const x = req.extract ?? { noOverwriteDirNonDir: true, readonlyRootfs: false, mountPoints: [] };
        await extractInto(root, req.rootfs, req.etc, req.path, req.idOrName, process.stdin, {
          noOverwriteDirNonDir: x.noOverwriteDirNonDir,
          readonlyRootfs: x.readonlyRootfs,
          mountPoints: x.mountPoints,
          ...(x.user ? { user: x.user } : {}),
          ...(idMap ? { idMap } : {}),
        });
        break;
      }
    }
  } finally {
    root.close();
  }
}

let code = 0;
try {
  await main(JSON.parse(process.argv[2] ?? "") as ViewRequest);
  reply({ done: true });
} catch (e) {
  code = 1;
  try {
    reply({ error: { kind: isEngineError(e) ? e.kind : "internal", message: messageOf(e) } });
  } catch {
    process.stderr.write(`${messageOf(e)}\n`);
  }
}
// Everything is written (stdout and fd 3 are drained); end now, whatever still holds the event loop.
process.exit(code);
