// The logging interface every module takes. A consola instance satisfies it; tests pass
// `collectingLogger()` (test/support) or `silentLogger`.
export const LOG_LEVELS = ["off", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  error(message: unknown, ...args: unknown[]): void;
  warn(message: unknown, ...args: unknown[]): void;
  info(message: unknown, ...args: unknown[]): void;
  debug(message: unknown, ...args: unknown[]): void;
  /** A logger whose lines are prefixed by `tag` (`netlink`, `xenstore`, `publisher`…). */
  withTag(tag: string): Logger;
}

const ignore = (): void => {};

export const silentLogger: Logger = {
  error: ignore,
  warn: ignore,
  info: ignore,
  debug: ignore,
  withTag: () => silentLogger,
};
