// A child process's output as lines, with a bounded wait for the one that matters.

/** A line-oriented view of a child's stderr: wait for a line matching a pattern. */
export class Lines {
  readonly all: string[] = [];
  private waiters: { re: RegExp; from: number; resolve(line: string): void }[] = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    void (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      for await (const chunk of stream) {
        rest += decoder.decode(chunk, { stream: true });
        const parts = rest.split("\n");
        rest = parts.pop() ?? "";
        for (const line of parts) this.add(line);
      }
      if (rest) this.add(rest);
    })();
  }

  private add(line: string): void {
    this.all.push(line);
    for (const w of [...this.waiters]) {
      if (w.re.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  }

  /** The first line matching `re` among those from index `from` on (seen already, or to come). */
  waitFor(re: RegExp, ms = 5000, from = 0): Promise<string> {
    const seen = this.all.slice(from).find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { re, from, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no line matching ${re} within ${ms} ms; got:\n${this.all.slice(-20).join("\n")}`));
      }, ms);
      this.waiters.push(w);
    });
  }
}
