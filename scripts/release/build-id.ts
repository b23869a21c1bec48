// The GNU build id of an ELF executable (its NT_GNU_BUILD_ID note). A compiled agent is the Bun
// runtime with the bundle in an extra section, so its build id is the runtime's: two release
// files with the same build id run the same machine code.
import { readFileSync } from "node:fs";

const PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;

/** The build id as hex, or undefined if the file is not a 64-bit little-endian ELF or has none. */
export function elfBuildId(file: string): string | undefined {
  const b = readFileSync(file);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return undefined;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (b.readUInt32LE(ph) !== PT_NOTE) continue;
    const start = Number(b.readBigUInt64LE(ph + 8));
    const end = start + Number(b.readBigUInt64LE(ph + 32));
    // Notes: namesz, descsz, type, then name and desc, each padded to 4 bytes.
    for (let n = start; n + 12 <= end; ) {
      const namesz = b.readUInt32LE(n);
      const descsz = b.readUInt32LE(n + 4);
      const type = b.readUInt32LE(n + 8);
      const name = n + 12;
      const desc = name + ((namesz + 3) & ~3);
      if (type === NT_GNU_BUILD_ID && b.toString("latin1", name, name + namesz) === "GNU\0") {
        return b.toString("hex", desc, desc + descsz);
      }
      n = desc + ((descsz + 3) & ~3);
    }
  }
  return undefined;
}
