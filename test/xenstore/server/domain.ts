// What `xl create` puts in the store for a new domain, with libxl's permissions: a transcription
// of shared/xen/shim/xsshim-mkdomain.sh (itself copied from libxl_create.c: roperm "n0 r<domid>",
// rwperm "n<domid>").
import { parsePerms, Store, type Change } from "./store.ts";

export function makeDomain(store: Store, domid: number, name: string, changes: Change[] = []): void {
  const P = `/local/domain/${domid}`;
  const vm = `/vm/00000000-0000-0000-0000-${String(domid).padStart(12, "0")}`;
  const ro = parsePerms(["n0", `r${domid}`]);
  const rw = parsePerms([`n${domid}`]);
  if (store.lookup(P)) store.rm(P, 0, changes);
  const w = (path: string, value = ""): void => store.write(path, value, 0, changes);
  const mk = (path: string, perms: typeof ro): void => {
    w(path);
    store.setPerms(path, perms.map((p) => ({ ...p })), 0, changes);
  };
  mk(P, ro);
  mk(vm, ro);
  w(`${vm}/uuid`, vm.slice("/vm/".length));
  w(`${vm}/name`, name);
  w(`${P}/vm`, vm);
  w(`${P}/name`, name);
  w(`${P}/domid`, String(domid));
  for (const n of ["cpu", "memory", "device", "control"]) mk(`${P}/${n}`, ro);
  mk(`${P}/device/suspend/event-channel`, rw);
  for (const n of [
    "control/shutdown",
    "control/feature-poweroff",
    "control/feature-reboot",
    "control/feature-suspend",
    "control/sysrq",
    "data",
    "drivers",
    "feature",
    "attr",
    "error",
  ]) {
    mk(`${P}/${n}`, rw);
  }
  w(`${P}/control/platform-feature-multiprocessor-suspend`, "1");
  w(`${P}/control/platform-feature-xs_reset_watches`, "1");
  w(`${P}/memory/static-max`, "262144");
  w(`${P}/memory/target`, "262144");
  w(`${P}/memory/videoram`, "-1");
  // The script ends with `xenstore-chmod -r $P/memory "$ro"`: one quoted argument, of which the
  // tools keep "n0", so the memory subtree ends up n0 on both daemons (measured; libxl itself
  // leaves memory/target readable by the guest). Reproduced as the script does it.
  for (const path of Store.paths(`${P}/memory`, store.lookup(`${P}/memory`)!)) {
    store.setPerms(path, parsePerms(["n0"]), 0, changes);
  }
}
