// Where log lines go, decided once at start:
//   --stderr                      → stderr (colours and times only on a terminal)
//   stderr is the systemd journal → stderr with `<N>` syslog priority prefixes (sd-daemon(3))
//   otherwise                     → syslog through /dev/log, or stderr if there is no syslog
//
// consola's core is used with our reporter: the full consola costs ~50 ms of start-up and ~15 MB
// of RSS for the daemon's whole life (bun-runtime.md §8), and prints glyphs into pipes.
import { fstatSync } from "node:fs";
import { createConsola, type ConsolaReporter, type LogObject } from "consola/core";
import type { Logger, LogLevel } from "./logger.ts";
import { connectUnixDatagram } from "../../native/index.ts";

const CONSOLA_LEVEL: Record<LogLevel, number> = { off: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

/** syslog(3) severities, for the journal prefix and the syslog PRI field. */
function severity(level: number): number {
  if (level <= 0) return 3; // err
  if (level === 1) return 4; // warning
  if (level <= 3) return 6; // info
  return 7; // debug
}

const LEVEL_WORD: Record<number, string> = { 0: "error", 1: "warn", 2: "info", 3: "info", 4: "debug", 5: "trace" };

/** Renders a log object's message and arguments as one line (errors by their message, not their stack). */
export function formatMessage(obj: LogObject): string {
  const parts = obj.args.map((a) => {
    if (a instanceof Error) return a.message;
    if (typeof a === "string") return a;
    try {
      return JSON.stringify(a);
    } catch {
      return String(a);
    }
  });
  const text = parts.join(" ").replace(/\n/g, " ⏎ ");
  return obj.tag ? `${obj.tag}: ${text}` : text;
}

export type LogSink = "stderr" | "journal" | "syslog";

function stderrReporter(colour: boolean): ConsolaReporter {
  const paint: Record<string, string> = { error: "\x1b[31m", warn: "\x1b[33m", debug: "\x1b[90m", trace: "\x1b[90m" };
  return {
    log(obj) {
      const word = LEVEL_WORD[obj.level] ?? "info";
      if (!colour) {
        process.stderr.write(`${word} ${formatMessage(obj)}\n`);
        return;
      }
      const time = obj.date.toTimeString().slice(0, 8);
      const p = paint[word];
      process.stderr.write(`\x1b[90m${time}\x1b[0m ${p ?? ""}${word.padEnd(5)}${p ? "\x1b[0m" : ""} ${formatMessage(obj)}\n`);
    },
  };
}

const journalReporter: ConsolaReporter = {
  log(obj) {
    process.stderr.write(`<${severity(obj.level)}>${formatMessage(obj)}\n`);
  },
};

/** RFC 3164 lines on /dev/log, facility daemon; falls back to stderr if a send fails. */
function syslogReporter(send: (line: string) => boolean): ConsolaReporter {
  const FACILITY_DAEMON = 3;
  const fallback = stderrReporter(false);
  return {
    log(obj) {
      const pri = FACILITY_DAEMON * 8 + severity(obj.level);
      if (!send(`<${pri}>xen-guest-agent[${process.pid}]: ${formatMessage(obj)}`)) fallback.log(obj, undefined as never);
    },
  };
}

/** True when stderr is the stream systemd connected to the journal (JOURNAL_STREAM = "dev:ino"). */
function stderrIsJournal(env: Record<string, string | undefined>): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(2);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

export interface LogSetup {
  logger: Logger;
  sink: LogSink;
}

export function createLogger(opts: { level: LogLevel; stderr: boolean; env?: Record<string, string | undefined> }): LogSetup {
  const env = opts.env ?? process.env;
  let sink: LogSink = "stderr";
  let reporter: ConsolaReporter = stderrReporter(process.stderr.isTTY === true && !env.NO_COLOR);
  if (!opts.stderr && stderrIsJournal(env)) {
    sink = "journal";
    reporter = journalReporter;
  } else if (!opts.stderr) {
    try {
      const socket = connectUnixDatagram("/dev/log");
      sink = "syslog";
      reporter = syslogReporter((line) => socket.send(line));
    } catch {
      // No syslog daemon (containers, minimal guests): stderr is the only place left.
    }
  }
  const logger = createConsola({ level: CONSOLA_LEVEL[opts.level], reporters: [reporter] });
  return { logger, sink };
}
