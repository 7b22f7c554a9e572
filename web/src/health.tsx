// Health: the process (uptime, tasks in flight), each channel with its
// breaker, tasks in flight over this session and generations per minute
// from the latest generations.
import { useState } from "preact/hooks";
import {
  admin,
  type Channel,
  type Circuit,
  type Generation,
  messageOf,
  type Status,
} from "./api.js";
import type { TenantList } from "./app.js";
import { ChartFigure } from "./charts.js";
import { clock, count, duration } from "./format.js";
import { usePoll } from "./poll.js";
import { Badge, ErrorNote, LastUpdated, SectionHeader, type Tone } from "./ui.js";

export interface InFlightSample {
  at: Date;
  inFlight: number;
}

/** Ten minutes of samples at the status poll's pace (5 s). */
const maxSamples = 120;
const pollMs = 5_000;
/** Generations read for the per-minute chart (the API's page limit). */
const recentLimit = 200;
const minutesShown = 30;

const circuitLabels: Record<Circuit, { text: string; tone: Tone }> = {
  closed: { text: "Breaker closed", tone: "ok" },
  "half-open": { text: "Breaker half-open", tone: "warn" },
  open: { text: "Breaker open", tone: "bad" },
};

function outcomeOf(state: Generation["state"]): "done" | "failed" | "active" {
  if (state === "succeeded") return "done";
  if (state === "pending" || state === "running") return "active";
  return "failed";
}

/** Generations per minute over the last `minutesShown` minutes, by outcome. */
function perMinute(generations: Generation[], now: number) {
  const end = Math.floor(now / 60_000);
  const minutes = Array.from(
    { length: minutesShown },
    (_, index) => end - minutesShown + 1 + index,
  );
  const buckets = new Map(minutes.map((minute) => [minute, { done: 0, failed: 0, active: 0 }]));
  for (const generation of generations) {
    const bucket = buckets.get(Math.floor(generation.created_at / 60));
    if (bucket) bucket[outcomeOf(generation.state)] += 1;
  }
  const labels = minutes.map((minute) => clock(new Date(minute * 60_000)).slice(0, 5));
  const rows = minutes.map((minute) => buckets.get(minute) ?? { done: 0, failed: 0, active: 0 });
  return { labels, rows };
}

/** The gateway's status, polled by the console's frame for its header and this chart. */
export interface StatusFeed {
  status: Status | null;
  error: string | null;
  /** Tasks in flight over the session, oldest first. */
  samples: InFlightSample[];
}

/** Adds a sample, keeping the last `maxSamples`. */
export function withSample(samples: InFlightSample[], status: Status): InFlightSample[] {
  return [...samples, { at: new Date(), inFlight: status.tasks_in_flight }].slice(-maxSamples);
}

