// The fsfreeze state machine's table: every state × event, duplicates, timeouts.
import { describe, expect, test } from "bun:test";
import { afterFreeze, afterThaw, decide, type Action, type MachineEvent, type MachineState } from "../../../src/requests/fsfreeze/machine.ts";
import type { FsfreezeReply, FsfreezeRequest } from "../../../src/requests/fsfreeze/protocol.ts";

const LIMITS = { timeoutS: 10 };
const freeze = (id: string, extra: Partial<FsfreezeRequest> = {}): MachineEvent => ({ type: "request", request: { id, op: "freeze", ...extra } });
const thaw = (id: string): MachineEvent => ({ type: "request", request: { id, op: "thaw" } });
const status = (id: string): MachineEvent => ({ type: "request", request: { id, op: "status" } });
/** The reply of an action that must be one. */
const replyOf = (a: Action): FsfreezeReply => {
  if (a.do !== "reply") throw new Error(`expected a reply, got ${a.do}`);
  return a.reply;
};

const THAWED: MachineState = {};
const FROZEN: MachineState = {
  frozen: { freezeId: "f1", mounts: [{ mountPoint: "/data", device: "8:1" }, { mountPoint: "/", device: "8:2" }], since: 1000, timeoutS: 10, hooks: ["10-db"] },
};
const AFTER: MachineState = { last: { freezeId: "f1", frozenMs: 1500, thawedBy: "timeout" } };

describe("decide", () => {
  const cases: [string, MachineState, MachineEvent, string, Record<string, unknown>?][] = [
    ["thawed + freeze → freeze", THAWED, freeze("f2"), "freeze", { timeoutS: 10 }],
    ["thawed + freeze asking less → its timeout", THAWED, freeze("f2", { timeout: 3 }), "freeze", { timeoutS: 3 }],
    ["thawed + freeze asking more → capped", THAWED, freeze("f2", { timeout: 99 }), "freeze", { timeoutS: 10 }],
    ["thawed + thaw → ok, thawed already", THAWED, thaw("t1"), "reply", { reply: expect.objectContaining({ ok: true, state: "thawed", op: "thaw" }) }],
    ["after an automatic thaw + thaw → says what ended it", AFTER, thaw("t1"), "reply", { reply: expect.objectContaining({ ok: true, freezeId: "f1", frozenMs: 1500, thawedBy: "timeout" }) }],
    ["thawed + status", THAWED, status("s1"), "reply", { reply: expect.objectContaining({ ok: true, state: "thawed", mounts: [] }) }],
    ["thawed + timeout → nothing", THAWED, { type: "timeout" }, "nothing"],
    ["thawed + SIGTERM → nothing", THAWED, { type: "shutdown", cause: "SIGTERM" }, "nothing"],
    ["thawed + invalid → error", THAWED, { type: "invalid", id: "x", error: "bad" }, "reply", { reply: expect.objectContaining({ ok: false, error: "bad", op: "invalid" }) }],
    ["frozen + freeze → error, frozen already", FROZEN, freeze("f2"), "reply", { reply: expect.objectContaining({ ok: false, state: "frozen", error: expect.stringContaining("frozen already by request f1") }) }],
    ["frozen + thaw → thaw on request", FROZEN, thaw("t1"), "thaw", { cause: "request" }],
    ["frozen + status → frozen with mounts", FROZEN, status("s1"), "reply", { reply: expect.objectContaining({ state: "frozen", mounts: ["/data", "/"], timeout: 10 }) }],
    ["frozen + timeout → thaw", FROZEN, { type: "timeout" }, "thaw", { cause: "timeout" }],
    ["frozen + SIGTERM → thaw", FROZEN, { type: "shutdown", cause: "SIGTERM" }, "thaw", { cause: "SIGTERM" }],
    ["frozen + SIGINT → thaw", FROZEN, { type: "shutdown", cause: "SIGINT" }, "thaw", { cause: "SIGINT" }],
    ["frozen + xenstore lost → thaw", FROZEN, { type: "shutdown", cause: "xenstore-lost" }, "thaw", { cause: "xenstore-lost" }],
    ["frozen + invalid → error, still frozen", FROZEN, { type: "invalid", id: "x", error: "bad" }, "reply", { reply: expect.objectContaining({ ok: false, state: "frozen" }) }],
  ];
  for (const [name, state, event, action, fields] of cases) {
    test(name, () => {
      const a = decide(state, event, LIMITS);
      expect(a.do).toBe(action as never);
      if (fields) expect(a).toMatchObject(fields);
    });
  }

  test("a request seen again gets the same reply and nothing is done", () => {
    const out = afterFreeze(THAWED, { id: "f2", op: "freeze" }, 10, { ok: true, mounts: [{ mountPoint: "/", device: "8:2" }], skipped: [], hooks: [], at: 5 });
    const again = decide(out.state, freeze("f2"), LIMITS);
    expect(again).toEqual({ do: "reply", reply: out.reply });
    const t = afterThaw(out.state, "request", { id: "t2", op: "thaw" }, [], 100);
    expect(decide(t.state, thaw("t2"), LIMITS)).toEqual({ do: "reply", reply: t.reply! });
    // The freeze's id again after the thaw is still the same old answer, never a second freeze.
    expect(decide({ ...t.state, lastReply: out.reply }, freeze("f2"), LIMITS).do).toBe("reply");
  });

  test("an invalid request seen again is answered the same way", () => {
    const reply = replyOf(decide(THAWED, { type: "invalid", id: "x", error: "bad" }, LIMITS));
    expect(decide({ lastReply: reply }, { type: "invalid", id: "x", error: "bad" }, LIMITS)).toEqual({ do: "reply", reply });
  });
});

