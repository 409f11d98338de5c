/**
 * A tiny typed event emitter: `on` returns the unsubscribe function, and a listener that
 * throws never breaks the emitter or the other listeners. What happens to the thrown value is
 * the owner's decision (`onListenerError`); transports close themselves with it.
 */

/** Event name → the listener's argument tuple. */
export type EventArgs<Events> = {
  [K in keyof Events]: Events[K] extends (...args: infer A) => void ? A : never
}

export class Emitter<Events> {
  private readonly listeners = new Map<keyof Events, Set<(...args: never[]) => void>>()

  constructor(
    private readonly onListenerError: (event: keyof Events, error: unknown) => void = (_event, error) =>
      queueMicrotask(() => {
        throw error
      }),
  ) {}

  /** Adds a listener; the returned function removes it (calling it twice is harmless). */
  on<K extends keyof Events>(event: K, listener: Events[K] & ((...args: never[]) => void)): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(event, set)
    }
    // A wrapper per subscription, so subscribing the same function twice means two calls
    // and two independent unsubscribes.
    const entry = (...args: never[]): void => listener(...args)
    set.add(entry)
    return () => {
      set.delete(entry)
    }
  }

  /** Calls every listener of `event` in subscription order, on a copy of the list. */
  emit<K extends keyof Events>(event: K, ...args: EventArgs<Events>[K]): void {
    const set = this.listeners.get(event)
    if (set === undefined || set.size === 0) return
    for (const listener of [...set]) {
      try {
        call(listener, args)
      } catch (error) {
        this.onListenerError(event, error)
      }
    }
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0
  }

  /** Drops every listener (after a final event, so closures can be collected). */
  clear(): void {
    this.listeners.clear()
  }
}

// The listener was stored with its own parameter types erased to `never[]`; the tuple it gets
// is exactly the one `emit` was type-checked against for the same event name.
function call(listener: (...args: never[]) => void, args: readonly unknown[]): void {
  Reflect.apply(listener, undefined, args)
}
