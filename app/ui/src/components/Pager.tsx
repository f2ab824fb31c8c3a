import { useCallback, useState } from "react";
import { navigate, PAGING, useLocation } from "../router";

// Keyset paging only goes forward on the server; "Previous" replays the
// cursor that opened the page before. The stack belongs to a key (the
// search, filters and sort): a new key starts from the first page in the
// same render, so no request ever pairs a cursor with the wrong sort.
export interface Cursor {
  after: string;
  page: number;
  hasPrev: boolean;
  /** False when the cursors before this page are unknown (a pasted link):
   * back then goes to the first page. */
  prevKnown?: boolean;
  forward: (next: string) => void;
  back: () => void;
}

export function useCursor(key: string): Cursor {
  const [state, setState] = useState<{ key: string; stack: string[] }>({ key, stack: [""] });
  const stack = state.key === key ? state.stack : [""];
  const forward = useCallback(
    (next: string) => setState((s) => ({ key, stack: [...(s.key === key ? s.stack : [""]), next] })),
    [key],
  );
  const back = useCallback(
    () => setState((s) => ({ key, stack: s.key === key && s.stack.length > 1 ? s.stack.slice(0, -1) : [""] })),
    [key],
  );
  return { after: stack[stack.length - 1], page: stack.length, hasPrev: stack.length > 1, forward, back };
}
// useListCursor keeps a list's page in the URL (?page=3&after=CURSOR), so
// that Back from a record and a reload return to the same page. The
// cursors of the pages before it travel in the history entry's state: a
// pasted link has none, and its "Previous" becomes "First page". Moving
// between pages replaces the entry, like a change of search or sort: Back
// leaves the list rather than stepping through its pages. useSearchParam
// drops the page when anything else in the list changes.
export function useListCursor(): Cursor {
  const loc = useLocation();
  const after = loc.search.get("after") ?? "";
  const page = after ? Math.max(2, Math.trunc(Number(loc.search.get("page"))) || 2) : 1;
  const saved = (window.history.state as { cursors?: unknown } | null)?.cursors;
  const earlier = Array.isArray(saved) && saved.length === page - 1 && saved.every((c) => typeof c === "string") ? (saved as string[]) : null;
  const go = (to: string, n: number, cursors: string[]) => {
    const p = new URLSearchParams(window.location.search);
    PAGING.forEach((k) => p.delete(k));
    if (to) {
      p.set("page", String(n));
      p.set("after", to);
    }
    const qs = p.toString();
    navigate(window.location.pathname + (qs ? "?" + qs : ""), { replace: true, state: { cursors } });
  };
  return {
    after,
    page,
    hasPrev: page > 1,
    prevKnown: page === 1 || earlier !== null,
    forward: (next: string) => go(next, page + 1, [...(earlier ?? []), after]),
    back: () => (earlier ? go(earlier[earlier.length - 1], page - 1, earlier.slice(0, -1)) : go("", 1, [])),
  };
}

// Totals are a list's count from the API (?total=1), not its loaded rows.
export interface Totals {
  total?: number;
  total_capped?: boolean;
}

const count = new Intl.NumberFormat("en-US");

// pageLine says where the user is: "Page 2 of 14 · 273 contacts", or
// "Page 2 · more than 10,000 contacts" when the API stopped counting.
export function pageLine(page: number, t: Totals | undefined, perPage: number, noun: string): string {
  if (t?.total === undefined) return `Page ${page}`;
  if (t.total_capped) return `Page ${page} · more than ${count.format(t.total)} ${noun}`;
  const pages = Math.max(1, Math.ceil(t.total / perPage));
  return `Page ${page} of ${count.format(pages)} · ${count.format(t.total)} ${t.total === 1 ? noun.replace(/s$/, "") : noun}`;
}

export function Pager({
  cursor,
  next,
  label,
  totals,
  perPage = 25,
  noun = "records",
}: {
  cursor: Cursor;
  next: string;
  label: string;
  totals?: Totals;
  perPage?: number;
  /** What the list holds, plural: "contacts". */
  noun?: string;
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" onClick={cursor.back} disabled={!cursor.hasPrev}>
        {cursor.prevKnown === false ? "← First page" : "← Previous"}
      </button>
      <span aria-live="polite">{pageLine(cursor.page, totals, perPage, noun)}</span>
      <button type="button" onClick={() => cursor.forward(next)} disabled={!next}>
        Next →
      </button>
    </nav>
  );
}