export function Health(props: { feed: StatusFeed; tenants: TenantList }) {
  const { status, samples } = props.feed;
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [recent, setRecent] = useState<Generation[]>([]);
  /** The latest page did not reach back an hour: the hour's count is at least what it shows. */
  const [recentCapped, setRecentCapped] = useState(false);
  const [errors, setErrors] = useState<string[]>([]);

  const poll = usePoll(
    async () => {
      const [channelsResult, recentResult] = await Promise.allSettled([
        admin.channels(),
        admin.generations({ limit: recentLimit }),
      ]);
      const failures: string[] = [];
      if (channelsResult.status === "fulfilled") setChannels(channelsResult.value.data);
      else failures.push(`Channels: ${messageOf(channelsResult.reason)}`);
      if (recentResult.status === "fulfilled") {
        const page = recentResult.value;
        const oldest = page.data.at(-1);
        setRecent(page.data);
        setRecentCapped(
          page.has_more &&
            oldest !== undefined &&
            oldest.created_at * 1000 > Date.now() - 3_600_000,
        );
      } else failures.push(`Generations: ${messageOf(recentResult.reason)}`);
      setErrors(failures);
    },
    pollMs,
    [],
  );

  const openBreakers = channels?.filter((channel) => channel.health.circuit !== "closed").length;
  const enabled = channels?.filter((channel) => channel.enabled).length;
  const disabledTenants = props.tenants.tenants.filter((tenant) => tenant.disabled).length;
  const minutes = perMinute(recent, Date.now());
  const lastHour = recent.filter(
    (generation) => generation.created_at * 1000 > Date.now() - 3_600_000,
  );
  const failedLastHour = lastHour.filter((generation) => outcomeOf(generation.state) === "failed");

  return (
    <section aria-labelledby="section-title">
      <SectionHeader title="Health">
        <LastUpdated poll={poll} />
      </SectionHeader>
      {[...(props.feed.error ? [`Status: ${props.feed.error}`] : []), ...errors].map((message) => (
        <ErrorNote key={message} message={message} />
      ))}

      <ul class="stats" aria-label="Summary">
        <Stat label="Tasks in flight" value={status ? count(status.tasks_in_flight) : "…"} />
        <Stat
          label="Breakers not closed"
          value={openBreakers === undefined ? "…" : count(openBreakers)}
          tone={openBreakers ? "bad" : "ok"}
        />
        <Stat
          label="Channels enabled"
          value={channels ? `${enabled} of ${channels.length}` : "…"}
        />
        <Stat
          label="Tenants"
          value={count(props.tenants.tenants.length)}
          note={disabledTenants ? `${disabledTenants} disabled` : undefined}
        />
        <Stat
          label="Generations, 1 h"
          value={recentCapped ? `${count(lastHour.length)}+` : count(lastHour.length)}
          note={
            [
              recentCapped ? `the latest ${recentLimit} only` : "",
              failedLastHour.length ? `${failedLastHour.length} not succeeded` : "",
            ]
              .filter(Boolean)
              .join(" · ") || undefined
          }
          tone={failedLastHour.length ? "warn" : undefined}
        />
        <Stat label="Uptime" value={status ? duration(status.uptime_seconds * 1000) : "…"} />
      </ul>

      <h3>Channels</h3>
      {channels !== null && channels.length === 0 && (
        <p class="muted">
          No shared channel is configured: tenants without their own upstream key cannot generate.
        </p>
      )}
      <ul class="channel-grid">
        {channels?.map((channel) => (
          <ChannelCard key={channel.id} channel={channel} />
        ))}
      </ul>

      <div class="chart-grid">
        <ChartFigure
          title="Tasks in flight, this session"
          chart={{
            label: "Line chart of tasks in flight over this session, sampled every 5 seconds",
            kind: "line",
            labels: samples.map((sample) => clock(sample.at)),
            series: [
              {
                label: "Tasks in flight",
                data: samples.map((sample) => sample.inFlight),
                color: "--series-1",
              },
            ],
          }}
          table={{
            caption: "Tasks in flight, this session",
            headers: ["Time", "Tasks in flight"],
            rows: samples.slice(-20).map((sample) => [clock(sample.at), sample.inFlight]),
          }}
        />
        <ChartFigure
          title={`Generations per minute, last ${minutesShown} minutes`}
          chart={{
            label: `Stacked bar chart of generations started per minute over the last ${minutesShown} minutes, by outcome`,
            kind: "bar",
            stacked: true,
            labels: minutes.labels,
            series: [
              { label: "Succeeded", data: minutes.rows.map((row) => row.done), color: "--ok" },
              {
                label: "In progress",
                data: minutes.rows.map((row) => row.active),
                color: "--info",
              },
              {
                label: "Not succeeded",
                data: minutes.rows.map((row) => row.failed),
                color: "--bad",
              },
            ],
          }}
          table={{
            caption: `Generations per minute (of the latest ${recentLimit})`,
            headers: ["Minute", "Succeeded", "In progress", "Not succeeded"],
            rows: minutes.labels
              .map((label, index) => {
                const row = minutes.rows[index] ?? { done: 0, active: 0, failed: 0 };
                return [label, row.done, row.active, row.failed];
              })
              .filter((row) => row.slice(1).some((value) => value !== 0)),
          }}
        />
      </div>
    </section>
  );
}

function Stat(props: {
  label: string;
  value: string;
  note?: string | undefined;
  tone?: Tone | undefined;
}) {
  return (
    <li class={`stat card${props.tone ? ` stat-${props.tone}` : ""}`}>
      <span class="stat-label">{props.label}</span>
      <span class="stat-value">{props.value}</span>
      {props.note && <span class="stat-note">{props.note}</span>}
    </li>
  );
}

function ChannelCard({ channel }: { channel: Channel }) {
  const circuit = circuitLabels[channel.health.circuit];
  const refused = channel.health.credential_refused;
  const limit = channel.max_concurrent === null ? "" : ` / ${channel.max_concurrent}`;
  return (
    <li class="card channel-card">
      <div class="channel-head">
        <h4>{channel.name}</h4>
        <Badge tone={circuit.tone}>
          {circuit.text}
          {channel.health.retry_after_seconds !== null &&
            ` · ${channel.health.retry_after_seconds} s`}
        </Badge>
      </div>
      <p class="mono muted small">{channel.id}</p>
      <dl class="facts">
        <div>
          <dt>In flight</dt>
          <dd>
            {channel.health.in_flight}
            {limit}
          </dd>
        </div>
        <div>
          <dt>State</dt>
          <dd>{channel.enabled ? "Enabled" : "Disabled"}</dd>
        </div>
        <div>
          <dt>Provider</dt>
          <dd>{channel.provider}</dd>
        </div>
        <div>
          <dt>Priority · weight</dt>
          <dd>
            {channel.priority} · {channel.weight}
          </dd>
        </div>
        <div class="wide">
          <dt>Models</dt>
          <dd>{channel.models.length === 0 ? "all of its provider" : channel.models.join(", ")}</dd>
        </div>
      </dl>
      {refused && (
        <p class="warn-note">
          The upstream refused this account's key at {clock(new Date(refused.at * 1000))}
          {refused.status !== null &&
            ` (${refused.status}${refused.code ? ` ${refused.code}` : ""})`}
          : it goes last for a minute.
        </p>
      )}
    </li>
  );
}
