import { useCallback, useState } from "react";

// Keyset paging only goes forward on the server; "Previous" replays the
// cursor that opened the page before. The stack belongs to a key (the
// search, filters and sort): a new key starts from the first page in the
// same render, so no request ever pairs a cursor with the wrong sort.
export interface Cursor {
  after: string;
  page: number;
  hasPrev: boolean;
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
export function Pager({ cursor, next, label }: { cursor: Cursor; next: string; label: string }) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" onClick={cursor.back} disabled={!cursor.hasPrev}>
        ← Previous
      </button>
      <span aria-live="polite">Page {cursor.page}</span>
      <button type="button" onClick={() => cursor.forward(next)} disabled={!next}>
        Next →
      </button>
    </nav>
  );
}