describe("afterFreeze / afterThaw", () => {
  test("a freeze that worked: frozen, reply lists the mounts, the timeout and what was skipped", () => {
    const { state, reply } = afterFreeze(THAWED, { id: "f2", op: "freeze" }, 7, { ok: true, mounts: FROZEN.frozen!.mounts, skipped: ["/boot/efi: vfat cannot be frozen"], hooks: ["10-db"], at: 40 });
    expect(state.frozen).toEqual({ freezeId: "f2", mounts: FROZEN.frozen!.mounts, since: 40, timeoutS: 7, hooks: ["10-db"] });
    expect(reply).toMatchObject({ id: "f2", ok: true, state: "frozen", mounts: ["/data", "/"], skipped: ["/boot/efi: vfat cannot be frozen"], timeout: 7, error: "" });
  });

  test("a freeze that failed (a hook, a mount): still thawed, the error names it", () => {
    const { state, reply } = afterFreeze(AFTER, { id: "f2", op: "freeze" }, 10, { ok: false, error: "freeze hook 10-db: exit status 3: locked", skipped: [] });
    expect(state.frozen).toBeUndefined();
    expect(state.last).toEqual(AFTER.last);
    expect(reply).toMatchObject({ ok: false, state: "thawed", error: "freeze hook 10-db: exit status 3: locked" });
  });

  test("a thaw on request: thawed, how long it was frozen, by whom", () => {
    const { state, reply } = afterThaw(FROZEN, "request", { id: "t1", op: "thaw" }, [], 3500);
    expect(state.frozen).toBeUndefined();
    expect(state.last).toEqual({ freezeId: "f1", frozenMs: 2500, thawedBy: "request" });
    expect(reply).toMatchObject({ id: "t1", ok: true, state: "thawed", freezeId: "f1", frozenMs: 2500, thawedBy: "request" });
  });

  test("an automatic thaw answers no request; the next thaw request learns it", () => {
    const { state, reply } = afterThaw(FROZEN, "timeout", undefined, [], 11000);
    expect(reply).toBeUndefined();
    expect(replyOf(decide(state, thaw("t9"), LIMITS))).toMatchObject({ ok: true, thawedBy: "timeout", freezeId: "f1", frozenMs: 10000 });
  });

  test("a mount that would not thaw is an error in the reply", () => {
    const { reply } = afterThaw(FROZEN, "request", { id: "t1", op: "thaw" }, ["/data: FITHAW /data: EIO"], 2000);
    expect(reply).toMatchObject({ ok: false, error: "/data: FITHAW /data: EIO" });
  });
});
