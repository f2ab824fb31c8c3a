import { useEffect, useId, useRef, useState } from "react";

// DeleteButton asks before it deletes: the first press opens a small
// confirmation that names the record and says what else goes with it; focus
// lands on "Keep", so a stray Enter deletes nothing. Escape cancels.
export function DeleteButton({
  what,
  name,
  consequence,
  onDelete,
  small,
}: {
  /** The kind in words: "contact", "deal". */
  what: string;
  name: string;
  /** What else happens, in a sentence ("Its deals are deleted too."). */
  consequence?: string;
  /** Deletes; a thrown error is shown in the confirmation. */
  onDelete: () => Promise<void>;
  small?: boolean;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const keep = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const id = useId();

  // Cancelling puts focus back on Delete, which only exists again after
  // the render that closes the question.
  const refocus = useRef(false);
  useEffect(() => {
    if (open) keep.current?.focus();
    else if (refocus.current) {
      refocus.current = false;
      opener.current?.focus();
    }
  }, [open]);

  const close = () => {
    refocus.current = true;
    setOpen(false);
    setError(null);
  };

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onDelete();
      setOpen(false);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  if (!open) {
    return (
      <button
        ref={opener}
        type="button"
        className={"danger" + (small ? " small" : "")}
        aria-label={`Delete ${what} ${name}`}
        onClick={() => setOpen(true)}
      >
        Delete
      </button>
    );
  }
  return (
    <div
      className="confirm"
      role="alertdialog"
      aria-labelledby={id}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          close();
        }
      }}
    >
      <p id={id}>
        Delete {what} <strong>{name}</strong>? {consequence}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" className="danger solid" onClick={() => void confirm()} disabled={busy}>
          {busy ? "Deleting…" : `Delete ${what}`}
        </button>
        <button ref={keep} type="button" onClick={close} disabled={busy}>
          Keep it
        </button>
      </div>
    </div>
  );
}
