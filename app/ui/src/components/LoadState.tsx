import type { ReactNode } from "react";
import type { Async } from "../useAsync";

// LoadState shows exactly one of: what failed with a Retry button, Loading,
// the empty message, or the content. A failed reload keeps the rows it had
// and puts the error above them.
export function LoadState<T>({
  state,
  what,
  isEmpty,
  empty,
  children,
}: {
  state: Async<T>;
  /** The thing loaded, in words: "contacts". */
  what: string;
  isEmpty: (data: T) => boolean;
  empty: ReactNode;
  children: (data: T) => ReactNode;
}) {
  const failed = state.error && (
    <div className="banner error" role="alert">
      <span>
        The {what} could not be loaded. {state.error.message}
      </span>{" "}
      <button type="button" onClick={state.reload} disabled={state.loading}>
        {state.loading ? "Retrying…" : "Retry"}
      </button>
    </div>
  );
  if (state.data === undefined) {
    return failed || <p className="muted">Loading…</p>;
  }
  return (
    <>
      {failed}
      {isEmpty(state.data) ? <p className="muted">{empty}</p> : children(state.data)}
    </>
  );
}
