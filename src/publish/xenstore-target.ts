// Publishing into the guest's own xenstore area through our client. Paths stay relative: the
// daemon resolves them under /local/domain/<domid> for the guest connection.
import type { XenstoreClient } from "../xenstore/client.ts";
import type { PublishTarget } from "./publisher.ts";

/**
 * On a privileged socket (dom0, tests) relative paths are not resolved by the daemon, so a
 * `base` such as `/local/domain/5` is prepended.
 */
export function xenstoreTarget(client: XenstoreClient, base = ""): PublishTarget {
  const abs = (path: string) => (base ? `${base}/${path}` : path);
  return {
    name: client.transport,
    write: (path, value) => client.write(abs(path), value),
    rm: (path) => client.rm(abs(path)),
  };
}
