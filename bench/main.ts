/**
 * `npm run bench -- <suite> [options]`. Each suite measures its rows side by side in one run
 * and prints a markdown table; ratios between rows are what targets are stated in.
 */
const SUITES: Readonly<Record<string, { summary: string; run(args: string[]): Promise<void> }>> = {
  train: {
    summary: 'trainer vs model.fit per backend, Fashion-MNIST accuracy, flat-parameter cost',
    run: async (a) => (await import('./train.ts')).benchTrain(a),
  },
  signaling: {
    summary: 'signaling server load: clients held, join-to-peer-list latency, memory per connection',
    run: async (a) => (await import('./signaling.ts')).benchSignaling(a),
  },
  algorithms: {
    summary: 'distributed algorithms on the simulator: accuracy, bytes, time on lan/wan/intercontinental',
    run: async (a) => (await import('./algorithms.ts')).benchAlgorithms(a),
  },
  p2p: {
    summary:
      'real nodes in shaped namespaces (root): time and bytes to a target accuracy, sync vs olco3 vs sgp',
    run: async (a) => (await import('./p2p.ts')).benchP2p(a),
  },
  transport: {
    summary: 'WebRTC held in this process (wrtc) vs in a Chromium page: throughput and small-frame RTT',
    run: async (a) => (await import('./transport.ts')).benchTransport(a),
  },
  compress: {
    summary:
      'compressors: encode/decode time vs a plain copy, wire bytes (--scalar adds the scalar reference rows)',
    run: async (a) => (await import('./compress.ts')).benchCompress(a),
  },
}

export async function runBench(argv: string[]): Promise<number> {
  const [suite, ...rest] = argv
  const chosen = suite === undefined ? undefined : SUITES[suite]
  if (!chosen) {
    const lines = [
      'Usage: npm run bench -- <suite> [--quick]',
      '',
      'Suites:',
      ...Object.entries(SUITES).map(([n, s]) => `  ${n.padEnd(10)} ${s.summary}`),
    ]
    console.log(lines.join('\n'))
    return suite === undefined || suite === '--help' ? 0 : 2
  }
  await chosen.run(rest)
  return 0
}
