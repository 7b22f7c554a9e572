// Small pieces every section uses: errors, badges, the "last updated" line.
import type { ComponentChildren } from "preact";
import { useErrorBoundary } from "preact/hooks";
import { clock } from "./format.js";
import type { Poll } from "./poll.js";

/** An API error, as the gateway worded it; announced when it appears. */
export function ErrorNote({ message }: { message: string | null }) {
  if (message === null) return null;
  return (
    <p class="error-note" role="alert">
      {message}
    </p>
  );
}

export type Tone = "ok" | "warn" | "bad" | "info" | "neutral";

export function Badge({ tone, children }: { tone: Tone; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

/** "Updated 13:07:09", or why it is not updating. */
export function LastUpdated({ poll }: { poll: Poll }) {
  const at = poll.updatedAt === null ? "not yet" : clock(poll.updatedAt);
  return (
    <p class="updated" aria-live="off">
      <span class={poll.paused ? "dot dot-paused" : "dot dot-live"} aria-hidden="true" />
      {poll.paused ? `Paused · updated ${at}` : `Live · updated ${at}`}
      <button type="button" class="link-button" onClick={() => poll.refresh()}>
        Refresh now
      </button>
    </p>
  );
}

export function SectionHeader({
  title,
  children,
}: {
  title: string;
  children?: ComponentChildren;
}) {
  return (
    <div class="section-header">
      <h2 id="section-title" tabIndex={-1}>
        {title}
      </h2>
      {children}
    </div>
  );
}

/** A number input's text as a limit: empty is no limit (null). */
export function limitOf(text: string): number | null {
  const trimmed = text.trim();
  return trimmed === "" ? null : Number(trimmed);
}

export function LimitField(props: {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  hint?: string;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="number"
        inputMode="numeric"
        min={1}
        step={1}
        placeholder="no limit"
        value={props.value}
        aria-describedby={props.hint ? `${props.id}-hint` : undefined}
        onInput={(event) => props.onInput(event.currentTarget.value)}
      />
      {props.hint && (
        <span class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </span>
      )}
    </div>
  );
}

/**
 * A section that fails to render says so, and the rest of the console (its
 * navigation, sign-out) keeps working; "Try again" renders it afresh.
 */
export function SectionBoundary({ children }: { children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary();
  if (error === undefined) return <>{children}</>;
  return (
    <div class="error-note" role="alert">
      <p>
        This section could not be shown: {error instanceof Error ? error.message : String(error)}
      </p>
      <button type="button" onClick={reset}>
        Try again
      </button>
    </div>
  );
}
