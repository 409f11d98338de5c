/**
 * Honest labels for GPU adapters and WebGL renderers. Runtime-agnostic: the browser page and the
 * Node engine label devices with the same rules.
 *
 * The rule: a device is hardware only when its own description says so. Software rasterisers that
 * implement WebGPU or WebGL on the CPU (Google's SwiftShader, Mesa's llvmpipe/lavapipe/softpipe,
 * Windows' WARP "Microsoft Basic Render Driver", Apple's software renderer) are named and labelled
 * software, and so is an adapter that calls itself a fallback adapter or a renderer string the
 * browser hides: we never call something a GPU that we cannot see is one.
 */

/** The fields of a WebGPU `GPUAdapterInfo` we read (all optional: implementations leave some out). */
export interface AdapterFacts {
  readonly vendor?: string
  readonly architecture?: string
  readonly device?: string
  readonly description?: string
  /** `GPUAdapterInfo.isFallbackAdapter` (or the older `GPUAdapter.isFallbackAdapter`). */
  readonly isFallbackAdapter?: boolean
}

/** What people see: the device string, and whether it is a real GPU. */
export interface DeviceLabel {
  /** The adapter or renderer string as reported, e.g. "nvidia ampere" or "ANGLE (Google, Vulkan ...)". */
  readonly adapter: string
  readonly isHardware: boolean
  /** When software: which rasteriser ("SwiftShader", "llvmpipe", ...) or why it counts as software. */
  readonly softwareRenderer?: string
}

/** Known software rasterisers: a pattern in the device text -> the name we print. */
const SOFTWARE_RENDERERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/swiftshader|subzero/i, 'SwiftShader'],
  [/lavapipe/i, 'lavapipe'],
  [/llvmpipe/i, 'llvmpipe'],
  [/softpipe/i, 'softpipe'],
  [/microsoft basic render driver/i, 'Microsoft Basic Render Driver'],
  [/\bwarp\b/i, 'WARP'],
  [/apple software renderer/i, 'Apple Software Renderer'],
]

/** Dawn's null backend: an adapter that accepts work and computes nothing. */
export const NULL_ADAPTER_NAME = 'null-backend'

/** The name of the software rasteriser mentioned in `text`, if any. */
export function softwareRendererIn(text: string): string | undefined {
  return SOFTWARE_RENDERERS.find(([pattern]) => pattern.test(text))?.[1]
}

function clean(value: string | undefined): string {
  return typeof value === 'string' ? value.trim() : ''
}

/** Labels a WebGPU adapter from its info. */
export function labelAdapter(facts: AdapterFacts): DeviceLabel {
  const parts = [facts.vendor, facts.architecture, facts.device, facts.description].map(clean)
  const words = [...new Set(parts.filter((p) => p !== ''))]
  const text = words.join(' ')
  const adapter = text === '' ? 'unnamed adapter' : text
  const named = softwareRendererIn(text)
  if (named !== undefined) {
    return { adapter: withFallback(adapter, facts), isHardware: false, softwareRenderer: named }
  }
  if (facts.isFallbackAdapter === true) {
    return {
      adapter: withFallback(adapter, facts),
      isHardware: false,
      softwareRenderer: 'a fallback adapter',
    }
  }
  if (text.includes(NULL_ADAPTER_NAME)) {
    return { adapter, isHardware: false, softwareRenderer: "Dawn's null backend" }
  }
  if (text === '') {
    return { adapter, isHardware: false, softwareRenderer: 'an adapter that does not name itself' }
  }
  return { adapter, isHardware: true }
}

function withFallback(adapter: string, facts: AdapterFacts): string {
  return facts.isFallbackAdapter === true ? `${adapter} (fallback adapter)` : adapter
}

/**
 * Labels a WebGL renderer from its strings. `unmaskedRenderer` comes from WEBGL_debug_renderer_info;
 * without it browsers report a generic "WebKit WebGL", which proves nothing, so it counts as software.
 */
export function labelRenderer(unmaskedRenderer: string | undefined, maskedRenderer: string): DeviceLabel {
  const renderer = clean(unmaskedRenderer)
  if (renderer === '') {
    return {
      adapter: clean(maskedRenderer) || 'unknown renderer',
      isHardware: false,
      softwareRenderer: 'a renderer the browser does not name',
    }
  }
  const named = softwareRendererIn(renderer)
  return named !== undefined
    ? { adapter: renderer, isHardware: false, softwareRenderer: named }
    : { adapter: renderer, isHardware: true }
}

/** "hardware" or "software (SwiftShader)": the words doctor and the UI print. */
export function hardwareWords(label: Pick<DeviceLabel, 'isHardware' | 'softwareRenderer'>): string {
  if (label.isHardware) return 'hardware'
  return label.softwareRenderer !== undefined ? `software (${label.softwareRenderer})` : 'software'
}

function stringField(source: object, key: string): string | undefined {
  const value: unknown = Reflect.get(source, key)
  return typeof value === 'string' ? value : undefined
}

/**
 * Reads AdapterFacts from a `GPUAdapter` (its `info`, or the adapter itself for older
 * implementations) or from plain JSON. GPUAdapterInfo exposes its fields as prototype getters, so
 * they are read with Reflect.get rather than by spreading.
 */
export function readAdapterFacts(adapter: unknown): AdapterFacts {
  if (typeof adapter !== 'object' || adapter === null) return {}
  const infoValue: unknown = Reflect.get(adapter, 'info')
  const info = typeof infoValue === 'object' && infoValue !== null ? infoValue : adapter
  const fallback: unknown =
    Reflect.get(info, 'isFallbackAdapter') ?? Reflect.get(adapter, 'isFallbackAdapter')
  const facts: { -readonly [K in keyof AdapterFacts]: AdapterFacts[K] } = {}
  for (const key of ['vendor', 'architecture', 'device', 'description'] as const) {
    const value = stringField(info, key)
    if (value !== undefined) facts[key] = value
  }
  if (typeof fallback === 'boolean') facts.isFallbackAdapter = fallback
  return facts
}
