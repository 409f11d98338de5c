/**
 * Failures of the network-emulation harness itself (not of the code under test), each with a
 * stable code so a test can tell "this machine cannot emulate" from "the product is broken".
 */
export const HARNESS_ERROR_CODES = {
  ERR_NETNS_UNAVAILABLE: 'Network namespaces cannot be created here (not root, no iproute2, or a sandbox).',
  ERR_NETEM_UNAVAILABLE: 'The kernel has no netem qdisc, so mode "netem" cannot add delay.',
  ERR_TURN_UNAVAILABLE: 'The coturn `turnserver` binary is missing, so mode "turn-relay" cannot run.',
  ERR_COMMAND_FAILED: 'A setup command (ip, tc, iptables, sysctl) exited with an error.',
  ERR_PROCESS: 'A harness child process exited early or reported an error.',
  ERR_TIMEOUT: 'A harness wait ran past its timeout.',
  ERR_TORN_DOWN: 'A topology method was called after teardown().',
  ERR_INVALID_ARGUMENT: 'A harness option is out of range.',
} as const

export type HarnessErrorCode = keyof typeof HARNESS_ERROR_CODES

/** An expected harness failure with a stable `code`. */
export class HarnessError extends Error {
  readonly code: HarnessErrorCode

  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HarnessError'
    this.code = code
  }
}
