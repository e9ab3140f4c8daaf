/**
 * Request bodies checked against the engine's zod schemas, with one wording for every
 * route: `invalid <what>: <field path>: <zod's message>` (400).
 */
import { invalid } from "../util/errors.js";
import type { Ctx } from "./server.js";

/** What the routes need of a zod schema (kept structural: the API layer does not import zod). */
export interface Schema<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

/** `raw` as `schema` reads it, or a 400 naming the first field it refused. */
export function validate<T>(schema: Schema<T>, raw: unknown, what: string): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`invalid ${what}: ${issue ? `${issue.path.map(String).join(".") || "body"}: ${issue.message}` : "malformed"}`);
  }
  return parsed.data;
}

/** The request's JSON body (an empty one or `null` reads as `{}`) as `schema` reads it. */
export async function parseBody<T>(ctx: Ctx, schema: Schema<T>, what: string): Promise<T> {
  return validate(schema, (await ctx.body()) ?? {}, what);
}
