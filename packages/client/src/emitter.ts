/** A tiny typed event emitter (no Node `events` in the browser build). */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        (l as (p: Events[K]) => void)(payload);
      } catch (err) {
        // A listener's bug must not break syncing: report it asynchronously, as an uncaught error.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
