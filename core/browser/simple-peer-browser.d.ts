/**
 * simple-peer's own browser build (a self-contained bundle of the same version as its Node entry,
 * with the stream and Buffer polyfills it needs inside). Pages import it instead of the package
 * entry, which pulls in Node built-ins a browser bundle cannot resolve.
 */
declare module 'simple-peer/simplepeer.min.js' {
  import SimplePeer from 'simple-peer'
  export default SimplePeer
}
