/** JSON-lines bodies (progress, events, stats): lines and decoded values as async iterators. */

/** The non-empty lines of a stream. */
export async function* textLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream) {
    buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== "") yield line;
    }
  }
  const rest = buf.trim();
  if (rest !== "") yield rest;
}

/** Decode a JSON-lines stream. */
export async function* jsonLines<T>(stream: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  for await (const line of textLines(stream)) yield JSON.parse(line) as T;
}

/** Read a whole body. */
export async function readBody(res: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}
