import { describe, expect, test } from "bun:test";
import { isUnder, parentPath, pathProblem, resolvePath } from "../../src/xenstore/paths.ts";

describe("pathProblem", () => {
  const valid = ["/", "/local/domain/7", "data/x", "a", "@introduceDomain", "x-y_z@1", `/${"a".repeat(3071)}`, "a".repeat(2048)];
  const invalid: Array<[string, string]> = [
    ["", "empty path"],
    ["/a//b", "empty component (//)"],
    ["/a/", "trailing /"],
    ["data/", "trailing /"],
    ["/a b", "characters outside A-Za-z0-9-/_@"],
    ["/a.b", "characters outside A-Za-z0-9-/_@"],
    ["/é", "characters outside A-Za-z0-9-/_@"],
    ["a\0b", "characters outside A-Za-z0-9-/_@"],
    [`/${"a".repeat(3072)}`, "longer than 3072 bytes"],
    ["a".repeat(2049), "longer than 2048 bytes"],
  ];
  for (const p of valid) test(`valid: ${p.slice(0, 30)} (${p.length})`, () => expect(pathProblem(p)).toBeUndefined());
  for (const [p, why] of invalid) test(`invalid: ${JSON.stringify(p.slice(0, 30))} (${p.length})`, () => expect(pathProblem(p)).toBe(why));
});

test("resolvePath, parentPath, isUnder", () => {
  expect(resolvePath("data/x", 7)).toBe("/local/domain/7/data/x");
  expect(resolvePath("/tool", 7)).toBe("/tool");
  expect(resolvePath("@releaseDomain", 7)).toBe("@releaseDomain");
  expect(parentPath("/a/b")).toBe("/a");
  expect(parentPath("/a")).toBe("/");
  expect(parentPath("/")).toBeUndefined();
  expect(isUnder("/a/b", "/a")).toBe(true);
  expect(isUnder("/a", "/a")).toBe(true);
  expect(isUnder("/ab", "/a")).toBe(false);
  expect(isUnder("/x", "/")).toBe(true);
});
