// Generations, live and recent: newest first, with progress while running,
// duration, lag and the error of those that did not succeed; filtered by
// tenant and state, older pages on demand.
import { useRef, useState } from "preact/hooks";
import {
  admin,
  type Generation,
  type GenerationState,
  generationStates,
  messageOf,
} from "./api.js";
import type { TenantList } from "./app.js";
import { clock, dateTime, duration } from "./format.js";
import { usePoll } from "./poll.js";
import { Badge, ErrorNote, LastUpdated, SectionHeader, type Tone } from "./ui.js";

const pageSize = 50;
const pollMs = 3_000;

const stateTones: Record<GenerationState, Tone> = {
  pending: "neutral",
  running: "info",
  succeeded: "ok",
  failed: "bad",
  refused: "warn",
  unknown: "warn",
  error: "bad",
};

const stateHelp: Record<GenerationState, string> = {
  pending: "reserved, not yet submitted",
  running: "the upstream has the task",
  succeeded: "images ready",
  failed: "the upstream's task failed",
  refused: "the submit was refused: nothing was charged",
  unknown: "the submit may have reached the upstream",
  error: "submitted, then lost, timed out or not downloadable",
};

interface Listing {
  items: Generation[];
  hasMore: boolean;
}

/**
 * The newest page merged into what is shown: new generations on top, known
 * ones updated, older pages kept below. Shown items the page should hold but
 * does not have left the filter (a running one that finished); a page that
 * does not reach what is shown (a gap) starts the list over.
 */
export function mergeNewest(shown: Listing, page: Listing): Listing {
  if (!page.hasMore) return page;
  const inPage = new Set(page.items.map((item) => item.id));
  const overlaps = shown.items.some((item) => inPage.has(item.id));
  if (!overlaps) return page;
  const oldest = page.items[page.items.length - 1];
  const rest = shown.items.filter(
    (item) => !inPage.has(item.id) && oldest !== undefined && item.created_at <= oldest.created_at,
  );
  return { items: [...page.items, ...rest], hasMore: shown.hasMore };
}

