// Decisions about when a watch must be torn down, kept pure so they can be tested without a clock or a server.

/**
 * A watch is presumed dead when nothing (no event, no bookmark) arrived for `silenceMs`. client-node's Watch only
 * notices a broken connection when TCP does; a half-open connection or an apiserver that stopped sending can leave
 * it waiting forever (kubernetes-client/javascript#596, #958).
 */
export function watchIsSilent(lastActivityAt: number, now: number, silenceMs: number): boolean {
  return now - lastActivityAt >= silenceMs;
}

/**
 * The server-side timeout to ask for on a watch: a random value in [minS, 2*minS), as client-go's reflector does, so
 * that many informers started together do not all reconnect at the same moment.
 */
export function watchTimeoutSeconds(minS: number, random: number): number {
  return Math.floor(minS * (1 + random));
}
