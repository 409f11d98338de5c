/**
 * Chromium features a Longhaul WebRTC page turns off, for both hosts: the headless Chromium of
 * `--webrtc chromium` (as a `--disable-features=` flag) and the desktop app (electron/main.ts
 * appends the same switch before the app is ready).
 *
 * WebRtcHideLocalIpsWithMdns: Chromium replaces host candidates with random mDNS names
 * (`<uuid>.local`) unless a page may use the camera. Peers in Node, in containers or in other
 * network namespaces cannot resolve those, so they would reach the page only through relays or
 * peer-reflexive luck. The addresses go only to room members, through signaling, exactly as a
 * Node peer's do.
 */
export const WEBRTC_DISABLED_CHROMIUM_FEATURES: readonly string[] = ['WebRtcHideLocalIpsWithMdns']
