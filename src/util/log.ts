export type LogLevel = "debug" | "info" | "warn" | "error" | "fatal";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Logs to stderr in dockerd's style: time="..." level=info msg="...". A function level is read at each line (reload). */
export function makeLogger(level: LogLevel | (() => LogLevel), out: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const current = typeof level === "function" ? level : () => level;
  const at = (lv: LogLevel) => (msg: string) => {
    if (ORDER[lv] < ORDER[current()]) return;
    out(`time="${new Date().toISOString()}" level=${lv} msg=${JSON.stringify(msg)}\n`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export function isLogLevel(s: string): s is LogLevel {
  return s in ORDER;
}
