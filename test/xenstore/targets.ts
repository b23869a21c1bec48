// The daemons the conformance suite runs against: the in-process server (C and oxenstored
// flavours) and the real Debian xenstored and oxenstored through the shim. A target that cannot
// run here says why, and its tests are skipped with that reason printed.
import { realXenstoredUnavailable, startRealXenstored, type DaemonKind } from "../support/xenstored.ts";
import { TestXenstored } from "./server/server.ts";
import type { Flavor } from "./server/store.ts";

export interface RunningTarget {
  dom0SocketPath: string;
  guestSocketPath: string;
  domid: number;
  stop(): Promise<void>;
}

export interface Target {
  name: string;
  flavor: Flavor;
  /** Why this target cannot run here, or undefined. */
  unavailable: string | undefined;
  start(): Promise<RunningTarget>;
}

const DOMID = 7;

function inProcess(flavor: Flavor): Target {
  return {
    name: `in-process (${flavor} flavour)`,
    flavor,
    unavailable: undefined,
    async start() {
      const srv = await TestXenstored.start({ flavor });
      const guestSocketPath = srv.addGuest(DOMID);
      return { dom0SocketPath: srv.dom0SocketPath, guestSocketPath, domid: DOMID, stop: () => srv.stop() };
    },
  };
}

function real(kind: DaemonKind): Target {
  return {
    name: kind === "c" ? "real xenstored (C)" : "real oxenstored",
    flavor: kind,
    unavailable: realXenstoredUnavailable(kind),
    start: () => startRealXenstored(kind, { domid: DOMID }),
  };
}

export const targets: Target[] = [inProcess("c"), inProcess("ocaml"), real("c"), real("ocaml")];
