// The order dom0 needs keys in. xenopsd watches attr/, feature/, control/ and xenserver/attr but
// not data/, and re-reads the whole guest area when they fire, so data/* must already be in
// place: data first, then attr and xenserver/attr, feature, control, and data/updated last (old
// xenopsd and squeezed watch it). Pure.

export const HEARTBEAT_KEY = "data/updated";

export function dom0Phase(path: string): number {
  if (path === HEARTBEAT_KEY) return 4;
  switch (path.split("/", 1)[0]) {
    case "data":
      return 0;
    case "feature":
      return 2;
    case "control":
      return 3;
    default: // attr, xenserver
      return 1;
  }
}
