import { EventEmitter } from "node:events";

/** A Docker event message (GET /events). */
export interface EngineEvent {
  Type: "container" | "image" | "network" | "volume" | "daemon" | "builder";
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: number;
  // Deprecated fields Docker still sends for containers and images.
  status?: string;
  id?: string;
  from?: string;
}

/** In-memory event bus with a bounded history for `--since`. */
export class Events {
  private readonly bus = new EventEmitter();
  private readonly history: EngineEvent[] = [];
  private readonly max = 1024;

  constructor() {
    this.bus.setMaxListeners(0);
  }

  emit(type: EngineEvent["Type"], action: string, id: string, attributes: Record<string, string> = {}): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const ev: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: "local",
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    // timeNano exceeds 2^53: keep the exact digits for serialization.
    Object.defineProperty(ev, "timeNanoExact", { value: nowNs.toString(), enumerable: false });
    if (type === "container" || type === "image") {
      ev.status = action;
      ev.id = id;
      if (attributes["image"]) ev.from = attributes["image"];
    }
    this.history.push(ev);
    if (this.history.length > this.max) this.history.shift();
    this.bus.emit("event", ev);
  }

  since(timeNano: number): EngineEvent[] {
    return this.history.filter((e) => e.timeNano >= timeNano);
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.bus.on("event", fn);
    return () => this.bus.off("event", fn);
  }

  get listeners(): number {
    return this.bus.listenerCount("event");
  }
}

/** JSON of an event with timeNano's exact digits (a JS number would round them). */
export function eventJson(e: EngineEvent): string {
  const exact = (e as EngineEvent & { timeNanoExact?: string }).timeNanoExact;
  const json = JSON.stringify(e);
  return exact ? json.replace(/"timeNano":\d+(\.\d+)?(e\+\d+)?/, `"timeNano":${exact}`) : json;
}
