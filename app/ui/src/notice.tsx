import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { api, request, restoreBody, type RecordKind } from "./api";

// A notice is the one-line message after an action ("Contact Ada Lovelace
// deleted.") with an optional Undo. It lives in the shell, above the pages,
// so it survives the navigation that often follows a delete.
export interface Notice {
  message: string;
  undo?: () => Promise<void>;
}

type Show = (n: Notice) => void;

const NoticeContext = createContext<Show>(() => {});

export function useNotice(): Show {
  return useContext(NoticeContext);
}

// How long a notice with Undo stays; a keyboard user who tabs into it keeps
// it until they leave it.
export const NOTICE_MS = 10_000;

export function NoticeProvider({ children }: { children: ReactNode }) {
  const [notice, setNotice] = useState<(Notice & { key: number }) | null>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [held, setHeld] = useState(false);
  const seq = useRef(0);

  const show = useCallback<Show>((n) => {
    seq.current += 1;
    setNotice({ ...n, key: seq.current });
    setFailure(null);
    setBusy(false);
  }, []);

  useEffect(() => {
    if (!notice || held || busy) return;
    const t = setTimeout(() => setNotice(null), NOTICE_MS);
    return () => clearTimeout(t);
  }, [notice, held, busy]);

  const undo = async () => {
    if (!notice?.undo) return;
    setBusy(true);
    setFailure(null);
    try {
      await notice.undo();
      show({ message: "Restored." });
    } catch (e) {
      setFailure("Could not undo: " + (e instanceof Error ? e.message : String(e)));
      setBusy(false);
    }
  };

  return (
    <NoticeContext.Provider value={show}>
      {children}
      <div className="notice-region" role="status" aria-live="polite" onFocus={() => setHeld(true)} onBlur={() => setHeld(false)}>
        {notice && (
          <div className="notice" key={notice.key}>
            <span>{notice.message}</span>
            {failure && <span className="error">{failure}</span>}
            {notice.undo && (
              <button type="button" onClick={() => void undo()} disabled={busy}>
                Undo
              </button>
            )}
            <button type="button" className="close" aria-label="Dismiss" onClick={() => setNotice(null)}>
              ×
            </button>
          </div>
        )}
      </div>
    </NoticeContext.Provider>
  );
}

// useDelete deletes a record and shows the notice that says so. With undo,
// the notice offers to re-create it from its writable fields (restoreBody):
// cheap for records nothing else hangs on. onRestored gets the new record
// (it has a new id).
export function useDelete() {
  const show = useNotice();
  return async function remove<T extends { id: number }>(
    kind: RecordKind,
    rec: T,
    label: string,
    opts: { undo?: boolean; onRestored?: (r: T) => void } = {},
  ): Promise<void> {
    await api[kind].remove(rec.id);
    show({
      message: `${label} deleted.`,
      undo: opts.undo
        ? async () => {
            const back = await request<T>("POST", "/" + kind, restoreBody(kind, rec));
            opts.onRestored?.(back);
          }
        : undefined,
    });
  };
}
