/**
 * The engine API's public entry for Node hosts (the CLI's `node --ui`, the Electron shell's
 * utility process): the engine factory, the server, and the contract's types.
 */
export { Engine, type EngineHost, type EngineOptions } from './engine.ts'
export { createNodeEngine, defaultDataDir, HOME_ENV_VAR, type NodeEngineOptions } from './node-engine.node.ts'
export { startApiServer, type ApiServer, type ApiServerOptions } from './http-server.node.ts'
export { formatInvite, parseInvite, type RoomAddress } from './invite.ts'
export * from './contract.ts'
