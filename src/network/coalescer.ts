// When to deliver a batch of changes: at once for the first change after a quiet period (the end of
// the read that brought it), then at most once per window while changes keep coming. The window's
// timer exists only after a delivery, so nothing runs while idle (Tailscale netmon does the same
// with a fixed sleep after each run: the first event is handled at once, a burst shrinks to one).
export class Coalescer {
  private timer?: ReturnType<typeof setTimeout>;
  private dirty = false;

  /**
   * @param windowMs  the window after a delivery (0: deliver on every settle)
   * @param ready     false holds delivery (no snapshot yet, or a dump is incomplete)
   * @param deliver   builds and hands out the batch
   */
  constructor(
    private readonly windowMs: number,
    private readonly ready: () => boolean,
    private readonly deliver: () => void,
  ) {}

  /** Something changed. */
  mark(): void {
    this.dirty = true;
  }

  /** Forget pending changes (they are part of a snapshot handed out by other means). */
  clear(): void {
    this.dirty = false;
  }

  /** Delivers now unless nothing changed, the state is not ready, or a window is open. */
  settle(): void {
    if (!this.dirty || this.timer || !this.ready()) return;
    this.dirty = false;
    this.deliver();
    if (this.windowMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.settle();
      }, this.windowMs);
    }
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = false;
  }
}
