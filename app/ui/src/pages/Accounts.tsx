import { useState } from "react";
import { api, formatDate, type Account } from "../api";
import { FormCard, SelectField, TextField } from "../components/Field";
import { LoadState } from "../components/LoadState";
import { Pager, useListCursor } from "../components/Pager";
import { collect, rules, useForm } from "../form";
import { SortHeader } from "../components/SortHeader";
import { Link, navigate, useSearchParam } from "../router";
import { useSession } from "../session";
import { useAsync, useDebounced } from "../useAsync";

const SORTS = [
  ["name", "Name A–Z"],
  ["-name", "Name Z–A"],
  ["-updated", "Recently updated"],
  ["updated", "Least recently updated"],
] as const;

// The list never loads more than one page: search, filters, sort and
// paging all happen in the database (25M records do not fit a browser).
export function Accounts() {
  const { user } = useSession();
  const [q, setQ] = useSearchParam("q");
  const [mineParam, setMine] = useSearchParam("mine");
  const mine = mineParam === "1";
  const [sort, setSort] = useSearchParam("sort", "name");
  const [adding, setAdding] = useState(false);
  const query = useDebounced(q.trim(), 250);
  const cursor = useListCursor();

  const list = useAsync(
    () => api.accounts.list({ q: query, owner_id: mine ? user.id : undefined, sort, after: cursor.after, limit: 25, total: 1 }),
    [query, mine, sort, cursor.after],
  );

  return (
    <section>
      <div className="title-row">
        <h1>Accounts</h1>
        <button type="button" className="primary" onClick={() => setAdding((a) => !a)} aria-expanded={adding}>
          New account
        </button>
      </div>
      {adding && <AccountForm onDone={() => setAdding(false)} />}
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Search accounts" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name, city, industry…" />
        <SelectField label="Sort by" value={sort} onChange={(e) => setSort(e.target.value)}>
          {SORTS.map(([v, l]) => (
            <option key={v} value={v}>
              {l}
            </option>
          ))}
        </SelectField>
        <label className="check">
          <input type="checkbox" checked={mine} onChange={(e) => setMine(e.target.checked ? "1" : "")} /> My accounts only
        </label>
      </form>
      <LoadState state={list} what="accounts" isEmpty={(p) => p.items.length === 0} empty={query || mine ? "No accounts match." : "No accounts yet."}>
        {(p) => <AccountTable items={p.items} loading={list.loading} sort={sort} onSort={setSort} />}
      </LoadState>
      <Pager cursor={cursor} next={list.data?.next ?? ""} label="Accounts pages" totals={list.data} noun="accounts" />
    </section>
  );
}

export function AccountTable({ items, loading, sort, onSort }: { items: Account[]; loading: boolean; sort: string; onSort: (s: string) => void }) {
  return (
    <div className="table-wrap" aria-busy={loading}>
      <table className="list">
        <thead>
          <tr>
            <SortHeader label="Name" by="name" sort={sort} onSort={onSort} />
            <th scope="col">Industry</th>
            <th scope="col" className="hide-s">
              City
            </th>
            <SortHeader label="Updated" by="updated" sort={sort} onSort={onSort} className="hide-s" />
          </tr>
        </thead>
        <tbody>
          {items.map((a) => (
            <tr key={a.id}>
              <td>
                <Link href={`/accounts/${a.id}`}>{a.name}</Link>
              </td>
              <td>{a.industry}</td>
              <td className="hide-s">{a.city}</td>
              <td className="hide-s">{formatDate(a.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

type AccountValues = { name: string; industry: string; website: string; phone: string; city: string; country: string };

export function validateAccount(v: AccountValues) {
  return collect([
    ["name", rules.required(v.name, "Name") ?? rules.maxLen(v.name, 200, "Name")],
    ["website", v.website && !/^https?:\/\/\S+$/.test(v.website.trim()) ? "Website must start with http:// or https://." : undefined],
  ]);
}

export function AccountForm({ account, onDone }: { account?: Account; onDone: (a?: Account) => void }) {
  const f = useForm<AccountValues>(
    {
      name: account?.name ?? "",
      industry: account?.industry ?? "",
      website: account?.website ?? "",
      phone: account?.phone ?? "",
      city: account?.city ?? "",
      country: account?.country ?? "",
    },
    validateAccount,
  );
  return (
    <FormCard
      label={account ? "Edit account" : "New account"}
      banner={f.banner}
      busy={f.busy}
      submitLabel={account ? "Save account" : "Create account"}
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) => {
          const body = { ...v, name: v.name.trim() };
          if (account) {
            onDone(await api.accounts.update(account.id, body));
          } else {
            const created = await api.accounts.create(body);
            onDone(created);
            navigate(`/accounts/${created.id}`);
          }
        })
      }
    >
      <div className="grid2">
        <TextField label="Account name" required {...f.bind("name")} />
        <TextField label="Industry" {...f.bind("industry")} />
        <TextField label="Website" type="url" {...f.bind("website")} />
        <TextField label="Phone" type="tel" {...f.bind("phone")} />
        <TextField label="City" {...f.bind("city")} />
        <TextField label="Country" {...f.bind("country")} />
      </div>
    </FormCard>
  );
}
