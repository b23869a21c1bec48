// C source embedded into the binary with `import x from "./fd-thread.c" with { type: "text" }` and
// compiled at run time (native/thread-code.ts).
declare module "*.c" {
  const text: string;
  export default text;
}
