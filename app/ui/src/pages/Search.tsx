import { type ReactNode } from "react";
import { api, fullName, formatMoney, stageLabel, type Page } from "../api";
import { TextField } from "../components/Field";
import { LoadState } from "../components/LoadState";
import { Link, useSearchParam } from "../router";
import { useAsync, useDebounced, type Async } from "../useAsync";

const LIMIT = 5;

// Search looks for a word in accounts, contacts, deals and leads at once:
// four list requests with ?q= (the API's own search index), the first few
// of each kind, each kind linking to its full list when there are more.
export function Search() {
  const [q, setQ] = useSearchParam("q");
  const query = useDebounced(q.trim(), 250);
  const run = <T,>(list: (x: { q: string; limit: number }) => Promise<Page<T>>) => () =>
    query ? list({ q: query, limit: LIMIT }) : Promise.resolve({ items: [] as T[], next: "" });
  const accounts = useAsync(run(api.accounts.list), [query]);
  const contacts = useAsync(run(api.contacts.list), [query]);
  const deals = useAsync(run(api.opportunities.list), [query]);
  const leads = useAsync(run(api.leads.list), [query]);
  const more = (href: string) => `${href}?q=${encodeURIComponent(query)}`;
  return (
    <section>
      <h1>Search</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Search everything" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="A name, company, e-mail…" autoFocus />
      </form>
      {!query ? (
        <p className="muted">Type a word to look for it in accounts, contacts, deals and leads.</p>
      ) : (
        <div className="detail-grid">
          <Group title="Accounts" state={accounts} more={more("/accounts")}>
            {(a) => <Link href={`/accounts/${a.id}`}>{a.name}</Link>}
          </Group>
          <Group title="Contacts" state={contacts} more={more("/contacts")}>
            {(c) => (
              <>
                <Link href={`/contacts/${c.id}`}>{fullName(c) || "(no name)"}</Link>
                {c.account_name && <span className="muted"> · {c.account_name}</span>}
              </>
            )}
          </Group>
          <Group title="Deals" state={deals} more="/pipeline">
            {(o) => (
              <>
                <Link href={`/deals/${o.id}`}>{o.name}</Link> <span className="muted">{stageLabel(o.stage)} · {formatMoney(o.amount)}</span>
              </>
            )}
          </Group>
          <Group title="Leads" state={leads} more={more("/leads")}>
            {(l) => (
              <>
                <Link href={`/leads/${l.id}`}>{fullName(l) || "(no name)"}</Link>
                {l.company && <span className="muted"> · {l.company}</span>}
              </>
            )}
          </Group>
        </div>
      )}
    </section>
  );
}

function Group<T extends { id: number }>({ title, state, more, children }: { title: string; state: Async<Page<T>>; more: string; children: (x: T) => ReactNode }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      <LoadState state={state} what={title.toLowerCase()} isEmpty={(p) => p.items.length === 0} empty={`No ${title.toLowerCase()} match.`}>
        {(p) => (
          <>
            <ul className="plain cards">
              {p.items.map((x) => (
                <li key={x.id}>{children(x)}</li>
              ))}
            </ul>
            {p.next && <Link href={more}>More {title.toLowerCase()}…</Link>}
          </>
        )}
      </LoadState>
    </section>
  );
}
