/**
 * WebAssembly SIMD kernels for the compressors' hot loops: loading, feature detection, and one
 * linear memory per compressor instance that holds its d-sized buffers for every call.
 *
 * The kernels are WebAssembly text (*.wat, SIMD128) next to this file, assembled into
 * kernel-bytes.generated.ts by build-kernels.node.ts, so the runtime needs no assembler and
 * this module runs unchanged in Node and in browsers. Each module is compiled once per process
 * (synchronously: the modules are a few KiB) and instantiated per compressor with its own memory.
 *
 * The scalar TypeScript in each compressor stays the reference: a kernel must give the same
 * bits (tests compare both paths). Where WebAssembly or its SIMD is missing (checked with
 * WebAssembly.validate on the kernel itself), a compressor built with kernels 'auto' runs the
 * scalar path and says so in its `kernelPath`.
 *
 * Memory layout of a workspace (byte offsets, each region 16-byte aligned):
 *   0          d × f32   values: the compress input copy, the decompress output
 *   sent       payload   what compress writes and returns
 *   received   payload   where decompress copies a payload it did not write itself
 * plus 16 bytes of slack: kernels may load a full vector at the end of a buffer.
 */
import { CoreError } from '../../errors.ts'
import { KERNEL_WASM_BASE64 } from './kernel-bytes.generated.ts'

export type KernelName = keyof typeof KERNEL_WASM_BASE64

/** Which implementation of the hot loops a compressor runs. */
export type KernelPath = 'wasm-simd' | 'scalar'

/** What a caller asks for: 'auto' takes 'wasm-simd' where the runtime has it, else 'scalar'. */
export type KernelChoice = 'auto' | KernelPath

export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'wasm-simd', 'scalar']

/** The parts of the WebAssembly namespace used here; a parameter so tests can take SIMD away. */
export interface WasmRuntime {
  validate(bytes: Uint8Array<ArrayBuffer>): boolean
  readonly Module: new (bytes: Uint8Array<ArrayBuffer>) => WebAssembly.Module
  readonly Instance: new (module: WebAssembly.Module, imports: WebAssembly.Imports) => WebAssembly.Instance
  readonly Memory: new (descriptor: WebAssembly.MemoryDescriptor) => WebAssembly.Memory
}

const PAGE_BYTES = 65536
const MAX_PAGES = 65536
const SLACK_BYTES = 16

/** This runtime's WebAssembly, or null where there is none. */
function defaultRuntime(): WasmRuntime | null {
  const wasm = (globalThis as { WebAssembly?: WasmRuntime }).WebAssembly
  return typeof wasm === 'object' && typeof wasm.validate === 'function' ? wasm : null
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** The assembled bytes of one kernel module, as committed. */
export function kernelBytes(name: KernelName): Uint8Array<ArrayBuffer> {
  return decodeBase64(KERNEL_WASM_BASE64[name])
}

/** Compiled modules of the default runtime; null: this runtime cannot run the kernel. */
const compiled = new Map<KernelName, WebAssembly.Module | null>()

function compile(name: KernelName, runtime: WasmRuntime): WebAssembly.Module | null {
  const bytes = kernelBytes(name)
  try {
    return runtime.validate(bytes) ? new runtime.Module(bytes) : null
  } catch {
    return null
  }
}

function compiledKernel(name: KernelName, runtime: WasmRuntime | null): WebAssembly.Module | null {
  if (runtime === null) return null
  if (runtime !== defaultRuntime()) return compile(name, runtime)
  let module = compiled.get(name)
  if (module === undefined) {
    module = compile(name, runtime)
    compiled.set(name, module)
  }
  return module
}

/**
 * True when `runtime` (default: this one; null: none) can run the named kernel: WebAssembly
 * with SIMD128.
 */
export function isKernelAvailable(name: KernelName, runtime: WasmRuntime | null = defaultRuntime()): boolean {
  return compiledKernel(name, runtime) !== null
}

function align16(offset: number): number {
  return Math.ceil(offset / 16) * 16
}

/** A kernel instance with its own memory, sized once for one layout and reused by every call. */
export class KernelWorkspace<Exports> {
  readonly kernel: Exports
  /** Byte offset of the values region (always 0). */
  readonly valuesOffset = 0
  /** The values region as float32: compress input copy, decompress output. */
  readonly values: Float32Array
  readonly sentOffset: number
  /** The payload compress writes and returns (overwritten by the next compress). */
  readonly sent: Uint8Array
  readonly receivedOffset: number
  /** Scratch for received payloads of the layout's own size. */
  readonly received: Uint8Array

  constructor(kernel: Exports, memory: WebAssembly.Memory, d: number, payloadBytes: number) {
    this.kernel = kernel
    this.sentOffset = align16(4 * d)
    this.receivedOffset = align16(this.sentOffset + payloadBytes)
    this.values = new Float32Array(memory.buffer, 0, d)
    this.sent = new Uint8Array(memory.buffer, this.sentOffset, payloadBytes)
    this.received = new Uint8Array(memory.buffer, this.receivedOffset, payloadBytes)
  }

  /** Copies the vector to compress into the values region. */
  loadValues(values: Float32Array): void {
    this.values.set(values)
  }

  /**
   * Byte offset of `payload` in this memory: copied into the received region unless it is the
   * sent payload itself (error feedback decodes its own payload). Its length must be the
   * workspace's payload size.
   */
  loadPayload(payload: Uint8Array): number {
    if (payload.buffer === this.sent.buffer && payload.byteOffset === this.sentOffset) return this.sentOffset
    this.received.set(payload)
    return this.receivedOffset
  }
}

/** Total bytes of a workspace for d values and a payload of `payloadBytes`. */
export function workspaceBytes(d: number, payloadBytes: number): number {
  return align16(align16(4 * d) + payloadBytes) + payloadBytes + SLACK_BYTES
}

/**
 * A workspace running kernel `name`, or undefined when `choice` is 'scalar', or 'auto' and this
 * runtime has no WebAssembly SIMD (or cannot reserve the memory). Throws
 * CoreError('ERR_BACKEND_UNAVAILABLE') when 'wasm-simd' is asked for and cannot be had.
 * `runtime` is a seam for tests: default this runtime's WebAssembly, null for none.
 */
export function createKernelWorkspace<Exports>(
  name: KernelName,
  choice: KernelChoice,
  d: number,
  payloadBytes: number,
  runtime: WasmRuntime | null = defaultRuntime(),
): KernelWorkspace<Exports> | undefined {
  if (!KERNEL_CHOICES.includes(choice)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `kernels must be one of ${KERNEL_CHOICES.join(', ')}, got ${String(choice)}`,
    )
  }
  if (choice === 'scalar') return undefined
  const unavailable = (why: string): undefined => {
    if (choice === 'auto') return undefined
    throw new CoreError('ERR_BACKEND_UNAVAILABLE', `${name} WebAssembly SIMD kernel: ${why}`)
  }
  const module = compiledKernel(name, runtime)
  if (module === null || runtime === null) return unavailable('this runtime has no WebAssembly SIMD')
  const pages = Math.ceil(workspaceBytes(d, payloadBytes) / PAGE_BYTES)
  if (pages > MAX_PAGES) return unavailable(`${d} values need more than 4 GiB of linear memory`)
  let memory: WebAssembly.Memory
  try {
    memory = new runtime.Memory({ initial: pages, maximum: pages })
  } catch (error) {
    return unavailable(`cannot reserve ${pages} pages of memory (${String(error)})`)
  }
  const instance = new runtime.Instance(module, { env: { memory } })
  return new KernelWorkspace(instance.exports as Exports, memory, d, payloadBytes)
}
