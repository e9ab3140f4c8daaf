/**
 * Strips Docker's stdcopy framing ([stream, 0, 0, 0, size BE32] + payload) from a
 * stream, leaving stdout and stderr interleaved as they came: what dockerd's
 * websocket attach sends (MuxStreams false). A few lines of glue over the
 * monitor's framed output; no library does this for a node stream.
 */
import { Transform, type TransformCallback } from "node:stream";

export class StdcopyDemux extends Transform {
  private buf: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      if (size > 0) this.push(this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
    cb();
  }
}
