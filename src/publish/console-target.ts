// `--publisher console`: the same schemas and diff, printed instead of written (off Xen, dry runs).
import type { PublishTarget } from "./publisher.ts";

export function consoleTarget(out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): PublishTarget {
  return {
    name: "console",
    async write(path, value) {
      out(`+ ${path} = ${value}`);
    },
    async rm(path) {
      out(`- ${path}`);
    },
  };
}
