// The device name a Xen vbd id stands for: a naming rule of Xen's, used by the std schema's
// `data/volumes/<n>/extents/<i>` (what the backend's `dev` node holds). Pure.

/** Linux-style disk letters: 0 → a, 25 → z, 26 → aa, 701 → zz, 702 → aaa. */
export function diskLetters(index: number): string {
  let n = index;
  let s = "";
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return s;
}

/**
 * The device name a Xen vbd id stands for (xen.git docs/misc/vbd-interface.txt), which is what
 * toolstacks write as the backend's `dev` (xl: the `vdev` text, xenopsd: Device_number
 * .to_linux_device): `51712` → `xvda`, `51713` → `xvda1`, `768` → `hda`, `2048` → `sda`,
 * `268439808` → `xvdq`. Undefined for reserved or deprecated numbers.
 */
export function vbdDeviceName(id: number): string | undefined {
  if (!Number.isSafeInteger(id) || id < 0) return undefined;
  const part = (p: number) => (p === 0 ? "" : String(p));
  if (id >= 1 << 28) {
    if (id >= 2 << 28) return undefined;
    return `xvd${diskLetters((id >> 8) & 0xfffff)}${part(id & 0xff)}`;
  }
  const major = id >> 8;
  const minor = id & 0xff;
  switch (major) {
    case 202:
      return `xvd${diskLetters(minor >> 4)}${part(minor & 15)}`;
    case 8:
      return `sd${diskLetters(minor >> 4)}${part(minor & 15)}`;
    case 3:
      return `hd${diskLetters(minor >> 6)}${part(minor & 63)}`;
    case 22:
      return `hd${diskLetters((minor >> 6) + 2)}${part(minor & 63)}`;
    default:
      return undefined;
  }
}
