import { useState } from "react";
import { api, fullName, type Contact } from "../api";
import { DeleteButton } from "../components/DeleteButton";
import { LoadState } from "../components/LoadState";
import { useDelete } from "../notice";
import { Link, navigate } from "../router";
import { useAsync } from "../useAsync";
import { Fact, LoadFailed } from "./AccountPage";
import { ActivitySection, DealSummary } from "./ActivitySection";
import { ContactForm } from "./Contacts";


// ContactPage shows a person: their account, that account's deals and what
// happened with them (activities linked to the contact).
export function ContactPage({ id }: { id: number }) {
  const c = useAsync(() => api.contacts.get(id), [id]);
  const rec = c.data;
  if (!rec) return <LoadFailed state={c} what="contact" back="/contacts" />;
  return <ContactView key={rec.id} c={rec} reload={c.reload} />;
}

function ContactView({ c, reload }: { c: Contact; reload: () => void }) {
  const [editing, setEditing] = useState(false);
  const remove = useDelete();
  const account = useAsync(() => (c.account_id ? api.accounts.get(c.account_id) : Promise.resolve(null)), [c.account_id]);
  const deals = useAsync(
    () => (c.account_id ? api.opportunities.list({ account_id: c.account_id, sort: "-updated", limit: 10 }) : Promise.resolve({ items: [], next: "" })),
    [c.account_id],
  );
  const name = fullName(c) || "(no name)";
  const back = c.account_id ? `/accounts/${c.account_id}` : "/contacts";

  return (
    <section>
      <p className="crumbs">
        {c.account_id ? <Link href={back}>{account.data?.name ?? "Account"}</Link> : <Link href="/contacts">Contacts</Link>} /
      </p>
      <div className="title-row">
        <h1>{name}</h1>
        <button type="button" onClick={() => setEditing((e) => !e)} aria-expanded={editing}>
          Edit
        </button>
        <DeleteButton
          what="contact"
          name={name}
          consequence="Activities logged with this contact stay, no longer linked to it."
          onDelete={async () => {
            await remove("contacts", c, `Contact ${name}`, { undo: true, onRestored: (r) => navigate(`/contacts/${r.id}`) });
            navigate(back);
          }}
        />
      </div>
      <dl className="facts">
        {c.title && <Fact k="Title" v={c.title} />}
        {c.email && <Fact k="E-mail" v={<a href={`mailto:${c.email}`}>{c.email}</a>} />}
        {c.phone && <Fact k="Phone" v={c.phone} />}
        <Fact k="Account" v={c.account_id ? <Link href={back}>{account.data?.name ?? "Account"}</Link> : "None"} />
      </dl>
      {editing && (
        <ContactForm
          contact={c}
          onDone={(saved) => {
            setEditing(false);
            if (saved) reload();
          }}
        />
      )}

      <div className="detail-grid">
        <section aria-labelledby="deals-h">
          <h2 id="deals-h">Deals of the account</h2>
          {c.account_id ? (
            <LoadState state={deals} what="deals" isEmpty={(p) => p.items.length === 0} empty="No deals on this account.">
              {(p) => (
                <ul className="plain cards" aria-label="Deals">
                  {p.items.map((o) => (
                    <li key={o.id}>
                      <DealSummary o={o} />
                    </li>
                  ))}
                </ul>
              )}
            </LoadState>
          ) : (
            <p className="muted">This contact has no account; edit the contact to pick one.</p>
          )}
        </section>

        <ActivitySection accountId={c.account_id ?? undefined} contactId={c.id} />
      </div>
    </section>
  );
}
