// The in-run baseline of scripts/bench/run.ts: a Bun program that does nothing, compiled like the
// agent (same flags), with one repeating timer at the agent's default memory interval (60 s) so
// that it stays alive and wakes exactly as often as the agent's only timer. Prints `ready` once.
setInterval(() => {}, 60_000);
process.on("SIGTERM", () => process.exit(0));
process.stdout.write("ready\n");