export function Generations(props: { tenants: TenantList }) {
  const [tenant, setTenant] = useState("");
  const [state, setState] = useState<GenerationState | "">("");
  const [live, setLive] = useState(true);
  const [listing, setListing] = useState<Listing>({ items: [], hasMore: false });
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);

  const filter = { tenant: tenant || undefined, state: state || undefined };
  // An answer to a request made under another filter is dropped.
  const filterKey = useRef("");
  filterKey.current = `${tenant}|${state}`;

  const poll = usePoll(
    async () => {
      try {
        const asked = filterKey.current;
        const page = await admin.generations({ ...filter, limit: pageSize });
        if (asked !== filterKey.current) return;
        setListing((shown) => mergeNewest(shown, { items: page.data, hasMore: page.has_more }));
        setLoaded(true);
        setError(null);
      } catch (err) {
        setError(messageOf(err));
        throw err;
      }
    },
    pollMs,
    [tenant, state],
    live,
  );

  const changeFilter = (apply: () => void) => {
    setListing({ items: [], hasMore: false });
    setLoaded(false);
    apply();
  };

  const loadOlder = async () => {
    const last = listing.items[listing.items.length - 1];
    if (last === undefined) return;
    setLoadingOlder(true);
    try {
      const asked = filterKey.current;
      const page = await admin.generations({ ...filter, limit: pageSize, before: last.id });
      if (asked !== filterKey.current) return;
      setListing((shown) => {
        const known = new Set(shown.items.map((item) => item.id));
        return {
          items: [...shown.items, ...page.data.filter((item) => !known.has(item.id))],
          hasMore: page.has_more,
        };
      });
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setLoadingOlder(false);
    }
  };

  const tenantName = (id: string) =>
    props.tenants.tenants.find((candidate) => candidate.id === id)?.name ?? id;
  const counts = new Map<GenerationState, number>();
  for (const item of listing.items) counts.set(item.state, (counts.get(item.state) ?? 0) + 1);

  return (
    <section aria-labelledby="section-title">
      <SectionHeader title="Generations">
        <LastUpdated poll={poll} />
      </SectionHeader>
      <div class="toolbar card">
        <div class="field">
          <label for="generations-tenant">Tenant</label>
          <select
            id="generations-tenant"
            value={tenant}
            onChange={(event) => {
              const value = event.currentTarget.value;
              changeFilter(() => setTenant(value));
            }}
          >
            <option value="">All tenants</option>
            {props.tenants.tenants.map((item) => (
              <option key={item.id} value={item.id}>
                {item.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="generations-state">State</label>
          <select
            id="generations-state"
            value={state}
            onChange={(event) => {
              const value = event.currentTarget.value as GenerationState | "";
              changeFilter(() => setState(value));
            }}
          >
            <option value="">All states</option>
            {generationStates.map((item) => (
              <option key={item} value={item}>
                {item}
              </option>
            ))}
          </select>
        </div>
        <label class="check toolbar-check">
          <input
            type="checkbox"
            checked={live}
            onChange={(event) => setLive(event.currentTarget.checked)}
          />
          Live updates (every {pollMs / 1000} s)
        </label>
      </div>
      <ErrorNote message={error} />

      <p class="state-summary">
        {listing.items.length} shown
        {generationStates
          .filter((item) => counts.has(item))
          .map((item) => (
            <Badge key={item} tone={stateTones[item]}>
              {counts.get(item)} {item}
            </Badge>
          ))}
      </p>

      <div class="table-wrap card flush">
        <table class="data generations-table">
          <caption class="visually-hidden">Generations, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Generation</th>
              <th scope="col">Tenant</th>
              <th scope="col">State</th>
              <th scope="col" class="num">
                Images
              </th>
              <th scope="col" class="num">
                Duration
              </th>
              <th scope="col" class="num">
                Lag
              </th>
              <th scope="col">Channel</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {listing.items.length === 0 && (
              <tr>
                <td colSpan={9} class="empty">
                  {loaded ? "No generations match." : "Loading…"}
                </td>
              </tr>
            )}
            {listing.items.map((item) => (
              <GenerationRow key={item.id} item={item} tenantName={tenantName(item.tenant_id)} />
            ))}
          </tbody>
        </table>
      </div>
      {listing.hasMore && (
        <div class="actions center">
          <button type="button" onClick={loadOlder} disabled={loadingOlder}>
            {loadingOlder ? "Loading…" : "Load older generations"}
          </button>
        </div>
      )}
    </section>
  );
}

function GenerationRow({ item, tenantName }: { item: Generation; tenantName: string }) {
  const running = item.state === "running" || item.state === "pending";
  const percent = item.progress === null ? null : Math.round(item.progress * 100);
  return (
    <tr data-generation={item.id} data-state={item.state}>
      <td>
        <span class="nowrap">{clock(new Date(item.created_at * 1000))}</span>
        <span class="muted small block nowrap">{dateTime(item.created_at).slice(0, 10)}</span>
      </td>
      <th scope="row">
        <span class="mono small block">{item.id}</span>
        <span class="small">
          {item.requested_model}
          {item.requested_model !== item.model && <span class="muted"> → {item.model}</span>}
        </span>
      </th>
      <td>{tenantName}</td>
      <td>
        <span title={stateHelp[item.state]}>
          <Badge tone={stateTones[item.state]}>{item.state}</Badge>
        </span>
        {running && (
          <span class="progress-cell">
            <progress
              max={100}
              value={percent ?? undefined}
              aria-label={`Progress of ${item.id}`}
            />
            <span class="small muted">{percent === null ? "…" : `${percent}%`}</span>
          </span>
        )}
      </td>
      <td class="num">{item.state === "succeeded" ? `${item.images} / ${item.n}` : item.n}</td>
      <td class="num">
        {running ? duration(Date.now() - item.created_at * 1000) : duration(item.duration_ms)}
      </td>
      <td class="num">{duration(item.lag_ms)}</td>
      <td class="mono small">{item.channel_id ?? "—"}</td>
      <td class="outcome">
        {item.error ? (
          <span class="error-text">
            {item.error.message}
            <span class="mono small block muted">
              {item.error.status} {item.error.code ?? item.error.type}
            </span>
          </span>
        ) : item.state === "succeeded" ? (
          item.delivered_at === null ? (
            <span class="muted">ready, not fetched yet</span>
          ) : (
            <span>delivered {clock(new Date(item.delivered_at * 1000))}</span>
          )
        ) : (
          <span class="muted">{stateHelp[item.state]}</span>
        )}
      </td>
    </tr>
  );
}
