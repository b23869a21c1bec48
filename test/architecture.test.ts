// The rules of docs/architecture.md, checked on the import graph so the layout cannot drift:
// FFI only in native/, src/ reaches native/ only through native/index.ts, no import runs upward
// through the pipeline's stages, the schema is pure, only src/main.ts exits, and no source file
// grows past 300 lines without saying why.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const REPO = join(import.meta.dir, "..");

/** Lower stages first; a file may import its own stage or a lower one. */
const STAGES: [string, number][] = [
  ["native/", 0],
  ["src/errors.ts", 1], ["src/events/", 1], ["src/facts/", 1], ["src/log/", 1],
  ["src/config/", 2], ["src/xenstore/", 2],
  ["src/collectors/", 3], ["src/schema/", 3],
  ["src/publish/", 4],
  ["src/pipeline/", 5],
  ["src/requests/", 6],
  ["src/lifecycle/", 7], ["src/install/", 7], ["src/host/", 7],
  ["src/cli/", 8],
  ["src/main.ts", 9],
];

function stageOf(file: string): number | undefined {
  return STAGES.find(([prefix]) => file === prefix || file.startsWith(prefix))?.[1];
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(REPO, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(join(REPO, rel)).isDirectory()) out.push(...sources(rel));
    else if (/\.ts$/.test(name)) out.push(rel);
  }
  return out;
}

interface Import {
  from: string;
  /** Repository-relative target for relative specifiers, the bare specifier otherwise. */
  to: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(REPO, file), "utf8");
  const out: Import[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^"';]*?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = (m[3] ?? m[4]) as string;
    const to = spec.startsWith(".") ? relative(REPO, normalize(join(REPO, dirname(file), spec))) : spec;
    out.push({ from: file, to, typeOnly: m[2] !== undefined });
  }
  return out;
}

const FILES = [...sources("src"), ...sources("native")];
const IMPORTS = FILES.flatMap(importsOf);

describe("architecture rules", () => {
  test("the graph was read (the rules below cannot pass on nothing)", () => {
    expect(FILES.length).toBeGreaterThan(50);
    expect(IMPORTS.filter((i) => i.to.startsWith("src/")).length).toBeGreaterThan(100);
  });

  test("bun:ffi only in native/", () => {
    expect(IMPORTS.filter((i) => i.to === "bun:ffi" && !i.from.startsWith("native/")).map((i) => i.from)).toEqual([]);
  });

  test("src/ reaches native/ only through native/index.ts", () => {
    const bad = IMPORTS.filter((i) => i.from.startsWith("src/") && i.to.startsWith("native/") && i.to !== "native/index.ts");
    expect(bad.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  test("no import runs upward through the stages", () => {
    const bad: string[] = [];
    for (const i of IMPORTS) {
      const a = stageOf(i.from);
      const b = stageOf(i.to);
      if (a === undefined) bad.push(`${i.from}: not in a stage (add it to STAGES and docs/architecture.md)`);
      else if (b !== undefined && b > a) bad.push(`${i.from} (stage ${a}) → ${i.to} (stage ${b})`);
    }
    expect([...new Set(bad)]).toEqual([]);
  });

  test("collectors and schema do not know each other; the schema imports only facts and itself", () => {
    const bad = IMPORTS.filter((i) =>
      (i.from.startsWith("src/collectors/") && i.to.startsWith("src/schema/")) ||
      (i.from.startsWith("src/schema/") && (i.to.startsWith("src/") || i.to.startsWith("native/")) && !i.to.startsWith("src/schema/") && !i.to.startsWith("src/facts/")));
    expect(bad.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  test("the publisher and the pipeline take their clock and I/O from outside (no native/)", () => {
    const bad = IMPORTS.filter((i) => /^src\/(publish|pipeline|schema)\//.test(i.from) && i.to.startsWith("native/"));
    expect(bad.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  test("only src/main.ts calls process.exit", () => {
    const bad = FILES.filter((f) => f !== "src/main.ts" && /process\.exit\s*\(/.test(readFileSync(join(REPO, f), "utf8")));
    expect(bad).toEqual([]);
  });

  test("no source file over 300 lines without a stated reason", () => {
    const bad = FILES.filter((f) => {
      const text = readFileSync(join(REPO, f), "utf8");
      return text.split("\n").length > 300 && !/Longer than 300 lines: /.test(text);
    });
    expect(bad).toEqual([]);
  });
});
