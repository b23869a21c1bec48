// Errors that end a command with a documented exit code (see README "Exit codes").
// Anything else reaching src/main.ts is a bug and is reported as such.

export const EXIT_OK = 0;
/** The agent cannot do its job here (not a Xen guest, xenstore unavailable…). */
export const EXIT_FAILURE = 1;
/** The command line or the configuration file is wrong. */
export const EXIT_USAGE = 2;

/** A wrong option, value or configuration key: one line, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** An expected condition that stops the agent: one line, exit 1 (or the given code). */
export class FatalError extends Error {
  override name = "FatalError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}
