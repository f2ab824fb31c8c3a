import { useState, type ReactNode } from "react";
import { api, formatDate, fullName, type Activity, type AccountDetail } from "../api";
import { DeleteButton } from "../components/DeleteButton";
import { ErrorBanner } from "../components/Field";
import { useDelete } from "../notice";
import { Link, navigate } from "../router";
import { useAsync, type Async } from "../useAsync";
import { AccountForm } from "./Accounts";
import { ContactForm } from "./Contacts";
import { DealSummary } from "./ActivitySection";
import { ActivityForm, OpportunityForm } from "./forms";

type Panel = "edit" | "contact" | "opportunity" | "activity" | null;

export function AccountPage({ id }: { id: number }) {
  const acc = useAsync<AccountDetail>(() => api.accounts.detail(id), [id]);
  const [panel, setPanel] = useState<Panel>(null);
  const remove = useDelete();
  const a = acc.data;
  if (!a) return <LoadFailed state={acc} what="account" back="/accounts" />;

  // Every form closes its panel and reloads the account, which brings back
  // the newest 20 contacts, deals and activities from the server.
  const done = (saved?: unknown) => {
    setPanel(null);
    if (saved) acc.reload();
  };
  const toggle = (p: Panel) => setPanel((cur) => (cur === p ? null : p));

  return (
    <section>
      <p className="crumbs">
        <Link href="/accounts">Accounts</Link> /
      </p>
      <div className="title-row">
        <h1>{a.name}</h1>
        <button type="button" onClick={() => toggle("edit")} aria-expanded={panel === "edit"}>
          Edit
        </button>
        {/* No undo: the database deletes the account's deals and activities
            with it (ON DELETE CASCADE), which a re-create cannot bring back. */}
        <DeleteButton
          what="account"
          name={a.name}
          consequence="Its deals and activities are deleted with it and cannot be restored; its contacts are kept, without an account."
          onDelete={async () => {
            await remove("accounts", a, `Account ${a.name}`);
            navigate("/accounts");
          }}
        />
      </div>
      <dl className="facts">
        {a.industry && <Fact k="Industry" v={a.industry} />}
        {(a.city || a.country) && <Fact k="Location" v={[a.city, a.country].filter(Boolean).join(", ")} />}
        {a.phone && <Fact k="Phone" v={a.phone} />}
        {a.website && <Fact k="Website" v={<a href={a.website} rel="noreferrer noopener" target="_blank">{a.website}</a>} />}
      </dl>
      {panel === "edit" && <AccountForm account={a} onDone={done} />}
      <ErrorBanner error={acc.error?.message} />

      <div className="detail-grid">
        <section aria-labelledby="contacts-h">
          <div className="title-row">
            <h2 id="contacts-h">Contacts</h2>
            <button type="button" onClick={() => toggle("contact")} aria-expanded={panel === "contact"}>
              Add contact
            </button>
          </div>
          {panel === "contact" && <ContactForm accountId={a.id} onDone={done} />}
          {(a.contacts ?? []).length === 0 ? (
            <p className="muted">No contacts yet.</p>
          ) : (
            <ul className="plain cards" aria-label="Contacts">
              {a.contacts!.map((c) => (
                <li key={c.id}>
                  <Link href={`/contacts/${c.id}`}>{fullName(c)}</Link>
                  {c.title && <span className="muted"> · {c.title}</span>}
                  {c.email && (
                    <div>
                      <a href={`mailto:${c.email}`}>{c.email}</a>
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )}
        </section>

        <section aria-labelledby="opps-h">
          <div className="title-row">
            <h2 id="opps-h">Opportunities</h2>
            <button type="button" onClick={() => toggle("opportunity")} aria-expanded={panel === "opportunity"}>
              Add opportunity
            </button>
          </div>
          {panel === "opportunity" && <OpportunityForm accountId={a.id} onDone={done} />}
          {(a.opportunities ?? []).length === 0 ? (
            <p className="muted">No opportunities yet.</p>
          ) : (
            <ul className="plain cards" aria-label="Opportunities">
              {a.opportunities!.map((o) => (
                <li key={o.id} className="row-actions">
                  <DealSummary o={o} />
                  <DeleteButton
                    small
                    what="deal"
                    name={o.name}
                    consequence="Activities logged on it stay on the account."
                    onDelete={async () => {
                      await remove("opportunities", o, `Deal ${o.name}`, { undo: true, onRestored: acc.reload });
                      acc.reload();
                    }}
                  />
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>

      <section aria-labelledby="timeline-h">
        <div className="title-row">
          <h2 id="timeline-h">Activity</h2>
          <button type="button" onClick={() => toggle("activity")} aria-expanded={panel === "activity"}>
            Log activity
          </button>
        </div>
        {panel === "activity" && <ActivityForm accountId={a.id} onDone={done} />}
        <Timeline
          items={a.activities ?? []}
          onDelete={async (t) => {
            await remove("activities", t, `Activity ${t.subject}`, { undo: true, onRestored: acc.reload });
            acc.reload();
          }}
        />
      </section>
    </section>
  );
}

export function Fact({ k, v }: { k: string; v: ReactNode }) {
  return (
    <div>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </div>
  );
}

const ICON: Record<string, string> = { call: "☎", meeting: "◷", task: "✓", note: "✎" };

// LoadFailed is a record page before its record arrived: Loading, or what
// went wrong with a Retry and a way back.
export function LoadFailed<T>({ state, what, back = "/" }: { state: Async<T>; what: string; back?: string }) {
  if (!state.error) return <p className="muted">Loading…</p>;
  return (
    <section>
      <div className="banner error" role="alert">
        The {what} could not be loaded. {state.error.message}{" "}
        <button type="button" onClick={state.reload} disabled={state.loading}>
          Retry
        </button>
      </div>
      <p>
        <Link href={back}>Back</Link>
      </p>
    </section>
  );
}

export function Timeline({ items, onDelete }: { items: Activity[]; onDelete?: (a: Activity) => Promise<void> }) {
  if (items.length === 0) return <p className="muted">No activity yet.</p>;
  const sorted = [...items].sort((x, y) => (y.created_at ?? "").localeCompare(x.created_at ?? ""));
  return (
    <ol className="timeline">
      {sorted.map((t) => (
        <li key={t.id} className={"k-" + t.kind}>
          <span className="icon" aria-hidden="true">
            {ICON[t.kind] ?? "•"}
          </span>
          <div>
            <strong>{t.subject}</strong> <span className="muted">{t.kind}</span>
            {t.kind === "task" && <span className={t.done ? "pill done" : "pill"}>{t.done ? "done" : "open"}</span>}
            <div className="muted">
              {formatDate(t.created_at)}
              {t.due_at && ` · due ${formatDate(t.due_at)}`}
            </div>
            {t.notes && <p>{t.notes}</p>}
          </div>
          {onDelete && <DeleteButton small what="activity" name={t.subject} onDelete={() => onDelete(t)} />}
        </li>
      ))}
    </ol>
  );
}
