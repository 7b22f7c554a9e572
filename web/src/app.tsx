// The console's frame: sign-in, then a header, the section navigation and
// the section shown. A 401 from any call (the token was changed or revoked)
// signs out and says why.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import {
  admin,
  type ModelMapping,
  messageOf,
  onUnauthorized,
  type Status,
  signOut,
  type Tenant,
} from "./api.js";
import { Generations } from "./generations.js";
import { Health, type StatusFeed, withSample } from "./health.js";
import { usePoll } from "./poll.js";
import { SignIn } from "./sign-in.js";
import { Tenants } from "./tenants.js";
import { SectionBoundary } from "./ui.js";
import { Usage } from "./usage.js";

const sections = [
  { id: "health", label: "Health" },
  { id: "tenants", label: "Tenants" },
  { id: "usage", label: "Usage" },
  { id: "generations", label: "Generations" },
] as const;
type SectionId = (typeof sections)[number]["id"];

export interface TenantList {
  tenants: Tenant[];
  error: string | null;
  reload(): Promise<void>;
}

export function App() {
  const [models, setModels] = useState<ModelMapping[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // A 401 while signing in is the sign-in form's own error, not a sign-out.
  const signedIn = useRef(false);
  signedIn.current = models !== null;

  useEffect(
    () =>
      onUnauthorized((message) => {
        if (!signedIn.current) return;
        setModels(null);
        setNotice(`Signed out: the gateway refused the admin token (${message})`);
      }),
    [],
  );

  if (models === null) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(loaded) => {
          setNotice(null);
          setModels(loaded);
        }}
      />
    );
  }
  return (
    <Console
      models={models}
      onSignOut={() => {
        signOut();
        setModels(null);
        setNotice("Signed out. The token is forgotten.");
      }}
    />
  );
}

function Console(props: { models: ModelMapping[]; onSignOut: () => void }) {
  const [section, setSection] = useState<SectionId>("health");
  const [tenants, setTenants] = useState<Tenant[]>([]);
  const [tenantsError, setTenantsError] = useState<string | null>(null);
  // The status is polled here, for every section: the header shows it, and
  // Health's chart of tasks in flight covers the whole session.
  const [feed, setFeed] = useState<StatusFeed>({ status: null, error: null, samples: [] });
  const moved = useRef(false);

  usePoll(
    async () => {
      try {
        const status = await admin.status();
        setFeed((last) => ({ status, error: null, samples: withSample(last.samples, status) }));
      } catch (err) {
        setFeed((last) => ({ ...last, error: messageOf(err) }));
        throw err;
      }
    },
    5_000,
    [],
  );

  const reload = useCallback(async () => {
    try {
      const list = await admin.tenants();
      setTenants(list.data);
      setTenantsError(null);
    } catch (err) {
      setTenantsError(messageOf(err));
    }
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);

  // After a change of section, focus goes to its heading (not on first show).
  useLayoutEffect(() => {
    if (moved.current) document.getElementById("section-title")?.focus();
  }, [section]);

  const tenantList: TenantList = { tenants, error: tenantsError, reload };
  const go = (id: SectionId) => {
    moved.current = true;
    setSection(id);
  };

  return (
    <div class="layout">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <p class="brand">
          <span class="brand-mark" aria-hidden="true" />
          imagegate <span class="brand-sub">console</span>
        </p>
        <nav aria-label="Sections" class="tabs">
          <ul>
            {sections.map((item) => (
              <li key={item.id}>
                <button
                  type="button"
                  class="tab"
                  aria-current={section === item.id ? "page" : undefined}
                  onClick={() => go(item.id)}
                >
                  {item.label}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <StatusPill status={feed.status} />
        <button type="button" class="ghost" onClick={props.onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" class="content" tabIndex={-1}>
        <h1 class="visually-hidden">imagegate operator console</h1>
        {/* Keyed by section: a section that failed is tried afresh when shown again. */}
        <SectionBoundary key={section}>
          {section === "health" && <Health feed={feed} tenants={tenantList} />}
          {section === "tenants" && <Tenants tenants={tenantList} models={props.models} />}
          {section === "usage" && <Usage tenants={tenantList} />}
          {section === "generations" && <Generations tenants={tenantList} />}
        </SectionBoundary>
      </main>
    </div>
  );
}

/** The gateway at a glance, in the header of every section. */
function StatusPill({ status }: { status: Status | null }) {
  if (status === null) return null;
  const open = status.channels.filter((channel) => channel.circuit !== "closed").length;
  return (
    <p class={`pulse${open > 0 ? " pulse-bad" : ""}`}>
      <span class={open > 0 ? "dot dot-bad" : "dot dot-live"} aria-hidden="true" />
      {status.tasks_in_flight} in flight ·{" "}
      {open === 0 ? "breakers closed" : `${open} breaker${open === 1 ? "" : "s"} not closed`}
    </p>
  );
}
