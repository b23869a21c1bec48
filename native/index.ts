// The typed entry point to native/: everything above it (src/) imports from here and nowhere
// else in native/, so the unsafe surface the agent depends on is this one list. Each module it
// names keeps its pointers and struct offsets to itself.
export { pageOutExecutable } from "./executable-pages.ts";
export { fdWatchBackend, POLLPRI, watchFdEvents, watchFileEvents, type FdWatch } from "./fd-watch.ts";
export { freezeFilesystem, thawFilesystem, type FreezeOutcome } from "./fsfreeze.ts";
export { errnoName, SystemError } from "./libc.ts";
export { HostFiles, NotRegularFileError, WrongFileKindError, type FileKind, type HostFileBytes, type Resolution } from "./host-files.ts";
export { openRtnetlink, type RtnetlinkSocket } from "./netlink.ts";
export { openRtnetlinkRequester, type RtnetlinkRequester } from "./netlink-config.ts";
export { monotonicUsec, openNotifier, watchdogUsec, type Notifier } from "./sd-notify.ts";
export { readSocket, type SocketReader } from "./socket-reader.ts";
export type { FsUsage } from "./statvfs.ts";
export { asctimeLocal, kernelRelease } from "./system.ts";
export { watchClockJumps } from "./timerfd.ts";
export { openUevent, type UeventSocket } from "./uevent.ts";
export { connectUnixDatagram } from "./unix-datagram.ts";
export { closeFd, connectUnixSocket, writeAll } from "./unix-socket.ts";
export { closeXenbus, openXenbus, startXenbusReader, writeXenbus, type XenbusReader } from "./xenbus.ts";
