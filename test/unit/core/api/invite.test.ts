import { describe, expect, it } from 'vitest'
import {
  parseAlgorithmSpec,
  resolveAlgorithmConfig,
  type AlgorithmConfig,
} from '../../../../core/algorithms/config.ts'
import { TRAINING_PRESETS } from '../../../../core/api/contract.ts'
import { algorithmSpecOf, formatInvite, joinCommandOf, parseInvite } from '../../../../core/api/invite.ts'

describe('invites', () => {
  it('round-trips an address with characters that need encoding', () => {
    const address = {
      signalUrl: 'wss://signal.example:8443/path?x=1&y=2',
      room: 'lab.1~x',
      secret: 'a+b/c=d&e f',
    }
    const invite = formatInvite(address)
    expect(invite.startsWith('longhaul://join?v=1&')).toBe(true)
    expect(parseInvite(`  ${invite}\n`)).toEqual(address)
  })

  it('refuses a malformed address when writing one', () => {
    expect(() => formatInvite({ signalUrl: 'ws://a', room: 'r', secret: 'short' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
  })
})

describe('algorithmSpecOf', () => {
  const configs: AlgorithmConfig[] = [
    ...Object.values(TRAINING_PRESETS).map((p) => p.algorithm),
    { kind: 'sync', compressor: 'fp16', errorFeedback: false },
    { kind: 'local', H: 8, warmupSteps: 10 },
    { kind: 'sgp', peers: 2, overlapDelay: 1, peerLoss: 'keep-mass' },
    { kind: 'slowmo', base: { kind: 'local', H: 12 }, alpha: 1, beta: 0.6, tau: 12 },
    { kind: 'diloco', tau: 50 },
  ]
  for (const config of configs) {
    it(`writes ${config.kind} so that the CLI reads back the same config`, () => {
      expect(resolveAlgorithmConfig(parseAlgorithmSpec(algorithmSpecOf(config)))).toEqual(
        resolveAlgorithmConfig(config),
      )
    })
  }

  it('puts the model, algorithm and slots into a join command and quotes what a shell would split', () => {
    const command = joinCommandOf(
      { signalUrl: 'ws://127.0.0.1:9', room: 'r', secret: "it's secret" },
      { dataset: '/data/my cats', model: 'cnn', algorithm: { kind: 'sync' }, maxPeers: 4 },
    )
    expect(command).toBe(
      `longhaul node --signal ws://127.0.0.1:9 --room r --secret 'it'\\''s secret' --data '/data/my cats' --model cnn --algo sync --max-peers 4`,
    )
  })
})
