// A Logger whose destination can be replaced (SIGHUP may change --loglevel or --stderr) while every
// module keeps the logger it was given, tagged loggers included.
import type { Logger } from "./logger.ts";

export class ReloadableLogger implements Logger {
  private inner: Logger;

  constructor(inner: Logger) {
    this.inner = inner;
  }

  replace(inner: Logger): void {
    this.inner = inner;
  }

  error(message: unknown, ...args: unknown[]): void {
    this.inner.error(message, ...args);
  }
  warn(message: unknown, ...args: unknown[]): void {
    this.inner.warn(message, ...args);
  }
  info(message: unknown, ...args: unknown[]): void {
    this.inner.info(message, ...args);
  }
  debug(message: unknown, ...args: unknown[]): void {
    this.inner.debug(message, ...args);
  }
  withTag(tag: string): Logger {
    return tagged(() => this.inner, tag);
  }
}

function tagged(get: () => Logger, tag: string): Logger {
  return {
    error: (m, ...a) => get().withTag(tag).error(m, ...a),
    warn: (m, ...a) => get().withTag(tag).warn(m, ...a),
    info: (m, ...a) => get().withTag(tag).info(m, ...a),
    debug: (m, ...a) => get().withTag(tag).debug(m, ...a),
    withTag: (sub) => tagged(get, `${tag}:${sub}`),
  };
}
