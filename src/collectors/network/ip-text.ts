// IP addresses as text, in the forms dom0 tools and `ip` print.

/** Dotted quad from 4 bytes. */
export function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/**
 * RFC 5952 text from 16 bytes: lower-case hex without leading zeros (§4.1, §4.3); the longest run
 * of two or more zero groups becomes `::`, the first one on a tie (§4.2.2, §4.2.3); a single zero
 * group stays `0` (§4.2.2); IPv4-mapped addresses (::ffff:0:0/96) end in a dotted quad (§5).
 */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(b.subarray(12, 16))}`;
  }
  let bestAt = -1;
  let bestLen = 1; // a run must be at least 2 groups long
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}
