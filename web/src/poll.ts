// Polling while the page is visible: a live section reloads every few
// seconds, stops while the tab is hidden (no load on the gateway for a
// console nobody looks at) and reloads at once when it is shown again.
import { useEffect, useRef, useState } from "preact/hooks";

export interface Poll {
  /** When the last load finished. */
  updatedAt: Date | null;
  /** True while the tab is hidden or polling is switched off. */
  paused: boolean;
  /** Loads now (and restarts the interval). */
  refresh(): void;
}

export function usePoll(
  load: () => Promise<void>,
  intervalMs: number,
  deps: readonly unknown[],
  enabled = true,
): Poll {
  const [updatedAt, setUpdatedAt] = useState<Date | null>(null);
  const [hidden, setHidden] = useState(document.visibilityState !== "visible");
  const loadRef = useRef(load);
  loadRef.current = load;
  const refreshRef = useRef<() => void>(() => {});
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let loading = false;
    let again = false;

    const schedule = () => {
      clearTimeout(timer);
      if (!stopped && enabled && document.visibilityState === "visible") {
        timer = setTimeout(tick, intervalMs);
      }
    };
    const tick = async () => {
      // One load at a time: a refresh asked for meanwhile runs right after.
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      try {
        await loadRef.current();
        if (!stopped) setUpdatedAt(new Date());
      } catch {
        // The section shows its own error; the next tick tries again.
      } finally {
        loading = false;
      }
      if (again && !stopped) {
        again = false;
        void tick();
      } else schedule();
    };
    const onVisibility = () => {
      const isHidden = document.visibilityState !== "visible";
      setHidden(isHidden);
      if (isHidden) clearTimeout(timer);
      else if (enabled) void tick();
    };
    refreshRef.current = () => void tick();
    document.addEventListener("visibilitychange", onVisibility);
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [...deps, enabled, intervalMs]);

  return { updatedAt, paused: hidden || !enabled, refresh: () => refreshRef.current() };
}
