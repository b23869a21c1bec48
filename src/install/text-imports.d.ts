// Service files are embedded into the binary with `import x from "…" with { type: "text" }`, so the
// installer writes exactly the files under deploy/ (one source for packages and `install`).
declare module "*.service" {
  const text: string;
  export default text;
}
declare module "*.initd" {
  const text: string;
  export default text;
}
declare module "*.init" {
  const text: string;
  export default text;
}
